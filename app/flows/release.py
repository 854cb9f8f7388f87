"""Release: after final approval, post the held draft in Intacct exactly once, and only if it is
still the invoice the approvers saw (same customer, currency and total, still a draft).

Runs from the outbox after the approving transaction committed. The submit carries an
Idempotency-Key derived from the approval, so a retry after a timeout or a crash replays the
first answer instead of posting again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State, move
from app.flows import jobs
from app.flows.ports import InvoicePort, InvoiceRefused
from app.store import audit
from app.store.db import Database
from app.store.tables import ExceptionRow


class Release:
    def __init__(self, db: Database, invoices: InvoicePort) -> None:
        self._db, self._invoices = db, invoices

    def __call__(self, payload: dict[str, Any], now: datetime) -> None:
        exception_id, key = int(payload["exception_id"]), str(payload["idempotency_key"])
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, exception_id)
            if row is None or row.state != State.APPROVED:
                return  # already released, blocked or failed: nothing left to do
            invoice_key, seen = row.invoice_key, row.invoice_fingerprint
        try:
            current = self._invoices.get_invoice(invoice_key)
            problem = _changed(current, seen)
            if problem:
                self._finish(exception_id, State.RELEASE_BLOCKED, problem, now, current)
                return
            posted = self._invoices.submit_invoice(invoice_key, idempotency_key=key)
        except InvoiceRefused as refusal:
            self._finish(exception_id, State.RELEASE_FAILED, str(refusal), now, None)
            return
        self._finish(exception_id, State.RELEASED, None, now, posted, idempotency_key=key)

    def _finish(
        self,
        exception_id: int,
        target: State,
        note: str | None,
        now: datetime,
        invoice: InvoiceSnapshot | None,
        idempotency_key: str | None = None,
    ) -> None:
        with self._db.transaction() as session:
            row = session.exec(
                select(ExceptionRow).where(ExceptionRow.id == exception_id).with_for_update()
            ).one()
            if row.state != State.APPROVED:
                return
            row.state = move(State(row.state), target)
            row.state_note, row.updated_at = note, now
            session.add(row)
            action = {
                State.RELEASED: "invoice.released",
                State.RELEASE_BLOCKED: "invoice.release_blocked",
                State.RELEASE_FAILED: "invoice.release_failed",
            }[target]
            detail: dict[str, Any] = {"invoice_key": row.invoice_key, "note": note}
            if invoice is not None:
                detail |= {
                    "intacct_state": invoice.state,
                    "total": str(invoice.total),
                    "currency": invoice.currency,
                    "fingerprint": invoice.fingerprint(),
                }
            if idempotency_key:
                detail["idempotency_key"] = idempotency_key
            audit.append(
                session,
                at=now,
                actor="countersign",
                action=action,
                exception_id=exception_id,
                detail=detail,
            )
            if row.steps or row.message_ts:  # an auto-approved exception has no card
                jobs.queue_card_update(session, exception_id, now=now)
            if target is not State.RELEASED:  # in the card's thread, or the channel
                jobs.queue_thread_note(
                    session, exception_id, f"Invoice not released: {note}", now=now
                )
            if row.requested_by_slack:
                verdict = (
                    "was released in Intacct" if target is State.RELEASED else "was NOT released"
                )
                jobs.queue_notify(
                    session,
                    row.requested_by_slack,
                    f"Invoice {row.invoice_number or row.invoice_key} {verdict}."
                    + (f" {note}" if note else ""),
                    now=now,
                )


def _changed(current: InvoiceSnapshot, seen_fingerprint: str) -> str | None:
    """Why the invoice is no longer the one approved, or None when it still is."""
    if current.fingerprint() != seen_fingerprint:
        return (
            f"the invoice changed after approval (now {current.currency} {current.total} "
            f"for customer {current.customer_id}); it was not posted — re-submit the event"
        )
    if current.state not in ("draft", "posted"):
        return f"the invoice is {current.state} in Intacct, not a draft"
    return None
