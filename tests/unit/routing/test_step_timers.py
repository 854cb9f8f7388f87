"""A step may set its own remind_every, expire_after and on_expire over the route and defaults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from app.cli.policies import explanation_json
from app.routing import PolicySet, explain_event, render_explain

from .conftest import make_event

POLICY = """\
version: 1
defaults:
  channel: C0BILLING
  remind_every: 4h
  expire_after: 5d
  on_expire: escalate
routes:
  - name: disputes
    when: {type: invoice_dispute}
    on_expire: reject
    steps:
      - approvers: [group:billing_ops]
        remind_every: 1h
        expire_after: 3h
        on_expire: keep
      - approvers: [group:controller]
        expire_after: 2d
      - approvers: [group:cfo]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""


def test_each_step_gets_its_own_then_the_routes_then_the_defaults(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """Step values win over the route's, which win over defaults; unset ones are inherited."""
    route = policy_from(POLICY).route(make_event(type="invoice_dispute")).route
    timers = [(s.remind_every, s.expire_after, s.on_expire) for s in route.steps]
    assert timers == [
        (timedelta(hours=1), timedelta(hours=3), "keep"),
        (timedelta(hours=4), timedelta(days=2), "reject"),
        (timedelta(hours=4), timedelta(days=5), "reject"),
    ]
    assert (route.remind_every, route.expire_after, route.on_expire) == (
        timedelta(hours=4),
        timedelta(days=5),
        "reject",
    )


def test_explain_shows_a_steps_own_timers(policy_from: Callable[[str], PolicySet]) -> None:
    """`explain` prints the timers of a step that differ from its route's, and only those."""
    policy = policy_from(POLICY)
    text = render_explain(explain_event(policy, make_event(type="invoice_dispute")))
    assert (
        "  timers: wall-clock time (no calendar); remind every 4h; expire after 5d → reject" in text
    )
    assert text.count("own timers:") == 2
    assert "own timers: remind every 1h; expire after 3h → keep" in text
    assert "own timers: remind every 4h; expire after 2d → reject" in text


def test_explain_json_gives_step_timers_as_policy_text(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """`explain --format json` gives each step's timers as durations such as 1h."""
    data = explanation_json(explain_event(policy_from(POLICY), make_event(type="invoice_dispute")))
    first = data["decision"]["route"]["steps"][0]
    assert (first["remind_every"], first["expire_after"], first["on_expire"]) == (
        "1h",
        "3h",
        "keep",
    )
