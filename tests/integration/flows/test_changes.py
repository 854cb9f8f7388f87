"""Request changes, resubmit and re-approval on both databases, against the Intacct emulator
over HTTP: the row lock, the set-aside decisions and the audit entries hold on each backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import col, select

from app.domain.approval import Actor, Outcome
from app.flows.changes import ChangeRequest, Resubmission, Resume, request_changes, resubmit
from app.flows.decide import DecisionCommand, decide
from app.flows.release import Release
from app.intacct import IntacctClient
from app.intacct.port import IntacctInvoices
from app.sandbox.intacct_emulator import IntacctEmulator
from app.store.db import Database
from app.store.tables import AuditEntryRow, DecisionRow, ExceptionRow, TimerRow
from tests.factories import T0, open_exception

KEY = "INV-11"
TWO_STEPS = [
    {"approvers": ["U0FINMGR1", "U0FINMGR2"], "quorum": 1},
    {"approvers": ["U0CFO1"], "quorum": 1},
]


@pytest.fixture
def invoices(
    intacct_emulator: IntacctEmulator, make_intacct_client: Callable[..., IntacctClient]
) -> IntacctInvoices:
    intacct_emulator.add_invoice(
        KEY, number="INV-0011", customer_id="C-ACME", customer_name="Acme Corp",
        currency="USD", amount="1200.00",
    )  # fmt: skip
    return IntacctInvoices(make_intacct_client(timeout=2))


def _row(db: Database, exception_id: int) -> ExceptionRow:
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        session.expunge(row)
        return row


def _actions(db: Database, exception_id: int) -> list[str]:
    with db.transaction() as session:
        return list(
            session.exec(
                select(AuditEntryRow.action)
                .where(AuditEntryRow.exception_id == exception_id)
                .order_by(col(AuditEntryRow.seq))
            ).all()
        )


def _count(db: Database, model: Any, exception_id: int) -> int:
    with db.transaction() as session:
        return len(session.exec(select(model).where(model.exception_id == exception_id)).all())


def test_changes_resubmit_restart_and_reapproval_hold_on_each_database(
    db: Database, invoices: IntacctInvoices, intacct_emulator: IntacctEmulator
) -> None:
    """Asked at step 2 and resubmitted: step 1 again, its decision set aside; approved, then
    edited in Intacct: re-approval from step 1 on the new fingerprint; then released once."""
    exception_id = open_exception(db, steps=TWO_STEPS, requested_by_slack="U0REQUEST1")
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        row.timing = {"on_resubmit": "restart", "on_invoice_change": "reapprove"}
        session.add(row)
    approve = DecisionCommand(exception_id, Actor("U0FINMGR1"), Outcome.APPROVE)
    assert decide(db, approve, now=T0).recorded
    asked = request_changes(db, ChangeRequest(exception_id, Actor("U0CFO1"), "Fix it"), now=T0)
    assert asked.recorded
    assert _row(db, exception_id).state == "changes_requested"
    refused = resubmit(db, Resubmission(exception_id, Actor("U0CFO1")), now=T0)
    assert refused.message == f"Only the requester of BX-{exception_id:06d} can resubmit it."
    assert resubmit(db, Resubmission(exception_id, Actor("U0REQUEST1")), now=T0).recorded
    intacct_emulator.set_amount(KEY, "1100.00")
    Resume(db, invoices)({"exception_id": exception_id, "via": "slack"}, T0 + timedelta(1))
    row = _row(db, exception_id)
    assert (row.state, row.current_step, row.amount) == ("open", 0, Decimal("1100.00"))
    assert row.invoice_fingerprint.startswith("v2:")
    assert _count(db, DecisionRow, exception_id) == 0
    for user in ("U0FINMGR1", "U0CFO1"):
        assert decide(db, DecisionCommand(exception_id, Actor(user), Outcome.APPROVE), now=T0)
    assert _row(db, exception_id).state == "approved"
    intacct_emulator.set_amount(KEY, "1150.00")
    release = Release(db, invoices)
    release({"exception_id": exception_id, "idempotency_key": "k-1"}, T0)
    row = _row(db, exception_id)
    assert (row.state, row.current_step) == ("open", 0)
    assert row.state_note is not None
    assert "total USD 1100.00 → USD 1150.00" in row.state_note
    with db.transaction() as session:
        pending = session.exec(
            select(TimerRow).where(
                TimerRow.exception_id == exception_id, TimerRow.state == "pending"
            )
        ).all()
    assert pending == []  # this route has no timers
    for user in ("U0FINMGR2", "U0CFO1"):
        assert decide(db, DecisionCommand(exception_id, Actor(user), Outcome.APPROVE), now=T0)
    release({"exception_id": exception_id, "idempotency_key": "k-2"}, T0)
    assert _row(db, exception_id).state == "released"
    assert intacct_emulator.submissions(KEY) == 1
    actions = _actions(db, exception_id)
    for expected in (
        "changes.requested",
        "changes.resubmit_refused",
        "changes.resubmitted",
        "exception.resubmitted",
        "invoice.changed_after_approval",
        "exception.reapproval",
        "invoice.released",
    ):
        assert expected in actions
    assert actions.count("decision.recorded") == 5
