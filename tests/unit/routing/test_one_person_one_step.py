"""`one_person_one_step`: default true, relaxable per route or in defaults, shown by explain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from app.cli.policies import policies_app
from app.routing import PolicySet
from app.routing.explain import render_plan
from app.routing.segregation import shared, short_steps
from tests.unit.routing.conftest import write_policy

TWO_STEPS = """\
version: 1
timezone: UTC
defaults:
  channel: C0BILLING
{defaults}
routes:
  - name: catch-all
{route}
    steps:
      - approvers: [U0FINMGR1, U0FINMGR2]
      - approvers: [U0FINMGR1, U0CFO1]
"""


def _plan(policy: PolicySet) -> str:
    event = {"type": "credit_request", "event_id": "e", "source": "s"}
    return "\n".join(render_plan(policy.route(event)))


def test_default_is_one_person_per_step_and_explain_names_shared_people(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """Without the key the route keeps one person per step; explain lists who is on both."""
    policy = policy_from(TWO_STEPS.format(defaults="", route=""))
    assert policy.routes[0].one_person_one_step is True
    plan = _plan(policy)
    assert "one person may approve only one step" in plan
    assert "U0FINMGR1 is listed on steps 1, 2: may decide only one" in plan


def test_route_can_relax_visibly(policy_from: Callable[[str], PolicySet]) -> None:
    """`one_person_one_step: false` on the route is kept and explain says RELAXED."""
    policy = policy_from(TWO_STEPS.format(defaults="", route="    one_person_one_step: false"))
    assert policy.routes[0].one_person_one_step is False
    assert "RELAXED: one person may approve several steps" in _plan(policy)


def test_defaults_relax_and_a_route_can_restore(policy_from: Callable[[str], PolicySet]) -> None:
    """`defaults` sets the rule for every route; a route's own value wins."""
    relaxed = policy_from(TWO_STEPS.format(defaults="  one_person_one_step: false", route=""))
    assert relaxed.routes[0].one_person_one_step is False
    restored = policy_from(
        TWO_STEPS.format(
            defaults="  one_person_one_step: false", route="    one_person_one_step: true"
        )
    )
    assert restored.routes[0].one_person_one_step is True


def test_short_steps_finds_a_quorum_no_choice_of_people_can_meet() -> None:
    """Matching seats to people: shared people are fine until a step must go short."""
    assert short_steps([["A", "B"], ["A", "C"]], [1, 1]) == []
    assert short_steps([["A"], ["A", "B"]], [1, 2]) == [2]
    assert short_steps([["A", "B"], ["A", "B"]], [1, 1]) == []
    assert short_steps([["A", "B"], ["A", "B"], ["A", "B"]], [1, 1, 1]) == [3]
    assert shared([["A", "B"], ["B"], ["B", "C"]]) == {"B": (1, 2, 3)}


def test_check_names_relaxed_routes(tmp_path: Path) -> None:
    """`policies check` stays OK and prints one RELAXED line per relaxed route."""
    folder = write_policy(
        tmp_path / "p", TWO_STEPS.format(defaults="", route="    one_person_one_step: false")
    )
    result = CliRunner().invoke(policies_app, ["check", str(folder)])
    assert result.exit_code == 0
    assert "route `catch-all`: RELAXED: one person may approve several steps" in result.stdout
