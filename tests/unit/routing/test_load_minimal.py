"""Loading: defaults, groups, steps, catch-all and the content hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.routing import PolicyLoadError, PolicySet, load_policy_set

from .conftest import make_event, write_policy

BASIC = """\
version: 1
defaults:
  channel: C0BILLING
routes:
  - name: big
    when: {type: non_standard_discount, details.discount_pct: {gte: 20}}
    steps:
      - approvers: [group:finance_managers, U0FINMGR1, group:controller]
        quorum: majority
  - name: auto
    when: {type: non_standard_discount}
    auto_approve: true
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""


def test_groups_resolve_deduplicated_in_order(policy_from: Callable[[str], PolicySet]) -> None:
    """Group references expand to members, duplicates dropped, first appearance kept."""
    step = policy_from(BASIC).routes[0].steps[0]
    assert step.approvers == ("U0FINMGR1", "U0FINMGR2", "U0CTRL1")
    assert step.quorum == 2
    assert step.quorum_rule == "majority"


def test_defaults_fill_channel_and_on_expire(policy_from: Callable[[str], PolicySet]) -> None:
    """A route without its own channel uses defaults.channel; on_expire defaults to keep."""
    route = policy_from(BASIC).routes[2]
    assert route.channel == "C0BILLING"
    assert route.on_expire == "keep"
    assert route.calendar is None
    assert route.catch_all is True


def test_route_source_is_file_and_line(policy_from: Callable[[str], PolicySet]) -> None:
    """Each compiled route records where it is defined as file:line."""
    policy = policy_from(BASIC)
    assert policy.routes[0].source.endswith("countersign.yml:5")
    assert policy.routes[2].source.endswith("countersign.yml:13")


def test_first_match_wins(policy_from: Callable[[str], PolicySet]) -> None:
    """Routes are tried top to bottom; the first matching one decides."""
    policy = policy_from(BASIC)
    assert policy.route(make_event(details={"discount_pct": "25"})).route.name == "big"
    assert policy.route(make_event(details={"discount_pct": 7})).route.name == "auto"
    assert policy.route(make_event(type="invoice_dispute")).route.name == "catch-all"


def test_content_hash_changes_with_any_byte(tmp_path: Path) -> None:
    """The content hash is stable for the same files and changes when one byte changes."""
    first = load_policy_set(write_policy(tmp_path / "a", BASIC)).content_hash
    again = load_policy_set(write_policy(tmp_path / "b", BASIC)).content_hash
    changed = load_policy_set(write_policy(tmp_path / "c", BASIC.replace("20", "21")))
    assert first == again
    assert changed.content_hash != first


def test_load_error_lists_every_problem(tmp_path: Path) -> None:
    """A broken policy raises PolicyLoadError listing each problem on its own line."""
    broken = BASIC.replace("group:controller", "group:controlr").replace("gte: 20", "gte: 2O")
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_set(write_policy(tmp_path / "p", broken))
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert len(caught.value.problems) == 2
    assert lines[0].endswith(
        "countersign.yml:6:69: expected a number, got text '2O' "
        "(hint: write digits only, no thousands separators or currency signs)"
    )
    expected = "countersign.yml:8:56: undefined group `controlr` (hint: did you mean `controller`?)"
    assert lines[1].endswith(expected)
