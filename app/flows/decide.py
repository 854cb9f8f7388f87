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
and timers (escalation, expiry) still apply.

Someone not listed on the step may decide it as the active delegate of someone who is
(app/flows/delegation.py): the decision is stored with `on_behalf_of`, fills the delegator's
seat (also for group counts), and the audit names both ("U0BEN for U0ANA"). Segregation of
duties counts both people: neither may be the requester, and with one person per step neither
may take part in a second step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from app.domain.approval import (
    Actor,
    CardRef,
    Outcome,
    Requester,
    StepRule,
    after_decision,
    authorize,
    authorize_on_behalf,
    candidates,
    check_card,
    quorum_reachable,
)
from app.domain.delegation import Delegation, acting_label
from app.domain.errors import NotAuthorized
from app.domain.lifecycle import State, exception_label, move
from app.domain.quorum import Requirement, names_of
from app.flows import delegation, jobs, metrics
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


class RefusedAsDelegate(NotAuthorized):
    """A delegate was refused on every delegator's behalf they tried (`delegators`)."""

    def __init__(self, message: str, delegators: list[str]) -> None:
        super().__init__(message)
        self.delegators = delegators


def steps_of(row: ExceptionRow) -> list[StepRule]:
    return [
        StepRule(
            tuple(s["approvers"]),
            int(s["quorum"]),
            tuple(Requirement.from_json(r) for r in s.get("require", ())),
        )
        for s in row.steps
    ]


def approved_names(row: ExceptionRow, step: int) -> list[frozenset[str]]:
    """Each approver of `step` so far, by the names that count for a group: their own, or the
    delegator's when they approved on someone's behalf (an open step has no rejection)."""
    return [
        names_of(d["for"], d.get("for_email"))
        if d.get("for")
        else names_of(d["user"], d.get("email"))
        for d in row.steps[step].get("deciders", [])
    ]


def one_person_one_step(row: ExceptionRow) -> bool:
    """The policy's rule as stored on the exception when it opened (true unless relaxed)."""
    return all(bool(step.get("one_person_one_step", True)) for step in row.steps)


def deciders(row: ExceptionRow, step: int) -> list[Actor]:
    """The people who decided `step`, as Slack identified them then: for a decision made as
    a delegate, both the delegate and the delegator (each has taken part in the step)."""
    people: list[Actor] = []
    for d in row.steps[step].get("deciders", []):
        people.append(Actor(d["user"], d.get("email")))
        if d.get("for"):
            people.append(Actor(d["for"], d.get("for_email")))
    return people


def excluded_on(row: ExceptionRow, step: int) -> list[Actor]:
    """People who can no longer approve `step`: its deciders, and with one person per step,
    the deciders of every other step."""
    if not one_person_one_step(row):
        return deciders(row, step)
    return [person for number in range(len(row.steps)) for person in deciders(row, number)]


def decide(db: Database, command: DecisionCommand, *, now: datetime) -> DecisionResult:
    """Record one click's decision (or refuse it); the metrics count it once it committed."""
    counted: list[tuple[str, str, float | None]] = []
    result = _decide(db, command, now, counted)
    for route, outcome, final_after in counted:
        metrics.decision(route, outcome, final_after)
    return result


