"""The invoice changed in Intacct after approval, before Countersign posted it.

What happens is the route's `on_invoice_change`, snapshotted on the exception when it opened:
- `reapprove`: the exception re-enters approval at step 1 on the invoice as it is now (new
  snapshot and fingerprint); the earlier decisions are set aside (kept in the audit log) and the
  card shows what changed;
- `reject`: the exception is rejected, the card and the requester say what changed;
- `report`: the release is blocked and reported, as before this setting existed. Exceptions
  opened before it existed carry no setting and are reported.
"What changed" compares the approved snapshot (lines, dates, customer, total; only the claim
for exceptions approved before their invoice was read) with the invoice now."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from app.domain.invoice import InvoiceSnapshot, differences
from app.domain.lifecycle import State, exception_label, move
from app.flows import jobs
from app.flows.changes import reopen
from app.store import audit
from app.store.db import Database
from app.store.tables import ExceptionRow

REAPPROVE, REJECT, REPORT = "reapprove", "reject", "report"


def approved_snapshot(row: ExceptionRow) -> InvoiceSnapshot:
    """The invoice as approved: the stored snapshot, or the event's claim without one."""
    if row.invoice_snapshot:
        return InvoiceSnapshot.from_material(row.invoice_snapshot)
    return InvoiceSnapshot(row.invoice_key, row.customer_id, row.currency, row.amount)


def what_changed(row: ExceptionRow, current: InvoiceSnapshot) -> str:
    """One sentence: approved vs now, e.g. "total USD 1500.00 → USD 1600.00; line 2: …"."""
    found = differences(approved_snapshot(row), current)
    return "; ".join(found) if found else "its lines or dates changed"


def on_change(
    db: Database, exception_id: int, current: InvoiceSnapshot, now: datetime
) -> str | None:
    """Apply the route's rule; returns the note to block with when the rule is `report`
    (the caller blocks the release as before), None when handled here."""
    with db.transaction() as session:
        row = session.exec(
            select(ExceptionRow).where(ExceptionRow.id == exception_id).with_for_update()
        ).one()
        if row.state != State.APPROVED or row.id is None:
            return None
        rule = str(row.timing.get("on_invoice_change") or REPORT)
        changed = what_changed(row, current)
        if not row.steps:  # auto-approved: nobody to ask again; reported
            rule = REPORT
        if rule == REPORT:
            return f"the invoice changed after approval ({changed}); it was not posted"
        label = exception_label(row.id)
        detail = {
            "on_invoice_change": rule,
            "changed": changed,
            "approved_fingerprint": row.invoice_fingerprint,
            "current_fingerprint": current.fingerprint(),
            "total": str(current.total),
        }
        audit.append(
            session,
            at=now,
            actor="countersign",
            action="invoice.changed_after_approval",
            exception_id=row.id,
            detail=detail,
        )
        if rule == REJECT:
            row.state = move(State(row.state), State.REJECTED)
            row.state_note = f"The invoice changed after approval ({changed}); rejected by policy."
            row.updated_at = now
            session.add(row)
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="exception.rejected_on_change",
                exception_id=row.id,
                detail={"changed": changed},
            )
            jobs.queue_card_update(session, row.id, now=now)
            tell = f"{label} was rejected: {row.state_note}"
        else:
            reopen(
                session,
                row,
                current,
                step=0,
                actor="countersign",
                action="exception.reapproval",
                now=now,
                detail={"changed": changed},
            )
            row.state_note = f"The invoice changed after approval ({changed}); approve it again."
            session.add(row)
            tell = f"{label} needs approval again: {row.state_note}"
        jobs.queue_thread_note(session, row.id, tell, now=now)
        if row.requested_by_slack or row.requested_by_email:
            who = row.requested_by_slack or row.requested_by_email
            assert who is not None
            jobs.queue_notify(session, who, tell, now=now)
        return None
