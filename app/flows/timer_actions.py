"""What a due timer does to its (locked, still open) exception: remind, escalate, expire.

Each action writes its audit entry and queues its Slack messages in the caller's transaction;
the outbox sends them after the sweep commits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.domain.business_time import Clockwork, humanize
from app.domain.delegation import Delegation, acting_label
from app.domain.lifecycle import State, exception_label, move
from app.flows import delegation, jobs
from app.flows.decide import deciders, one_person_one_step
from app.flows.timing import ESCALATE, REMIND, cancel_timers, schedule_after, step_timer
from app.store import audit
from app.store.tables import ExceptionRow

DAY, HOUR = 86_400, 3_600


def delay_text(seconds: float, business: bool) -> str:
    """How a policy delay reads to people: "8 business hours", "2 business days", "90 min"."""
    if not business:
        return humanize(timedelta(seconds=seconds))
    for unit, size in (("day", DAY), ("hour", HOUR)):
        if seconds % size == 0:
            count = int(seconds // size)
            return f"{count} business {unit}{'s' if count != 1 else ''}"
    return f"{humanize(timedelta(seconds=seconds))} of business time"


def waited(row: ExceptionRow, clock: Clockwork, now: datetime) -> str:
    """How long the current step has waited, counted on its calendar."""
    opened = datetime.fromisoformat(row.timing.get("step_opened_at") or row.created_at.isoformat())
    business = " business time" if row.timing.get("calendar") else ""
    return f"{humanize(clock.between(opened, now))}{business}"


def _mention(person: str) -> str:
    return f"<@{person}>" if "@" not in person else person


def remind(
    session: Session, row: ExceptionRow, clock: Clockwork, acted: set[str], now: datetime
) -> None:
    """DM every approver of the step who has not acted, then schedule the next reminder."""
    assert row.id is not None
    pending = [p for p in row.steps[row.current_step]["approvers"] if p not in acted]
    how_long = waited(row, clock, now)
    for person in pending:
        jobs.queue_dm_card(
            session,
            row.id,
            person,
            f"Reminder: {exception_label(row.id)} has waited {how_long} for your decision.",
            now=now,
        )
    label = exception_label(row.id)
    delegates = _tell_delegates(
        session,
        row.id,
        pending,
        lambda d: (
            f"Reminder: {label} has waited {how_long} for a decision "
            f"by {d.delegator}; you decide for them until {d.until}."
        ),
        now,
    )
    audit.append(
        session,
        at=now,
        actor="countersign",
        action="timer.reminded",
        exception_id=row.id,
        detail={
            "step": row.current_step,
            "approvers": pending,
            "waited": how_long,
            **({"delegates": delegates} if delegates else {}),
        },
    )
    schedule_after(session, row, clock, REMIND, step_timer(row, "remind_every_s"), now)


def escalate(
    session: Session,
    row: ExceptionRow,
    clock: Clockwork,
    level: int,
    now: datetime,
    why: str | None = None,
) -> bool:
    """Apply escalation `level` of the current step; False if it was already applied."""
    assert row.id is not None
    step: dict[str, Any] = dict(row.steps[row.current_step])
    levels = step.get("escalations") or []
    if level < step.get("escalated_levels", 0) or level >= len(levels):
        return False
    business = bool(row.timing.get("calendar"))
    since = " since the last escalation" if level else ""
    why = why or f"no decision in {delay_text(levels[level]['after_s'], business)}{since}"
    added, skipped = _newcomers(row, levels[level]["to"])
    step["approvers"] = [*step["approvers"], *added]
    step["escalated_levels"] = level + 1
    row.steps = [*row.steps[: row.current_step], step, *row.steps[row.current_step + 1 :]]
    row.updated_at = now
    session.add(row)
    audit.append(
        session,
        at=now,
        actor="countersign",
        action="timer.escalated",
        exception_id=row.id,
        detail={
            "step": row.current_step,
            "level": level + 1,
            "added": added,
            "skipped": skipped,
            "why": why,
        },
    )
    label = exception_label(row.id)
    for person in added:
        jobs.queue_dm_card(session, row.id, person, f"Escalated to you: {label} — {why}.", now=now)
    _tell_delegates(
        session,
        row.id,
        added,
        lambda d: (
            f"Escalated to {d.delegator}, for whom you decide until {d.until}: {label} — {why}."
        ),
        now,
    )
    who = ", ".join(_mention(p) for p in added) or "nobody new"
    passed_over = "".join(f" {_mention(s['who'])} was not asked: {s['why']}." for s in skipped)
    jobs.queue_thread_note(
        session,
        row.id,
        f"Escalation level {level + 1}: {who} asked too — {why}.{passed_over}",
        now=now,
    )
    jobs.queue_card_update(session, row.id, now=now)
    if level + 1 < len(levels):
        after_s = levels[level + 1]["after_s"]
        schedule_after(session, row, clock, ESCALATE, after_s, now, level=level + 1)
    return True


def _tell_delegates(
    session: Session,
    exception_id: int,
    people: list[str],
    intro: Callable[[Delegation], str],
    now: datetime,
) -> list[str]:
    """DM the card to the active delegate of each of `people`; "U0BEN for U0ANA" for each."""
    told: list[str] = []
    for held in delegation.stand_ins(session, people, now):
        if held.delegate in people:
            continue  # already told as an approver in their own right
        jobs.queue_dm_card(session, exception_id, held.delegate, intro(held), now=now)
        told.append(acting_label(held.delegate, held.delegator))
    return told


def _newcomers(row: ExceptionRow, wanted: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Who an escalation adds to the current step, and who it skips and why: with one person
    per step, nobody listed on or having decided another step of this exception is added."""
    current = row.current_step
    listed = row.steps[current]["approvers"]
    added: list[str] = []
    skipped: list[dict[str, str]] = []
    for entry in dict.fromkeys(wanted):
        if entry in listed:
            continue
        if one_person_one_step(row):
            others = [n for n in range(len(row.steps)) if n != current]
            decided = [n + 1 for n in others if any(p.is_entry(entry) for p in deciders(row, n))]
            on = [n + 1 for n in others if entry in row.steps[n]["approvers"]]
            if decided or on:
                what = "decided" if decided else "is an approver on"
                steps = " and ".join(f"step {n}" for n in (decided or on))
                why = f"{what} {steps}, and one person decides only one step"
                skipped.append({"who": entry, "why": why})
                continue
        added.append(entry)
    return added, skipped