def _decide(
    db: Database,
    command: DecisionCommand,
    now: datetime,
    counted: list[tuple[str, str, float | None]],
) -> DecisionResult:
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
            for_me = _decided_for(session, row.id, step, command.actor.user_id)
            text = (
                f"{for_me} already decided step {step + 1} of {label} for you."
                if for_me
                else f"You already decided step {step + 1} of {label}."
            )
            return DecisionResult(False, row.state, text, row.channel)
        requester = Requester(row.requested_by_slack, row.requested_by_email)
        acting: Delegation | None = None
        try:
            if command.card is not None:
                check_card(command.card, current_step=step, version=card_version(session, row))
            if command.actor.is_one_of(steps[step].approvers):
                authorize(
                    command.actor,
                    steps[step],
                    requester,
                    decided_other_steps=sorted(mine) if one_person_one_step(row) else (),
                )
            else:
                acting = _as_delegate(session, row, command.actor, mine, requester, now)
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
            refused_as = command.actor.user_id
            if isinstance(refusal, RefusedAsDelegate):
                detail["on_behalf_of"] = refusal.delegators
                refused_as = acting_label(refused_as, ", ".join(refusal.delegators))
            audit.append(
                session,
                at=now,
                actor=refused_as,
                action="decision.refused",
                exception_id=row.id,
                detail=detail,
            )
            if command.card is not None and command.card.step < 0:
                jobs.queue_card_update(session, row.id, now=now)  # an old card: new buttons
            return DecisionResult(False, row.state, str(refusal), row.channel)
        on_behalf_of = acting.delegator if acting else None
        decision = DecisionRow(
            exception_id=row.id,
            step=step,
            approver=command.actor.user_id,
            outcome=command.outcome,
            reason=command.reason,
            decided_at=now,
            on_behalf_of=on_behalf_of,
        )
        session.add(decision)
        session.flush()
        _remember_decider(row, step, command.actor, acting)
        approvals = _approvals(session, row.id, step)
        progress = after_decision(
            command.outcome,
            step=step,
            steps=steps,
            approvals_in_step=approvals,
            approved=approved_names(row, step),
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
            actor=acting_label(command.actor.user_id, on_behalf_of),
            action="decision.recorded",
            exception_id=row.id,
            detail={
                **(_delegation_detail(acting) if acting else {}),
                "decision": decision.id,
                "outcome": command.outcome,
                "step": step,
                "reason": command.reason,
                "approvals_in_step": approvals,
                "state": row.state,
                "via": command.via,
                "email": command.actor.email,
                "name": command.actor.name,
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
        final_after = (now - row.created_at).total_seconds() if progress.final else None
        counted.append((row.route_name, str(command.outcome), final_after))
        verb = "approved" if command.outcome is Outcome.APPROVE else "rejected"
        behalf = f" for {on_behalf_of}" if on_behalf_of else ""
        return DecisionResult(True, row.state, f"You {verb} {label}{behalf}.", row.channel)


def _delegation_detail(acting: Delegation) -> dict[str, Any]:
    return {
        "on_behalf_of": acting.delegator,
        "acting": acting_label(acting.delegate, acting.delegator),
        "delegated_until": acting.until.isoformat(),
    }


def _as_delegate(
    session: Session,
    row: ExceptionRow,
    actor: Actor,
    mine: set[int],
    requester: Requester,
    now: datetime,
) -> Delegation:
    """The delegation under which `actor`, not listed on the current step, may decide it;
    raises NotAuthorized (the first reason, or "not an approver") when there is none."""
    assert row.id is not None
    rule, step = steps_of(row)[row.current_step], row.current_step
    usable = [
        d
        for d in delegation.acting_for(session, actor.user_id, now)
        if Actor(d.delegator, d.delegator_email).is_one_of(rule.approvers)
    ]
    if not usable:
        authorize(actor, rule, requester)  # raises: not an approver (or identity unknown)
    first: NotAuthorized | None = None
    for held in usable:
        theirs = steps_decided_by(session, row.id, held.delegator)
        others = (mine | theirs) - {step} if one_person_one_step(row) else set()
        try:
            authorize_on_behalf(
                actor,
                Actor(held.delegator, held.delegator_email),
                rule,
                requester,
                decided_other_steps=sorted(others),
                seat_taken=step in theirs,
            )
        except NotAuthorized as refusal:
            first = first or refusal
            continue
        return held
    assert first is not None
    raise RefusedAsDelegate(str(first), [held.delegator for held in usable])


def _remember_decider(
    row: ExceptionRow, step: int, actor: Actor, acting: Delegation | None = None
) -> None:
    """Keep who decided `step`, with the e-mail Slack gave (and whom they decided for), on the
    exception's step snapshot."""
    entry: dict[str, Any] = dict(row.steps[step])
    who: dict[str, Any] = {"user": actor.user_id, "email": actor.email}
    if acting is not None:
        who |= {"for": acting.delegator, "for_email": acting.delegator_email}
    entry["deciders"] = [*entry.get("deciders", []), who]
    row.steps = [*row.steps[:step], entry, *row.steps[step + 1 :]]


def _warn_if_stuck(session: Session, row: ExceptionRow, approvals: int, now: datetime) -> None:
    """Say so, once per step, when the current step's quorum can no longer be met."""
    assert row.id is not None
    step = row.current_step
    rule = steps_of(row)[step]
    requester = Requester(row.requested_by_slack, row.requested_by_email)
    excluded = excluded_on(row, step)
    approved = approved_names(row, step) if approvals else []
    if quorum_reachable(rule, approvals, excluded=excluded, requester=requester, approved=approved):
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


def steps_decided_by(session: Session, exception_id: int, person: str) -> set[int]:
    """The steps `person` took part in: decided themselves, or had decided for them."""
    return set(
        session.exec(
            select(DecisionRow.step).where(
                DecisionRow.exception_id == exception_id,
                or_(col(DecisionRow.approver) == person, col(DecisionRow.on_behalf_of) == person),
            )
        ).all()
    )


def _decided_for(session: Session, exception_id: int, step: int, person: str) -> str | None:
    """Who decided `step` on `person`'s behalf, if someone did."""
    return session.exec(
        select(DecisionRow.approver).where(
            DecisionRow.exception_id == exception_id,
            DecisionRow.step == step,
            DecisionRow.on_behalf_of == person,
        )
    ).first()


def card_version(session: Session, row: ExceptionRow) -> int:
    """The card version (what build_card counts too): decisions recorded on the exception, plus
    those set aside when its steps were asked again, so a version never comes back: a button
    on a card shown before the steps were asked again cannot decide after."""
    count = session.exec(
        select(func.count(col(DecisionRow.id))).where(DecisionRow.exception_id == row.id)
    ).one()
    return count + set_aside_count(row)


def set_aside_count(row: ExceptionRow) -> int:
    """How many decisions of this exception were set aside (steps asked again)."""
    return int((row.timing or {}).get("set_aside", 0))


def _approvals(session: Session, exception_id: int, step: int) -> int:
    return session.exec(
        select(func.count(col(DecisionRow.id))).where(
            DecisionRow.exception_id == exception_id,
            DecisionRow.step == step,
            DecisionRow.outcome == Outcome.APPROVE,
        )
    ).one()
