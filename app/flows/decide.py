"""Decide: authorize the click, record one decision, apply quorum, queue what follows.

The exception row is locked for the whole transaction (FOR UPDATE on PostgreSQL, the write lock
on SQLite), so two approvers clicking at once, or Slack delivering one click twice, yield exactly
one decision. Refusals are committed to the audit log too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from app.domain.approval import (
    Actor,
    Outcome,
    Requester,
    StepRule,
    after_decision,
    authorize,
)
from app.domain.errors import NotAuthorized
from app.domain.lifecycle import State, exception_label, move
from app.flows import jobs
from app.flows.timing import cancel_timers, schedule_step
from app.store import audit
from app.store.db import Database
from app.store.tables import DecisionRow, ExceptionRow


@dataclass(frozen=True)
class DecisionCommand:
    exception_id: int
    actor: Actor
    outcome: Outcome
    reason: str | None = None
    via: str = "slack"


@dataclass(frozen=True)
class DecisionResult:
    """What happened, with a sentence fit to show the person who clicked."""

    recorded: bool
    state: str
    message: str
    channel: str | None = None


class UnknownException(LookupError):
    pass


def steps_of(row: ExceptionRow) -> list[StepRule]:
    return [StepRule(tuple(s["approvers"]), int(s["quorum"])) for s in row.steps]


def decide(db: Database, command: DecisionCommand, *, now: datetime) -> DecisionResult:
    with db.transaction() as session:
        row = session.exec(
            select(ExceptionRow).where(ExceptionRow.id == command.exception_id).with_for_update()
        ).first()
        if row is None or row.id is None:
            raise UnknownException(f"{exception_label(command.exception_id)} does not exist")
        label = exception_label(row.id)
        if row.state != State.OPEN:
            return DecisionResult(False, row.state, f"{label} is already {row.state}.", row.channel)
        steps = steps_of(row)
        step = row.current_step
        try:
            authorize(
                command.actor,
                steps[step],
                Requester(row.requested_by_slack, row.requested_by_email),
            )
        except NotAuthorized as refusal:
            audit.append(
                session,
                at=now,
                actor=command.actor.user_id,
                action="decision.refused",
                exception_id=row.id,
                detail={"outcome": command.outcome, "step": step, "why": str(refusal)},
            )
            return DecisionResult(False, row.state, str(refusal), row.channel)
        if _already_decided(session, row.id, step, command.actor.user_id):
            return DecisionResult(
                False, row.state, f"You already decided step {step + 1} of {label}.", row.channel
            )
        decision = DecisionRow(
            exception_id=row.id,
            step=step,
            approver=command.actor.user_id,
            outcome=command.outcome,
            reason=command.reason,
            decided_at=now,
        )
        session.add(decision)
        session.flush()
        approvals = _approvals(session, row.id, step)
        progress = after_decision(
            command.outcome, step=step, steps=steps, approvals_in_step=approvals
        )
        row.state = move(State(row.state), progress.state)
        moved_on = progress.step != row.current_step
        row.current_step, row.updated_at = progress.step, now
        if progress.final:
            cancel_timers(session, row.id)
        elif moved_on:
            schedule_step(session, row, now)
        session.add(row)
        audit.append(
            session,
            at=now,
            actor=command.actor.user_id,
            action="decision.recorded",
            exception_id=row.id,
            detail={
                "decision": decision.id,
                "outcome": command.outcome,
                "step": step,
                "reason": command.reason,
                "approvals_in_step": approvals,
                "state": row.state,
                "via": command.via,
            },
        )
        if row.state == State.APPROVED:
            jobs.queue_release(session, row.id, approval=f"decision:{decision.id}", now=now)
        jobs.queue_card_update(session, row.id, now=now)
        verb = "approved" if command.outcome is Outcome.APPROVE else "rejected"
        return DecisionResult(True, row.state, f"You {verb} {label}.", row.channel)


def _already_decided(session: Session, exception_id: int, step: int, approver: str) -> bool:
    return (
        session.exec(
            select(DecisionRow.id).where(
                DecisionRow.exception_id == exception_id,
                DecisionRow.step == step,
                DecisionRow.approver == approver,
            )
        ).first()
        is not None
    )


def _approvals(session: Session, exception_id: int, step: int) -> int:
    return session.exec(
        select(func.count(col(DecisionRow.id))).where(
            DecisionRow.exception_id == exception_id,
            DecisionRow.step == step,
            DecisionRow.outcome == Outcome.APPROVE,
        )
    ).one()
