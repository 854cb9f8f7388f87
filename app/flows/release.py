"""Release: after final approval, post the held draft in Intacct exactly once, and only if it is
still the invoice the approvers saw (its fingerprint still matches, and it is still a draft).
A draft whose fingerprint no longer matches follows the route's `on_invoice_change`
(app/flows/invoice_change.py): approval again, rejection, or a blocked release.

Runs from the outbox after the approving transaction committed. Before the submit goes out, an
`invoice.submit_sent` audit entry is committed. When the submit's answer is lost (timeout,
connection cut, 5xx) or it is refused, the invoice is re-read: posted and still the approved
fingerprint means our submit took effect (released, `confirmed_after_lost_response`), never a
second submit; still a draft means it did not, and the job is retried with the same
Idempotency-Key. A retried job that finds the invoice posted after our own submit_sent confirms
the same way. Intacct does not declare an Idempotency-Key replay, so nothing relies on one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State, move
from app.flows import invoice_change, jobs, metrics
from app.flows.ports import (
    InvoicePort,
    InvoiceRefused,
    NeedsAttention,
    OutcomeUnknown,
    RetryLater,
)
from app.store import audit
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow

SUBMIT_SENT = "invoice.submit_sent"
CONFIRMED = {"confirmed_after_lost_response": True}


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
            if current.state == "posted" and self._submit_was_sent(exception_id, key):
                # An earlier attempt's submit took effect but its answer never reached us.
                self._settle(exception_id, current, seen, key, now, None)
                return
            problem = _changed(current, seen)
            if problem and current.state == "draft" and not current.matches(seen):
                problem = invoice_change.on_change(self._db, exception_id, current, now)
            if problem:
                self._finish(exception_id, State.RELEASE_BLOCKED, problem, now, current)
                return
            if _changed(current, seen):
                return  # re-entered approval, or rejected, as the route says
            self._mark_submit_sent(exception_id, invoice_key, key, now)
            try:
                posted = self._invoices.submit_invoice(invoice_key, idempotency_key=key)
            except (OutcomeUnknown, InvoiceRefused) as failure:
                self._settle(
                    exception_id, self._reread(invoice_key, failure), seen, key, now, failure
                )
                return
        except InvoiceRefused as refusal:
            self._finish(exception_id, State.RELEASE_FAILED, str(refusal), now, None)
            return
        self._finish(exception_id, State.RELEASED, None, now, posted, key)

    def _reread(self, invoice_key: str, failure: Exception) -> InvoiceSnapshot:
        """The invoice after a submit that failed or lost its answer."""
        try:
            return self._invoices.get_invoice(invoice_key)
        except NeedsAttention:
            raise
        except RetryLater as busy:  # cannot tell yet: the retried job re-reads first
            raise OutcomeUnknown(
                f"{failure}; the re-read failed: {busy}", after=busy.after
            ) from None

    def _settle(
        self,
        exception_id: int,
        current: InvoiceSnapshot,
        seen: str,
        key: str,
        now: datetime,
        failure: OutcomeUnknown | InvoiceRefused | None,
    ) -> None:
        """Decide from the invoice as it is after our submit was sent; never submit again."""
        if _posted_as_approved(current, seen):
            self._finish(exception_id, State.RELEASED, None, now, current, key, CONFIRMED)
        elif current.state == "posted":
            note = (
                f"the invoice is posted in Intacct but is no longer the one approved (now "
                f"{current.currency} {current.total} for customer {current.customer_id}); "
                "check it in Intacct"
            )
            self._finish(exception_id, State.RELEASE_BLOCKED, note, now, current)
        elif isinstance(failure, InvoiceRefused):
            self._finish(exception_id, State.RELEASE_FAILED, str(failure), now, current)
        elif current.state == "draft" and failure is not None:
            raise failure  # not applied: submit again later, with the same Idempotency-Key
        else:
            problem = _changed(current, seen) or f"the invoice is {current.state} in Intacct"
            self._finish(exception_id, State.RELEASE_BLOCKED, problem, now, current)

    def _submit_was_sent(self, exception_id: int, key: str) -> bool:
        """Whether a submit with this Idempotency-Key was sent for this exception before."""
        with self._db.transaction() as session:
            details = session.exec(
                select(AuditEntryRow.detail)
                .where(AuditEntryRow.exception_id == exception_id)
                .where(AuditEntryRow.action == SUBMIT_SENT)
            ).all()
        return any(detail.get("idempotency_key") == key for detail in details)

    def _mark_submit_sent(
        self, exception_id: int, invoice_key: str, key: str, now: datetime
    ) -> None:
        """Commit, before the request leaves, that a submit with this key is about to be sent."""
        if self._submit_was_sent(exception_id, key):
            return
        with self._db.transaction() as session:
            audit.append(
                session,
                at=now,
                actor="countersign",
                action=SUBMIT_SENT,
                exception_id=exception_id,
                detail={"invoice_key": invoice_key, "idempotency_key": key},
            )

    def _finish(
        self,
        exception_id: int,
        target: State,
        note: str | None,
        now: datetime,
        invoice: InvoiceSnapshot | None,
        idempotency_key: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self._finish_in(exception_id, target, note, now, invoice, idempotency_key, extra):
            metrics.RELEASES.labels(target.value).inc()  # counted once it committed

    def _finish_in(
        self,
        exception_id: int,
        target: State,
        note: str | None,
        now: datetime,
        invoice: InvoiceSnapshot | None,
        idempotency_key: str | None,
        extra: dict[str, Any] | None,
    ) -> bool:
        with self._db.transaction() as session:
            row = session.exec(
                select(ExceptionRow).where(ExceptionRow.id == exception_id).with_for_update()
            ).one()
            if row.state != State.APPROVED:
                return False
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
            detail |= extra or {}
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
        return True


def _posted_as_approved(current: InvoiceSnapshot, seen_fingerprint: str) -> bool:
    return current.state == "posted" and current.matches(seen_fingerprint)


def _changed(current: InvoiceSnapshot, seen_fingerprint: str) -> str | None:
    """Why the invoice is no longer the one approved, or None when it still is."""
    if not current.matches(seen_fingerprint):
        return (
            f"the invoice changed after approval (now {current.currency} {current.total} "
            f"for customer {current.customer_id}); it was not posted — re-submit the event"
        )
    if current.state == "posted":
        return "the invoice was already posted in Intacct, not by Countersign"
    if current.state != "draft":
        return f"the invoice is {current.state} in Intacct, not a draft"
    return None