def expire(
    session: Session, row: ExceptionRow, clock: Clockwork, acted: set[str], now: datetime
) -> None:
    """Apply the step's `on_expire`: reject, escalate to the next level, or keep waiting."""
    assert row.id is not None
    rule = step_timer(row, "on_expire") or "keep"
    why = f"expired: no decision in {waited(row, clock, now)}"
    audit.append(
        session,
        at=now,
        actor="countersign",
        action="timer.expired",
        exception_id=row.id,
        detail={"step": row.current_step, "on_expire": rule},
    )
    if rule == "reject":
        row.state = move(State(row.state), State.REJECTED)
        row.state_note, row.updated_at = why.capitalize(), now
        session.add(row)
        cancel_timers(session, row.id)
        jobs.queue_card_update(session, row.id, now=now)
        jobs.queue_thread_note(session, row.id, f"Rejected by policy: {why}.", now=now)
        if row.requested_by_slack:
            jobs.queue_notify(
                session,
                row.requested_by_slack,
                f"{exception_label(row.id)} was rejected: {why}.",
                now=now,
            )
        return
    next_level = row.steps[row.current_step].get("escalated_levels", 0)
    if rule == "escalate" and escalate(session, row, clock, next_level, now, why=why):
        return
    jobs.queue_thread_note(session, row.id, f"Still waiting: {why}.", now=now)
    admin = row.timing.get("admin_channel")
    if rule == "escalate" and admin:
        jobs.queue_channel_notice(
            session,
            admin,
            f"{exception_label(row.id)} has nobody left to escalate to and is still waiting: "
            f"{why}. See it with `/billing-exceptions show {exception_label(row.id)}`.",
            now=now,
        )
