"""Delegation in the flows: the end date's boundary in the policy's time zone, and reminders
reaching the delegate. (The Slack paths are in tests/e2e/test_delegation.py.)"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from app.domain.approval import Actor, Outcome
from app.domain.delegation import DelegationRefused
from app.flows import delegation, jobs
from app.flows.decide import DecisionCommand, decide
from app.flows.intake import Intake
from app.flows.sweep import TimerSweep
from app.routing import load_policy_set
from app.store.db import Database
from app.store.tables import DecisionRow, OutboxRow

POLICIES = load_policy_set(Path(__file__).parent / "policies_delegation")
NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York, a Monday
CFO = Actor("U0CFO1", "cfo@example.com")


class SettableClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> Any:
        return self.current


def _open(db: Database, type_: str, now: datetime) -> int:
    event = {
        "event_id": f"evt-{type_}-{now.timestamp()}",
        "source": "crm",
        "type": type_,
        "occurred_at": now.isoformat(),
        "customer": {"id": "C-1", "name": "Acme"},
        "invoice": {"key": f"INV-{now.timestamp()}", "currency": "USD", "amount": "100.00"},
    }
    (outcome,) = Intake(db, lambda: POLICIES, wake=lambda: None).receive(
        [json.dumps(event)], via="test", now=now
    )
    assert outcome.exception_id is not None
    return outcome.exception_id


def _delegate(db: Database, until: date, now: datetime = T0) -> None:
    command = delegation.DelegateCommand(CFO, "U0CTRL1", until, "America/New_York", "away")
    delegation.create(db, command, now=now)


def test_a_delegation_holds_through_its_last_day_in_the_policy_time_zone(db: Database) -> None:
    """ "until 2026-12-08" lets the delegate decide at 23:59 New York time that day and not at
    midnight after it (05:00 UTC)."""
    _delegate(db, date(2026, 12, 8))
    late = datetime(2026, 12, 8, 23, 59, tzinfo=NY).astimezone(UTC)
    first = _open(db, "invoice_dispute", T0)
    result = decide(db, DecisionCommand(first, Actor("U0CTRL1"), Outcome.APPROVE), now=late)
    assert result.recorded, result.message
    assert result.message.endswith("for U0CFO1.")
    second = _open(db, "invoice_dispute", T0 + timedelta(seconds=1))
    midnight = datetime(2026, 12, 9, 0, 0, tzinfo=NY).astimezone(UTC)
    refused = decide(db, DecisionCommand(second, Actor("U0CTRL1"), Outcome.APPROVE), now=midnight)
    assert not refused.recorded
    assert "not an approver" in refused.message


def test_a_delegation_cannot_end_in_the_past_or_be_to_oneself(db: Database) -> None:
    """Yesterday (in New York) and oneself are refused with a reason; nothing is stored."""
    with pytest.raises(DelegationRefused, match="in the past"):
        _delegate(db, date(2026, 12, 6))
    command = delegation.DelegateCommand(CFO, "U0CFO1", date(2026, 12, 9), "UTC")
    with pytest.raises(DelegationRefused, match="yourself"):
        delegation.create(db, command, now=T0)
    with db.transaction() as session:
        assert delegation.acting_for(session, "U0CTRL1", T0) == []


def test_reminders_go_to_the_delegate_too(db: Database) -> None:
    """A reminder DMs the pending approver and their active delegate, naming both."""
    clock = SettableClock()
    _delegate(db, date(2026, 12, 9))
    _open(db, "invoice_dispute", T0)
    clock.current = T0 + timedelta(hours=1)
    assert TimerSweep(db, clock, worker_id="w1").sweep().fired == 1
    with db.transaction() as session:
        dms = [
            r.payload for r in session.exec(select(OutboxRow).where(OutboxRow.kind == jobs.DM_CARD))
        ]
    assert [dm["user"] for dm in dms] == ["U0CFO1", "U0CTRL1"]
    assert "you decide for them until 2026-12-09" in dms[1]["intro"]


def test_escalation_dms_reach_the_delegate_who_may_then_decide(db: Database) -> None:
    """An escalation to the CFO also DMs the CFO's delegate, who then approves for the CFO:
    the decision names both."""
    clock = SettableClock()
    _delegate(db, date(2026, 12, 9))
    exception_id = _open(db, "credit_request", T0)
    clock.current = T0 + timedelta(hours=1)
    assert TimerSweep(db, clock, worker_id="w1").sweep().fired == 1
    with db.transaction() as session:
        dms = [
            r.payload for r in session.exec(select(OutboxRow).where(OutboxRow.kind == jobs.DM_CARD))
        ]
    assert [dm["user"] for dm in dms] == ["U0CFO1", "U0CTRL1"]
    assert dms[1]["intro"].startswith("Escalated to U0CFO1, for whom you decide until 2026-12-09")
    command = DecisionCommand(exception_id, Actor("U0CTRL1"), Outcome.APPROVE)
    result = decide(db, command, now=clock.current)
    assert result.state == "approved"
    with db.transaction() as session:
        (decision,) = session.exec(select(DecisionRow)).all()
    assert (decision.approver, decision.on_behalf_of) == ("U0CTRL1", "U0CFO1")
