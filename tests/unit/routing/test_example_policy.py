"""The shipped example policy in policies/ loads and routes the example events as documented."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.events import BillingEvent, ExceptionType
from app.routing import EscalationLevel, load_policy_set

ROOT = Path(__file__).resolve().parents[3]
POLICIES = ROOT / "policies"


def _view(name: str) -> dict[str, object]:
    data = json.loads((ROOT / "examples" / name).read_text(), parse_float=Decimal)
    return BillingEvent.model_validate(data).routing_view()


def test_example_policy_loads() -> None:
    """policies/ loads cleanly with admin channel, time zone and finance calendar."""
    policy = load_policy_set(POLICIES)
    assert policy.admin_channel == "C0ADMIN"
    assert policy.timezone == "America/New_York"
    assert policy.calendars["finance"].days == frozenset({0, 1, 2, 3, 4})
    assert policy.routes[-1].name == "catch-all"
    assert len(policy.content_hash) == 64


@pytest.mark.parametrize(
    ("example", "route", "channel"),
    [
        ("discount.json", "big-discount", "C0BILLING"),
        ("small-discount.json", "small-discount-auto", "C0BILLING"),
        ("dispute.json", "disputes", "C0ARDISPUTES"),
    ],
)
def test_example_events_route_as_documented(example: str, route: str, channel: str) -> None:
    """Each example event reaches the route the policy comments promise."""
    decision = load_policy_set(POLICIES).route(_view(example))
    assert decision.route.name == route
    assert decision.route.channel == channel
    assert decision.matched_routes == (route,)


def test_big_discount_is_a_two_step_chain_with_escalation() -> None:
    """big-discount asks a finance manager (escalating to controller, then CFO), then the CFO."""
    route = load_policy_set(POLICIES).route(_view("discount.json")).route
    first, second = route.steps
    assert first.approvers == ("U0FINMGR1", "U0FINMGR2")
    assert first.quorum == 1
    assert first.escalations == (
        EscalationLevel(timedelta(hours=8), ("U0CTRL1",)),
        EscalationLevel(timedelta(days=1), ("U0CFO1",)),
    )
    assert first.escalate_to == ("U0CTRL1",)
    assert first.escalate_after == timedelta(hours=8)
    assert second.approvers == ("U0CFO1",)
    assert route.calendar == "finance"
    assert route.on_expire == "escalate"


def test_small_discount_is_auto_approved_with_reason() -> None:
    """A 3% discount on a 980 invoice is auto-approved and the reason names both figures."""
    decision = load_policy_set(POLICIES).route(_view("small-discount.json"))
    assert decision.route.auto_approve is True
    assert decision.route.steps == ()
    assert decision.reason == (
        "type = non_standard_discount; details.discount_pct 3 < 5; invoice.amount 980.00 < 10000"
    )


def test_example_policy_names_every_event_type() -> None:
    """Every one of the five event types has a route of its own in the example policy."""
    text = (POLICIES / "countersign.yml").read_text()
    for event_type in ExceptionType:
        assert f"type: {event_type.value}" in text


def test_example_policy_uses_only_sandbox_people_and_channels() -> None:
    """Approvers and channels are exactly those the local Slack emulator knows."""
    policy = load_policy_set(POLICIES)
    people = {
        person
        for route in policy.routes
        for step in route.steps
        for person in (*step.approvers, *(p for level in step.escalations for p in level.to))
    }
    assert people <= {"U0BILLOPS1", "U0FINMGR1", "U0FINMGR2", "U0CTRL1", "U0CFO1"}
    assert {r.channel for r in policy.routes} <= {"C0BILLING", "C0ARDISPUTES", "C0ADMIN"}
