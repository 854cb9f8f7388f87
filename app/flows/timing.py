"""When each open step's reminders, escalation and expiry fall due, on the route's calendar.

The route's timing (calendar included, and each step's own remind_every / expire_after /
on_expire) is snapshotted on the exception when it opens, so its timers keep the rules it was
routed under even if the policy changes later."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, update

from app.domain.business_time import WALL_CLOCK, BusinessCalendar, Clockwork
from app.routing import PolicySet, RouteDecision
from app.store import bulk
from app.store.tables import ExceptionRow, TimerRow

REMIND, ESCALATE, EXPIRE = "remind", "escalate", "expire"


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def timing_snapshot(policies: PolicySet, decision: RouteDecision) -> dict[str, Any]:
    """The route's timers and calendar, and each step's timers, as JSON for the exception row."""
    route = decision.route
    calendar = policies.calendars.get(route.calendar) if route.calendar else None
    return {
        "calendar": calendar.to_json() if calendar is not None else None,
        "remind_every_s": _seconds(route.remind_every),
        "expire_after_s": _seconds(route.expire_after),
        "on_expire": route.on_expire,
        "steps": [
            {
                "remind_every_s": _seconds(step.remind_every),
                "expire_after_s": _seconds(step.expire_after),
                "on_expire": step.on_expire,
            }
            for step in route.steps
        ],
        "admin_channel": policies.admin_channel,
        # what a resubmission and an invoice changed after approval do (app/flows/changes.py)
        "on_resubmit": route.on_resubmit,
        "on_invoice_change": route.on_invoice_change,
    }


def step_timer(row: ExceptionRow, key: str) -> Any:
    """`remind_every_s`, `expire_after_s` or `on_expire` of the exception's current step.

    Rows opened before steps had their own timers fall back to the route's."""
    return _own_timing(row.timing, row.current_step).get(key)


def _own_timing(timing: dict[str, Any], step: int) -> dict[str, Any]:
    steps = timing.get("steps") or []
    own: dict[str, Any] = steps[step] if step < len(steps) else timing
    return own


def _plans(
    steps: list[dict[str, Any]], timing: dict[str, Any], step: int
) -> list[tuple[str, float | None]]:
    """(kind, seconds from the step's opening) of each timer the step starts with."""
    levels = steps[step].get("escalations") or []
    own = _own_timing(timing, step)
    return [
        (REMIND, own.get("remind_every_s")),
        (ESCALATE, levels[0]["after_s"] if levels else None),
        (EXPIRE, own.get("expire_after_s")),
    ]


def opening_timers(
    steps: list[dict[str, Any]], timing: dict[str, Any], clock: Clockwork, now: datetime
) -> list[tuple[str, datetime]]:
    """(kind, due) of the first step's timers for an exception opening now (nothing to cancel:
    intake writes these rows in bulk with the exception)."""
    if not steps:
        return []
    return [
        (kind, clock.after(now, timedelta(seconds=seconds)))
        for kind, seconds in _plans(steps, timing, 0)
        if seconds
    ]


def timer_values(
    exception_id: int, step: int, kind: str, due: datetime, now: datetime, level: int = 0
) -> dict[str, Any]:
    """One timer row as inserted."""
    return {
        "exception_id": exception_id,
        "step": step,
        "kind": kind,
        "level": level,
        "due_at": due,
        "created_at": now,
    }


def clockwork(timing: dict[str, Any]) -> Clockwork:
    """The calendar an exception's timers count on (wall-clock time when it has none)."""
    calendar = timing.get("calendar")
    return BusinessCalendar.from_json(calendar) if calendar else WALL_CLOCK


def cancel_timers(session: Session, exception_id: int) -> None:
    """Retire every pending timer of an exception (decided, or moved to another step)."""
    bulk.flush(session)
    session.execute(
        update(TimerRow)
        .where(col(TimerRow.exception_id) == exception_id, col(TimerRow.state) == "pending")
        .values(state="cancelled")
    )


def schedule_step(session: Session, row: ExceptionRow, now: datetime) -> None:
    """The current step just opened: replace the exception's timers with this step's."""
    assert row.id is not None
    cancel_timers(session, row.id)
    row.timing = {**row.timing, "step_opened_at": now.isoformat()}
    if not row.steps:
        return
    clock = clockwork(row.timing)
    plans = _plans(row.steps, row.timing, row.current_step)
    for kind, seconds in plans:
        schedule_after(session, row, clock, kind, seconds, now)


def schedule_after(
    session: Session,
    row: ExceptionRow,
    clock: Clockwork,
    kind: str,
    seconds: float | None,
    now: datetime,
    level: int = 0,
) -> None:
    """Add a `kind` timer for the current step, `seconds` of the calendar's time from now."""
    assert row.id is not None
    if seconds:
        due = clock.after(now, timedelta(seconds=seconds))
        add_timer(session, row.id, row.current_step, kind, due, now, level=level)


def add_timer(
    session: Session,
    exception_id: int,
    step: int,
    kind: str,
    due: datetime,
    now: datetime,
    level: int = 0,
) -> None:
    values = timer_values(exception_id, step, kind, due, now, level)
    bulk.insert_row(session, TimerRow.__table__, values)  # type: ignore[attr-defined]
