"""Four eyes in the flows: quorum counts people, and escalation never adds a second step's
decider. (The Slack paths are in tests/e2e/test_authorization.py.)"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from app.domain.approval import Actor, Outcome
from app.flows import jobs
from app.flows.decide import DecisionCommand, decide
from app.flows.intake import Intake
from app.flows.sweep import TimerSweep
from app.routing import load_policy_set
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow, OutboxRow
from tests.factories import T0

POLICIES = load_policy_set(Path(__file__).parent / "policies_four_eyes")
ANA = Actor("U0BILLOPS1", "ana@example.com")
FIN = Actor("U0FINMGR1", "fin.one@example.com")


class SettableClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> Any:
        return self.current


def _open(db: Database, type_: str) -> int:
    event = {
        "event_id": f"evt-{type_}",
        "source": "crm",
        "type": type_,
        "occurred_at": T0.isoformat(),
        "customer": {"id": "C-1", "name": "Acme"},
        "invoice": {"key": "INV-1", "currency": "USD", "amount": "100.00"},
    }
    (outcome,) = Intake(db, lambda: POLICIES, wake=lambda: None).receive(
        [json.dumps(event)], via="test", now=T0
    )
    assert outcome.exception_id is not None
    return outcome.exception_id


def _audit(db: Database, action: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        rows = session.exec(select(AuditEntryRow).where(AuditEntryRow.action == action)).all()
        return [row.detail for row in rows]


def _jobs(db: Database, kind: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        return [r.payload for r in session.exec(select(OutboxRow).where(OutboxRow.kind == kind))]


def test_person_listed_by_id_and_email_counts_once_and_the_stuck_step_is_announced(
    db: Database,
) -> None:
    """Ana approves as U0BILLOPS1; clicking again is "already decided", and since her e-mail
    entry is her too, the step (quorum 2) is announced as unreachable instead of waiting
    silently: audit, a thread note and the admin channel."""
    exception_id = _open(db, "credit_request")
    first = decide(db, DecisionCommand(exception_id, ANA, Outcome.APPROVE), now=T0)
    again = decide(db, DecisionCommand(exception_id, ANA, Outcome.APPROVE), now=T0)
    assert (first.recorded, first.state) == (True, "open")
    assert (again.recorded, again.message) == (False, "You already decided step 1 of BX-000001.")
    (stuck,) = _audit(db, "step.quorum_unreachable")
    assert (stuck["quorum"], stuck["approvals"], stuck["left"]) == (2, 1, [])
    notes = [j["text"] for j in _jobs(db, jobs.THREAD_NOTE)]
    assert any("needs 2 approval(s) from different people" in n for n in notes)
    assert [j["channel"] for j in _jobs(db, jobs.CHANNEL_NOTICE)] == ["C0ADMIN"]


def test_escalation_skips_the_decider_of_another_step_named_by_email(db: Database) -> None:
    """U0FINMGR1 decided step 1; step 2 escalates to fin.one@example.com (the same person) and
    U0CTRL1: only U0CTRL1 is added, and the skip is audited with the reason."""
    exception_id = _open(db, "usage_anomaly")
    assert decide(db, DecisionCommand(exception_id, FIN, Outcome.APPROVE), now=T0).recorded
    clock = SettableClock()
    clock.current = T0 + timedelta(hours=2)
    TimerSweep(db, clock, worker_id="test").sweep()
    (escalated,) = _audit(db, "timer.escalated")
    assert escalated["added"] == ["U0CTRL1"]
    assert escalated["skipped"] == [
        {
            "who": "fin.one@example.com",
            "why": "decided step 1, and one person decides only one step",
        }
    ]
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        assert row.steps[1]["approvers"] == ["U0CFO1", "U0CTRL1"]
    assert [j["user"] for j in _jobs(db, jobs.DM_CARD)] == ["U0CTRL1"]
