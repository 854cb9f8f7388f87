"""Reassign: an admin hands a pending step's seat from one approver to another, with a reason.

The new approver takes the old one's place on the current step (in a step with groups, in the
same groups), is DM'd the card, and the card and its thread say who changed what and why. The
change and every refusal are audited in the same transaction. Segregation of duties still
holds: the requester, someone already on the step, or (one person per step) someone who took
part in another step of the exception cannot be given the seat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from app.domain.approval import Actor, Requester
from app.domain.errors import NotAuthorized
from app.domain.lifecycle import State, exception_label
from app.flows import jobs
from app.flows.decide import UnknownException, excluded_on, one_person_one_step
from app.store import audit
from app.store.db import Database
from app.store.tables import DecisionRow, ExceptionRow

MIN_REASON = 3


@dataclass(frozen=True)
class ReassignCommand:
    exception_id: int
    by: Actor
    old: Actor  # the approver whose seat moves (their e-mail, when Slack gave it)
    new: Actor
    reason: str
    by_admin: bool  # whether `by` is an admin (app.routing.admins.is_admin)


@dataclass(frozen=True)
class ReassignResult:
    done: bool
    message: str


def reassign(db: Database, command: ReassignCommand, *, now: datetime) -> ReassignResult:
    with db.transaction() as session:
        row = session.exec(
            select(ExceptionRow).where(ExceptionRow.id == command.exception_id).with_for_update()
        ).first()
        if row is None or row.id is None:
            raise UnknownException(f"{exception_label(command.exception_id)} does not exist")
        detail: dict[str, Any] = {
            "step": row.current_step,
            "from": command.old.user_id,
            "to": command.new.user_id,
            "reason": command.reason,
        }
        try:
            entry = _check(session, row, command)
        except NotAuthorized as refusal:
            audit.append(
                session,
                at=now,
                actor=command.by.user_id,
                action="step.reassign_refused",
                exception_id=row.id,
                detail=detail | {"why": str(refusal)},
            )
            return ReassignResult(False, str(refusal))
        step = row.current_step
        _move_seat(row, step, entry, command.new.user_id)
        row.updated_at = now
        session.add(row)
        audit.append(
            session,
            at=now,
            actor=command.by.user_id,
            action="step.reassigned",
            exception_id=row.id,
            detail=detail | {"entry": entry},
        )
        label = exception_label(row.id)
        jobs.queue_dm_card(
            session,
            row.id,
            command.new.user_id,
            f"Reassigned to you by <@{command.by.user_id}>, in place of "
            f"<@{command.old.user_id}>: {label} — {command.reason}",
            now=now,
        )
        jobs.queue_thread_note(
            session,
            row.id,
            f"Step {step + 1} reassigned from <@{command.old.user_id}> to "
            f"<@{command.new.user_id}> by <@{command.by.user_id}>: {command.reason}",
            now=now,
        )
        jobs.queue_card_update(session, row.id, now=now)
        return ReassignResult(
            True,
            f"{label} step {step + 1}: <@{command.new.user_id}> now decides in place of "
            f"<@{command.old.user_id}>; they have been sent the card.",
        )


def _check(session: Any, row: ExceptionRow, command: ReassignCommand) -> str:
    """The approver entry that names `old` on the current step; NotAuthorized with the reason
    when the reassignment may not happen."""
    assert row.id is not None
    label = exception_label(row.id)
    if not command.by_admin:
        raise NotAuthorized(
            "Only Countersign admins (the `admins` group of the policy) may reassign a step."
        )
    if row.state != State.OPEN:
        raise NotAuthorized(f"{label} is already {row.state}; there is no step to reassign.")
    if len(command.reason.strip()) < MIN_REASON:
        raise NotAuthorized("Say why the step is reassigned (a reason of a few words).")
    step = row.current_step
    listed = row.steps[step]["approvers"]
    entry = next((e for e in listed if command.old.is_entry(e)), None)
    if entry is None:
        raise NotAuthorized(
            f"<@{command.old.user_id}> is not an approver on step {step + 1} of {label}."
        )
    decided = session.exec(
        select(DecisionRow.id).where(
            DecisionRow.exception_id == row.id,
            DecisionRow.step == step,
            DecisionRow.approver == command.old.user_id,
        )
    ).first()
    if decided is not None:
        raise NotAuthorized(f"<@{command.old.user_id}> already decided step {step + 1}.")
    if command.new.is_one_of(listed):
        raise NotAuthorized(f"<@{command.new.user_id}> is already an approver on this step.")
    requester = Requester(row.requested_by_slack, row.requested_by_email)
    if command.new.user_id == requester.slack_user_id or (
        requester.email and command.new.is_entry(requester.email)
    ):
        raise NotAuthorized(f"<@{command.new.user_id}> requested {label}; they cannot decide it.")
    if one_person_one_step(row) and any(
        person.user_id == command.new.user_id
        or (command.new.email is not None and person.is_entry(command.new.email))
        for person in excluded_on(row, step)
    ):
        raise NotAuthorized(
            f"<@{command.new.user_id}> took part in another step of {label}; this policy needs "
            "a different person for each step."
        )
    return str(entry)


def _move_seat(row: ExceptionRow, step: int, entry: str, new: str) -> None:
    """Put `new` where `entry` was: in the step's approvers and in each group listing it."""
    snapshot: dict[str, Any] = dict(row.steps[step])
    snapshot["approvers"] = [new if e == entry else e for e in snapshot["approvers"]]
    if snapshot.get("require"):
        snapshot["require"] = [
            {**r, "members": [new if m == entry else m for m in r["members"]]}
            for r in snapshot["require"]
        ]
    snapshot["reassigned"] = [*snapshot.get("reassigned", []), {"from": entry, "to": new}]
    row.steps = [*row.steps[:step], snapshot, *row.steps[step + 1 :]]
