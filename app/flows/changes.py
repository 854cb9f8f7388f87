"""Request changes, and the corrected submission that continues the exception.

An approver of the current step asks what must change: the exception becomes
`changes_requested`, the step's timers are cancelled, the requester is DM'd the note with a
Resubmit button, and the card shows who asked what and when, without Approve or Reject.

The requester resubmits with that button once the invoice is fixed in Intacct, or the billing
system sends a new event naming the earlier one (`supersedes`, app/flows/intake.py). Either
marks the request as resubmitted and queues `intacct.resubmit` (Resume below): the invoice is
re-read, its snapshot and full fingerprint replace the old ones, and approval resumes where the
route's `on_resubmit` says: `restart` (step 1, earlier decisions set aside: they stay in the
audit log) or `continue` (the step that asked), with fresh timers. Every move is audited in the
transaction that makes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from app.domain.approval import Actor, CardRef, Requester, authorize, check_card
from app.domain.errors import NotAuthorized
from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State, exception_label, move
from app.flows import jobs
from app.flows.decide import (
    DecisionResult,
    UnknownException,
    card_version,
    one_person_one_step,
    set_aside_count,
    steps_decided_by,
    steps_of,
)
from app.flows.ports import InvoicePort, InvoiceRefused
from app.flows.snapshot import take_snapshot
from app.flows.timing import cancel_timers, schedule_step
from app.store import audit
from app.store.db import Database
from app.store.tables import DecisionRow, ExceptionRow

MIN_NOTE = 3
RESTART, CONTINUE = "restart", "continue"


@dataclass(frozen=True)
class ChangeRequest:
    exception_id: int
    actor: Actor
    note: str
    card: CardRef | None = None
    via: str = "slack"


@dataclass(frozen=True)
class Resubmission:
    exception_id: int
    actor: Actor
    via: str = "slack"


def _locked(session: Session, exception_id: int) -> ExceptionRow:
    row = session.exec(
        select(ExceptionRow).where(ExceptionRow.id == exception_id).with_for_update()
    ).first()
    if row is None or row.id is None:
        raise UnknownException(f"{exception_label(exception_id)} does not exist")
    return row


def request_changes(db: Database, command: ChangeRequest, *, now: datetime) -> DecisionResult:
    """An approver of the current step asks the requester for a correction."""
    note = command.note.strip()
    with db.transaction() as session:
        row = _locked(session, command.exception_id)
        assert row.id is not None
        label = exception_label(row.id)
        if row.state != State.OPEN:
            return DecisionResult(False, row.state, f"{label} is already {row.state}.", row.channel)
        step = row.current_step
        mine = steps_decided_by(session, row.id, command.actor.user_id)
        try:
            if len(note) < MIN_NOTE:
                raise NotAuthorized("Please say what must change, in a few words.")
            if step in mine:
                raise NotAuthorized(f"You already decided step {step + 1} of {label}.")
            if command.card is not None:
                check_card(command.card, current_step=step, version=card_version(session, row))
            authorize(
                command.actor,
                steps_of(row)[step],
                Requester(row.requested_by_slack, row.requested_by_email),
                decided_other_steps=sorted(mine) if one_person_one_step(row) else (),
            )
        except NotAuthorized as refusal:
            audit.append(
                session,
                at=now,
                actor=command.actor.user_id,
                action="changes.refused",
                exception_id=row.id,
                detail={"step": step, "why": str(refusal), "refusal": type(refusal).__name__},
            )
            return DecisionResult(False, row.state, str(refusal), row.channel)
        row.state = move(State(row.state), State.CHANGES_REQUESTED)
        row.change_request = {
            "by": command.actor.user_id,
            "email": command.actor.email,
            "note": note,
            "at": now.isoformat(),
            "step": step,
        }
        row.updated_at = now
        cancel_timers(session, row.id)  # paused: the resubmission schedules fresh ones
        session.add(row)
        audit.append(
            session,
            at=now,
            actor=command.actor.user_id,
            action="changes.requested",
            exception_id=row.id,
            detail={"step": step, "note": note, "via": command.via, "email": command.actor.email},
        )
        jobs.queue_card_update(session, row.id, now=now)
        requester = row.requested_by_slack or row.requested_by_email
        if requester:
            intro = (
                f"<@{command.actor.user_id}> asked for changes on {label} before approving: "
                f"{note}\nFix the invoice in Intacct (or send a corrected event that "
                "supersedes this one), then press Resubmit."
            )
            jobs.queue_dm_card(session, row.id, requester, intro, now=now, resubmit=True)
        else:
            jobs.queue_thread_note(
                session,
                row.id,
                f"Changes requested by <@{command.actor.user_id}>: {note}. The event names no "
                "requester: send a corrected event that supersedes this one.",
                now=now,
            )
        return DecisionResult(True, row.state, f"You asked for changes on {label}.", row.channel)


def is_requester(row: ExceptionRow, actor: Actor) -> bool:
    if row.requested_by_slack is not None:
        return row.requested_by_slack == actor.user_id
    return row.requested_by_email is not None and actor.is_entry(row.requested_by_email)


def resubmit(db: Database, command: Resubmission, *, now: datetime) -> DecisionResult:
    """The requester's Resubmit: queue the re-read of the corrected invoice."""
    with db.transaction() as session:
        row = _locked(session, command.exception_id)
        assert row.id is not None
        label = exception_label(row.id)
        why = None
        if row.state != State.CHANGES_REQUESTED:
            why = f"{label} is {row.state}: no changes are waiting for a resubmission."
        elif not is_requester(row, command.actor):
            why = f"Only the requester of {label} can resubmit it."
        elif (row.change_request or {}).get("resubmitted_at"):
            why = f"{label} was already resubmitted; the invoice is being re-read."
        if why is not None:
            audit.append(
                session,
                at=now,
                actor=command.actor.user_id,
                action="changes.resubmit_refused",
                exception_id=row.id,
                detail={"why": why, "via": command.via},
            )
            return DecisionResult(False, row.state, why, row.channel)
        mark_resubmitted(session, row, actor=command.actor.user_id, via=command.via, now=now)
        return DecisionResult(
            True, row.state, f"Resubmitted {label}; Countersign re-reads the invoice.", row.channel
        )


