"""A corrected event that names the one it replaces (`supersedes: {source, event_id}`).

It does not open a new exception: it continues the earlier event's exception, which must be
waiting for changes (`changes_requested`, not yet resubmitted). Its figures, reason and claimed
amount replace the earlier ones, the event is stored linked to that exception, and the
resubmission follows the same path as the requester's Resubmit button (app/flows/changes.py):
the invoice is re-read from Intacct and approval resumes as `on_resubmit` says. Anything else
(an unknown event, an exception in another state) refuses the event with a reason."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from app.domain.events import BillingEvent
from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State, exception_label
from app.flows.changes import mark_resubmitted
from app.store import audit
from app.store.tables import BillingEventRow, ExceptionRow


def _earlier(session: Session, event: BillingEvent) -> ExceptionRow | None:
    assert event.supersedes is not None
    exception_id = session.exec(
        select(BillingEventRow.exception_id).where(
            BillingEventRow.source == event.supersedes.source,
            BillingEventRow.event_id == event.supersedes.event_id,
        )
    ).first()
    if exception_id is None:
        return None
    return session.exec(
        select(ExceptionRow).where(col(ExceptionRow.id) == exception_id).with_for_update()
    ).first()


def refusal(session: Session, event: BillingEvent) -> str | None:
    """Why this superseding event cannot continue the earlier one (None: it can)."""
    assert event.supersedes is not None
    named = f"{event.supersedes.source}/{event.supersedes.event_id}"
    row = _earlier(session, event)
    if row is None or row.id is None:
        return f"supersedes names event {named}, which Countersign does not hold"
    label = exception_label(row.id)
    if row.state != State.CHANGES_REQUESTED:
        return (
            f"event {named} is {label}, which is {row.state}: only an exception whose changes "
            "were requested can be superseded"
        )
    if (row.change_request or {}).get("resubmitted_at"):
        return f"{label} was already resubmitted; its invoice is being re-read"
    if row.invoice_key != event.invoice.key:
        return f"{label} is about invoice {row.invoice_key}, not {event.invoice.key}"
    return None


def apply(
    session: Session, event: BillingEvent, *, actor: str, via: str, now: datetime
) -> tuple[int, str]:
    """Continue the earlier exception with this event; (exception id, state)."""
    row = _earlier(session, event)
    if row is None or row.id is None or refusal(session, event) is not None:
        raise ValueError("the superseded exception changed while the event was written")
    assert event.supersedes is not None
    claim = InvoiceSnapshot(
        key=event.invoice.key,
        customer_id=event.customer.id,
        currency=event.invoice.currency,
        total=event.invoice.amount,
    )
    row.details = event.model_dump(mode="json")["details"]
    row.reason = event.reason
    row.amount, row.currency = event.invoice.amount, event.invoice.currency
    row.invoice_number = event.invoice.number or row.invoice_number
    audit.append(
        session,
        at=now,
        actor=actor,
        action="event.superseded",
        exception_id=row.id,
        detail={
            "source": event.source,
            "event_id": event.event_id,
            "supersedes": event.supersedes.model_dump(),
            "amount": str(event.invoice.amount),
            "claim_fingerprint": claim.claim_fingerprint(),
        },
    )
    mark_resubmitted(session, row, actor=actor, via=f"event:{via}", now=now)
    return row.id, row.state
