"""Take the invoice's snapshot from Intacct for the approvers: lines, dates, customer, total.

Intake routes without the network, so it stores the *claim* fingerprint (what the event says:
key, customer, currency, total). This outbox job, queued with the card, then reads the invoice
from Intacct. When Intacct agrees with the event's claim, the exception takes the full
fingerprint (lines and dates too) and keeps the snapshot to show later; when it does not, the
claim fingerprint stays (the release will find the difference) and the card's thread says so.
An invoice Intacct does not know is noted and left to the release, which refuses it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State
from app.flows import jobs
from app.flows.ports import InvoicePort, InvoiceRefused
from app.store import audit, outbox
from app.store.db import Database
from app.store.tables import ExceptionRow


def take_snapshot(
    session: Session, row: ExceptionRow, invoice: InvoiceSnapshot, *, actor: str, now: datetime
) -> None:
    """Store `invoice` as what approvers see from now on: full fingerprint and material facts."""
    assert row.id is not None
    before = row.invoice_fingerprint
    row.invoice_fingerprint = invoice.fingerprint()
    row.invoice_snapshot = invoice.material()
    row.updated_at = now
    session.add(row)
    audit.append(
        session,
        at=now,
        actor=actor,
        action="invoice.snapshot_taken",
        exception_id=row.id,
        detail={
            "invoice_key": invoice.key,
            "fingerprint": row.invoice_fingerprint,
            "previous_fingerprint": before,
            "total": str(invoice.total),
            "currency": invoice.currency,
            "lines": len(invoice.lines),
        },
    )


class Snapshot:
    """The `intacct.snapshot` outbox job."""

    def __init__(self, db: Database, invoices: InvoicePort) -> None:
        self._db, self._invoices = db, invoices

    def __call__(self, payload: dict[str, Any], now: datetime) -> None:
        exception_id = int(payload["exception_id"])
        with self._db.reading() as session:
            row = session.get(ExceptionRow, exception_id)
            if row is None or row.state != State.OPEN or row.invoice_snapshot is not None:
                return
            key = row.invoice_key
        try:
            invoice = self._invoices.get_invoice(key)
        except InvoiceRefused as refused:
            self._note(exception_id, "invoice.snapshot_failed", str(refused), now)
            return
        with self._db.transaction() as session:
            row = session.exec(
                select(ExceptionRow).where(ExceptionRow.id == exception_id).with_for_update()
            ).one()
            if row.state != State.OPEN or row.invoice_snapshot is not None:
                return
            if not invoice.matches(row.invoice_fingerprint):
                text = (
                    f"Intacct's invoice {invoice.number or invoice.key} is not what the event "
                    f"says (Intacct: {invoice.currency} {invoice.total} for customer "
                    f"{invoice.customer_id}); check it before approving: the release compares "
                    "against what the event says."
                )
                _audit_note(session, row, "invoice.snapshot_mismatch", text, now)
                jobs.queue_thread_note(session, exception_id, text, now=now)
            else:
                take_snapshot(session, row, invoice, actor="countersign", now=now)
            outbox.finish(session)  # done in the same commit as what it found

    def _note(self, exception_id: int, action: str, why: str, now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, exception_id)
            if row is not None:
                _audit_note(session, row, action, why, now)
            outbox.finish(session)


def _audit_note(session: Session, row: ExceptionRow, action: str, why: str, now: datetime) -> None:
    audit.append(
        session,
        at=now,
        actor="countersign",
        action=action,
        exception_id=row.id,
        detail={"invoice_key": row.invoice_key, "why": why},
    )