def mark_resubmitted(
    session: Session,
    row: ExceptionRow,
    *,
    actor: str,
    via: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record the resubmission and queue the re-read (the row is locked by the caller)."""
    assert row.id is not None
    row.change_request = {**(row.change_request or {}), "resubmitted_at": now.isoformat()}
    row.updated_at = now
    session.add(row)
    audit.append(
        session,
        at=now,
        actor=actor,
        action="changes.resubmitted",
        exception_id=row.id,
        detail={"via": via, **(detail or {})},
    )
    jobs.queue_resubmit(session, row.id, via=via, now=now)
    jobs.queue_card_update(session, row.id, now=now)


def set_aside_decisions(session: Session, row: ExceptionRow, from_step: int) -> int:
    """Forget the decisions of `from_step` onwards so those steps are asked again; each stays
    in the audit log (`decision.recorded`). Returns how many were set aside."""
    assert row.id is not None
    found = session.exec(
        select(DecisionRow.id).where(
            DecisionRow.exception_id == row.id, col(DecisionRow.step) >= from_step
        )
    ).all()
    if found:
        session.execute(delete(DecisionRow).where(col(DecisionRow.id).in_(list(found))))
        row.timing = {**row.timing, "set_aside": set_aside_count(row) + len(found)}
    row.steps = [
        step
        if number < from_step
        else {k: v for k, v in step.items() if k not in ("deciders", "unreachable_noted")}
        for number, step in enumerate(row.steps)
    ]
    return len(found)


def reopen(
    session: Session,
    row: ExceptionRow,
    invoice: InvoiceSnapshot,
    *,
    step: int,
    actor: str,
    action: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Approval resumes at `step` on `invoice` as it is now: new snapshot and fingerprint, the
    amount shown from Intacct, fresh timers, a card update (the row is locked by the caller)."""
    assert row.id is not None
    set_aside = set_aside_decisions(session, row, step)
    previous = row.invoice_fingerprint
    take_snapshot(session, row, invoice, actor=actor, now=now)
    row.state = move(State(row.state), State.OPEN)
    row.current_step = step
    row.amount, row.currency = invoice.total, invoice.currency
    row.invoice_number = invoice.number or row.invoice_number
    row.change_request = None
    row.updated_at = now
    row.timing = {**row.timing, "round": int(row.timing.get("round", 0)) + 1}
    schedule_step(session, row, now)
    session.add(row)
    audit.append(
        session,
        at=now,
        actor=actor,
        action=action,
        exception_id=row.id,
        detail={
            "step": step,
            "decisions_set_aside": set_aside,
            "previous_fingerprint": previous,
            "fingerprint": row.invoice_fingerprint,
            **(detail or {}),
        },
    )
    jobs.queue_card_update(session, row.id, now=now)


class Resume:
    """The `intacct.resubmit` outbox job: re-read the invoice, resume approval."""

    def __init__(self, db: Database, invoices: InvoicePort) -> None:
        self._db, self._invoices = db, invoices

    def __call__(self, payload: dict[str, Any], now: datetime) -> None:
        exception_id = int(payload["exception_id"])
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, exception_id)
            if row is None or row.state != State.CHANGES_REQUESTED:
                return
            key = row.invoice_key
        try:
            invoice = self._invoices.get_invoice(key)  # RetryLater: the outbox tries again
        except InvoiceRefused as refused:
            self._refused(exception_id, str(refused), now)
            return
        with self._db.transaction() as session:
            row = _locked(session, exception_id)
            if row.state != State.CHANGES_REQUESTED:
                return
            if invoice.state != "draft":
                self._refused_in(session, row, f"the invoice is {invoice.state} in Intacct", now)
                return
            asked = row.change_request or {}
            rule = str(row.timing.get("on_resubmit") or RESTART)
            step = int(asked.get("step", row.current_step)) if rule == CONTINUE else 0
            reopen(
                session,
                row,
                invoice,
                step=step,
                actor="countersign",
                action="exception.resubmitted",
                now=now,
                detail={"on_resubmit": rule, "via": payload.get("via"), "asked": asked},
            )
            assert row.id is not None
            where = "restarts at step 1" if step == 0 else f"continues at step {step + 1}"
            jobs.queue_thread_note(
                session,
                row.id,
                f"Resubmitted after the changes asked for; approval {where} "
                f"({invoice.currency} {invoice.total}).",
                now=now,
            )

    def _refused(self, exception_id: int, why: str, now: datetime) -> None:
        with self._db.transaction() as session:
            row = _locked(session, exception_id)
            if row.state == State.CHANGES_REQUESTED:
                self._refused_in(session, row, why, now)

    @staticmethod
    def _refused_in(session: Session, row: ExceptionRow, why: str, now: datetime) -> None:
        """The corrected invoice cannot be used: the request stays open, the requester is told."""
        assert row.id is not None
        row.change_request = {
            k: v for k, v in (row.change_request or {}).items() if k != "resubmitted_at"
        }
        session.add(row)
        audit.append(
            session,
            at=now,
            actor="countersign",
            action="changes.resubmit_failed",
            exception_id=row.id,
            detail={"why": why},
        )
        jobs.queue_card_update(session, row.id, now=now)
        requester = row.requested_by_slack or row.requested_by_email
        if requester:
            jobs.queue_notify(
                session,
                requester,
                f"{exception_label(row.id)} could not be resubmitted: {why}. Fix it in Intacct "
                "and press Resubmit again.",
                now=now,
            )
