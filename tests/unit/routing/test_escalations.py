"""Escalation levels: `escalations` chains, the escalate_after/escalate_to shorthand, explain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from app.routing import EscalationLevel, PolicySet, StepPlan, explain_event, render_explain

from .conftest import make_event

ROUTES = """\
version: 1
defaults: {{channel: C0BILLING}}
routes:
  - name: catch-all
    steps:
      - approvers: [group:billing_ops]
{step}"""

H8, D1 = timedelta(hours=8), timedelta(days=1)
CTRL = EscalationLevel(H8, ("U0CTRL1",))


@pytest.mark.parametrize(
    ("step", "levels"),
    [
        pytest.param("", (), id="none"),
        pytest.param(
            "        escalate_after: 8h\n        escalate_to: [group:controller]\n",
            (CTRL,),
            id="shorthand",
        ),
        pytest.param(
            "        escalations: [{after: 8h, to: [group:controller]}]\n",
            (CTRL,),
            id="one-level",
        ),
        pytest.param(
            "        escalations:\n"
            "          - {after: 8h, to: [group:controller]}\n"
            "          - {after: 1d, to: [group:cfo]}\n",
            (CTRL, EscalationLevel(D1, ("U0CFO1",))),
            id="two-levels",
        ),
        pytest.param(
            "        escalations:\n"
            "          - after: 1d12h\n"
            "            to: [group:finance_managers, U0FINMGR1, group:controller]\n"
            "          - {after: 90m, to: U0CFO1}\n"
            "          - {after: 4h, to: [ana@example.com, group:cfo]}\n",
            (
                EscalationLevel(timedelta(days=1, hours=12), ("U0FINMGR1", "U0FINMGR2", "U0CTRL1")),
                EscalationLevel(timedelta(minutes=90), ("U0CFO1",)),
                EscalationLevel(timedelta(hours=4), ("ana@example.com", "U0CFO1")),
            ),
            id="groups-resolved-deduplicated-in-order",
        ),
        pytest.param(
            "        escalations:\n" + "          - {after: 1h, to: [group:cfo]}\n" * 5,
            (EscalationLevel(timedelta(hours=1), ("U0CFO1",)),) * 5,
            id="five-levels",
        ),
    ],
)
def test_levels_load(
    policy_from: Callable[[str], PolicySet], step: str, levels: tuple[EscalationLevel, ...]
) -> None:
    """Each way of writing escalation levels loads to the expected chain, in order."""
    plan = policy_from(ROUTES.format(step=step)).routes[0].steps[0]
    assert plan.escalations == levels
    first = levels[0] if levels else None
    assert plan.escalate_after == (first.after if first else None)
    assert plan.escalate_to == (first.to if first else ())


@pytest.mark.parametrize(
    ("after", "to"),
    [("8h", "[group:controller]"), ("1d12h", "[U0CTRL1, group:cfo]"), ("90s", "ana@example.com")],
)
def test_shorthand_equals_one_level_list(
    policy_from: Callable[[str], PolicySet], after: str, to: str
) -> None:
    """escalate_after + escalate_to compiles exactly like escalations: [{after, to}]."""
    shorthand = policy_from(
        ROUTES.format(step=f"        escalate_after: {after}\n        escalate_to: {to}\n")
    )
    listed = policy_from(
        ROUTES.format(step=f"        escalations: [{{after: {after}, to: {to}}}]\n")
    )
    assert shorthand.routes[0].steps == listed.routes[0].steps


def test_step_plan_first_level_must_match_shorthand_fields() -> None:
    """A StepPlan whose escalate_after/escalate_to differ from its first level is refused."""
    assert StepPlan(("U0BILLOPS1",), 1, "1", H8, ("U0CTRL1",), (CTRL,)).escalations == (CTRL,)
    with pytest.raises(ValueError, match="first level"):
        StepPlan(("U0BILLOPS1",), 1, "1", D1, ("U0CTRL1",), (CTRL,))
    with pytest.raises(ValueError, match="first level"):
        StepPlan(("U0BILLOPS1",), 1, "1", H8, ("U0CTRL1",))


def test_explain_shows_every_level(policy_from: Callable[[str], PolicySet]) -> None:
    """The explained plan lists each level in order with its delay and people."""
    policy = policy_from(
        ROUTES.format(
            step="        escalations:\n"
            "          - {after: 8h, to: [group:controller]}\n"
            "          - {after: 1d, to: [group:cfo, U0FINMGR1]}\n"
        )
    )
    text = render_explain(explain_event(policy, make_event()))
    assert (
        "  step 1: 1 of 1 must approve: U0BILLOPS1\n"
        "          escalate after 8h to U0CTRL1\n"
        "          then after 1d to U0CFO1, U0FINMGR1"
    ) in text
