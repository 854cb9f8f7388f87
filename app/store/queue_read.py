"""Read-only queries behind a person's queue (App Home, `/billing-exceptions mine`, stats).

Every query is bounded: a scan reads at most `scan` rows per round trip and a listing at most
`limit`; nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from app.store.tables import BillingEventRow, DecisionRow, ExceptionRow, TimerRow

SLA_KINDS = ("escalate", "expire")  # the timers that say by when a step should be decided


def open_rows(session: Session, *, after: int, scan: int) -> list[ExceptionRow]:
    """Open exceptions with an id above `after`, oldest first, at most `scan`."""
    return list(
        session.exec(
            select(ExceptionRow)
            .where(ExceptionRow.state == "open", col(ExceptionRow.id) > after)
            .order_by(col(ExceptionRow.id))
            .limit(scan)
        ).all()
    )


def scan_open(session: Session, scan: int = 500, most: int = 20_000) -> Iterator[ExceptionRow]:
    """Every open exception, oldest first, read `scan` rows at a time, at most `most` rows."""
    after, seen = 0, 0
    while seen < most:
        rows = open_rows(session, after=after, scan=min(scan, most - seen))
        if not rows:
            return
        yield from rows
        seen += len(rows)
        after = max(r.id or 0 for r in rows)


def sla_due(session: Session, rows: Sequence[ExceptionRow]) -> dict[int, datetime]:
    """When each exception's current step was due: its first escalation or expiry (a timer
    that fired still counts: the step is overdue since then; a cancelled one does not)."""
    ids = [r.id for r in rows if r.id is not None]
    if not ids:
        return {}
    step_of = {r.id: r.current_step for r in rows}
    found = session.exec(
        select(TimerRow.exception_id, TimerRow.step, TimerRow.due_at).where(
            col(TimerRow.exception_id).in_(ids),
            TimerRow.state != "cancelled",
            col(TimerRow.kind).in_(SLA_KINDS),
        )
    ).all()
    due: dict[int, datetime] = {}
    for exception_id, step, at in found:
        if step_of.get(exception_id) == step and (
            exception_id not in due or at < due[exception_id]
        ):
            due[exception_id] = at
    return due


def decision_counts(session: Session, ids: Iterable[int]) -> dict[int, int]:
    """How many decisions each exception has (the card version its buttons carry)."""
    wanted = list(ids)
    if not wanted:
        return {}
    found = session.exec(
        select(DecisionRow.exception_id, func.count(col(DecisionRow.id)))
        .where(col(DecisionRow.exception_id).in_(wanted))
        .group_by(col(DecisionRow.exception_id))
    ).all()
    return {int(exception_id): int(n) for exception_id, n in found}


def requested_by(
    session: Session, user_id: str, email: str | None, *, limit: int
) -> list[ExceptionRow]:
    """Exceptions this person requested (by Slack id or e-mail), newest first."""
    who = [col(ExceptionRow.requested_by_slack) == user_id]
    if email:
        who.append(func.lower(col(ExceptionRow.requested_by_email)) == email.lower())
    return list(
        session.exec(
            select(ExceptionRow).where(or_(*who)).order_by(col(ExceptionRow.id).desc()).limit(limit)
        ).all()
    )


def decided_by(
    session: Session, user_id: str, *, limit: int
) -> list[tuple[DecisionRow, ExceptionRow]]:
    """This person's latest decisions with their exceptions, newest first."""
    found = session.exec(
        select(DecisionRow, ExceptionRow)
        .join(ExceptionRow, col(ExceptionRow.id) == col(DecisionRow.exception_id))
        .where(DecisionRow.approver == user_id)
        .order_by(col(DecisionRow.decided_at).desc(), col(DecisionRow.id).desc())
        .limit(limit)
    ).all()
    return [(decision, row) for decision, row in found]


def decisions_of(session: Session, exception_id: int) -> list[DecisionRow]:
    """One exception's decisions in the order they were made."""
    return list(
        session.exec(
            select(DecisionRow)
            .where(DecisionRow.exception_id == exception_id)
            .order_by(col(DecisionRow.decided_at), col(DecisionRow.id))
        ).all()
    )


def timers_of(session: Session, exception_id: int) -> list[TimerRow]:
    """One exception's pending timers, soonest first."""
    return list(
        session.exec(
            select(TimerRow)
            .where(TimerRow.exception_id == exception_id, TimerRow.state == "pending")
            .order_by(col(TimerRow.due_at))
        ).all()
    )


def first_event(session: Session, exception_id: int) -> BillingEventRow | None:
    """The billing event the exception was opened from, as received."""
    return session.exec(
        select(BillingEventRow)
        .where(BillingEventRow.exception_id == exception_id)
        .order_by(col(BillingEventRow.id))
        .limit(1)
    ).first()


def open_by_route(session: Session) -> list[tuple[str, int]]:
    """How many exceptions are open on each route, most first."""
    found = session.exec(
        select(ExceptionRow.route_name, func.count(col(ExceptionRow.id)))
        .where(ExceptionRow.state == "open")
        .group_by(col(ExceptionRow.route_name))
    ).all()
    return sorted(((str(r), int(n)) for r, n in found), key=lambda pair: (-pair[1], pair[0]))


def decided_since(
    session: Session, since: datetime, *, limit: int
) -> list[tuple[int, datetime, datetime, datetime | None]]:
    """Exceptions whose last decision (the one that closed them) fell at or after `since`:
    (id, opened at, decided at, the SLA due of that decision's step or None), at most `limit`.
    The SLA is the step's first escalation or expiry timer, cancelled or not (a decision
    cancels the timers it beat)."""
    last = (
        select(
            DecisionRow.exception_id,
            func.max(col(DecisionRow.decided_at)).label("at"),
            func.max(col(DecisionRow.step)).label("step"),
        )
        .group_by(col(DecisionRow.exception_id))
        .subquery()
    )
    found = session.exec(
        select(ExceptionRow.id, ExceptionRow.created_at, last.c.at, last.c.step)
        .join(last, last.c.exception_id == col(ExceptionRow.id))
        .where(ExceptionRow.state != "open", last.c.at >= since)
        .order_by(last.c.at.desc())
        .limit(limit)
    ).all()
    ids = [int(r[0] or 0) for r in found]
    due: dict[tuple[int, int], datetime] = {}
    if ids:
        for exception_id, step, at in session.exec(
            select(TimerRow.exception_id, TimerRow.step, TimerRow.due_at).where(
                col(TimerRow.exception_id).in_(ids), col(TimerRow.kind).in_(SLA_KINDS)
            )
        ).all():
            key = (exception_id, step)
            due[key] = min(at, due.get(key, at))
    return [
        (int(i or 0), created, _aware(at), due.get((int(i or 0), int(step))))
        for i, created, at, step in found
    ]


def _aware(value: datetime) -> datetime:
    """An aggregate's value as aware UTC, whatever the driver gives back."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
