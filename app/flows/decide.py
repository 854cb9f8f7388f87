"""Decide: authorize the click, record one decision, apply quorum, queue what follows.

The exception row is locked for the whole transaction (FOR UPDATE on PostgreSQL, the write lock
on SQLite), so two approvers clicking at once, or Slack delivering one click twice, yield exactly
one decision. A click names the card it was made on (exception, step, version): a click on a
step that is no longer current is refused, and the version is recorded with the decision.
Refusals are committed to the audit log too.

Quorum counts people: decisions are keyed by Slack user id, and each step keeps who decided it
(id and e-mail as Slack gave them), so an approver listed by id and by e-mail is one person.
When that (or one person per step) leaves fewer people than the approvals still needed, the
step is not left waiting silently: the audit, the card's thread and the admin channel say so,
and timers (escalation, expiry) still apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from app.domain.approval import (
    Actor,
    CardRef,
    Outcome,
    Requester,
    StepRule,
    after_decision,
    authorize,
    candidates,
    check_card,
    quorum_reachable,
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
    """One decision. `card` is what the click was made on; every Slack listener passes it
    (None only for callers that decide without a card, such as tests and admin tools)."""

    exception_id: int
    actor: Actor
    outcome: Outcome
    reason: str | None = None
    via: str = "slack"
    card: CardRef | None = None


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


def one_person_one_step(row: ExceptionRow) -> bool:
    """The policy's rule as stored on the exception when it opened (true unless relaxed)."""
    return all(bool(step.get("one_person_one_step", True)) for step in row.steps)


def deciders(row: ExceptionRow, step: int) -> list[Actor]:
    """The people who decided `step`, as Slack identified them then."""
    return [Actor(d["user"], d.get("email")) for d in row.steps[step].get("deciders", [])]


def excluded_on(row: ExceptionRow, step: int) -> list[Actor]:
    """People who can no longer approve `step`: its deciders, and with one person per step,
    the deciders of every other step."""
    if not one_person_one_step(row):
        return deciders(row, step)
    return [person for number in range(len(row.steps)) for person in deciders(row, number)]


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
        steps, step = steps_of(row), row.current_step
        mine = steps_decided_by(session, row.id, command.actor.user_id)
        if step in mine:
            return DecisionResult(
                False, row.state, f"You already decided step {step + 1} of {label}.", row.channel
            )
        try:
            if command.card is not None:
                check_card(command.card, current_step=step, version=card_version(session, row.id))
            authorize(
                command.actor,
                steps[step],
                Requester(row.requested_by_slack, row.requested_by_email),
                decided_other_steps=sorted(mine) if one_person_one_step(row) else (),
            )
        except NotAuthorized as refusal:
            detail: dict[str, Any] = {
                "outcome": command.outcome,
                "step": step,
                "why": str(refusal),
                "refusal": type(refusal).__name__,
            }
            if command.card is not None:
                detail |= {"card_step": command.card.step, "card_version": command.card.version}
            if command.actor.unconfirmed:
                detail["directory"] = command.actor.unconfirmed
            audit.append(
                session,
                at=now,
                actor=command.actor.user_id,
                action="decision.refused",
                exception_id=row.id,
                detail=detail,
            )
            if command.card is not None and command.card.step < 0:
                jobs.queue_card_update(session, row.id, now=now)  # an old card: new buttons
            return DecisionResult(False, row.state, str(refusal), row.channel)
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
        _remember_decider(row, step, command.actor)
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
                "email": command.actor.email,
            },
        )
        if not progress.final:
            _warn_if_stuck(session, row, 0 if moved_on else approvals, now)
        if row.state == State.APPROVED:
            # A re-approval (after a resubmission or an invoice change) is a new round: its
            # release gets its own Idempotency-Key even if SQLite reuses a deleted decision id.
            rounds = int(row.timing.get("round", 0))
            approval = f"decision:{decision.id}" + (f":round{rounds}" if rounds else "")
            jobs.queue_release(session, row.id, approval=approval, now=now)
        jobs.queue_card_update(session, row.id, now=now)
        verb = "approved" if command.outcome is Outcome.APPROVE else "rejected"
        return DecisionResult(True, row.state, f"You {verb} {label}.", row.channel)


def _remember_decider(row: ExceptionRow, step: int, actor: Actor) -> None:
    """Keep who decided `step`, with the e-mail Slack gave, on the exception's step snapshot."""
    entry: dict[str, Any] = dict(row.steps[step])
    entry["deciders"] = [*entry.get("deciders", []), {"user": actor.user_id, "email": actor.email}]
    row.steps = [*row.steps[:step], entry, *row.steps[step + 1 :]]


def _warn_if_stuck(session: Session, row: ExceptionRow, approvals: int, now: datetime) -> None:
    """Say so, once per step, when the current step's quorum can no longer be met."""
    assert row.id is not None
    step = row.current_step
    rule = steps_of(row)[step]
    requester = Requester(row.requested_by_slack, row.requested_by_email)
    excluded = excluded_on(row, step)
    if quorum_reachable(rule, approvals, excluded=excluded, requester=requester):
        return
    if row.steps[step].get("unreachable_noted"):
        return
    entry = dict(row.steps[step])
    entry["unreachable_noted"] = True
    row.steps = [*row.steps[:step], entry, *row.steps[step + 1 :]]
    left = candidates(rule, excluded=excluded, requester=requester)
    label = exception_label(row.id)
    text = (
        f"{label} step {step + 1} needs {rule.quorum} approval(s) from different people, has "
        f"{approvals}, and only {len(left)} listed approver(s) are left who could still give one "
        "(someone listed twice, by id and by e-mail, counts once; one person decides one step). "
        "It waits for escalation or expiry; fix the policy's approvers and re-submit if needed."
    )
    audit.append(
        session,
        at=now,
        actor="countersign",
        action="step.quorum_unreachable",
        exception_id=row.id,
        detail={"step": step, "quorum": rule.quorum, "approvals": approvals, "left": list(left)},
    )
    jobs.queue_thread_note(session, row.id, text, now=now)
    admin = row.timing.get("admin_channel")
    if admin:
        jobs.queue_channel_notice(session, str(admin), text, now=now)


def steps_decided_by(session: Session, exception_id: int, approver: str) -> set[int]:
    return set(
        session.exec(
            select(DecisionRow.step).where(
                DecisionRow.exception_id == exception_id, DecisionRow.approver == approver
            )
        ).all()
    )


def card_version(session: Session, exception_id: int) -> int:
    """The card version: decisions recorded on the exception (what build_card counts too)."""
    return session.exec(
        select(func.count(col(DecisionRow.id))).where(DecisionRow.exception_id == exception_id)
    ).one()


def _approvals(session: Session, exception_id: int, step: int) -> int:
    return session.exec(
        select(func.count(col(DecisionRow.id))).where(
            DecisionRow.exception_id == exception_id,
            DecisionRow.step == step,
            DecisionRow.outcome == Outcome.APPROVE,
        )
    ).one()
