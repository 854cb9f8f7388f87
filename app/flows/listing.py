"""The queue as `/billing-exceptions list` and `stats` show it: filtered listings and figures.

Every query is bounded (MOST_LISTED lines, MOST_COUNTED decided exceptions per window)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app.flows.queue import QueueLine, line_of
from app.store import queue_read
from app.store.db import Database

MOST_LISTED = 25
MOST_COUNTED = 5000


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    route: str | None = None
    customer: str | None = None  # matches the customer's name or id, case-insensitively
    overdue: bool = False


@dataclass(frozen=True)
class Listed:
    line: QueueLine
    opened_at: datetime
    sla_due: datetime | None
    overdue: bool


@dataclass(frozen=True)
class Stats:
    since: datetime
    open_by_route: tuple[tuple[str, int], ...]
    decided: int
    median: timedelta | None
    p90: timedelta | None
    within_sla: int
    with_sla: int
    oldest_open: Listed | None


def open_listing(
    db: Database, filters: Filters, now: datetime, *, limit: int = MOST_LISTED
) -> tuple[list[Listed], int]:
    """Open exceptions matching `filters`, oldest first: at most `limit`, and how many match."""
    wanted = filters.customer.casefold() if filters.customer else None
    with db.reading() as session:
        rows = [
            row
            for row in queue_read.scan_open(session)
            if (filters.type is None or row.type == filters.type)
            and (filters.route is None or row.route_name == filters.route)
            and (
                wanted is None
                or wanted in row.customer_name.casefold()
                or wanted == row.customer_id.casefold()
            )
        ]
        due = queue_read.sla_due(session, rows)
    listed = []
    for row in rows:
        sla = due.get(row.id or 0)
        late = sla is not None and sla <= now
        if filters.overdue and not late:
            continue
        listed.append(Listed(line_of(row), row.created_at, sla, late))
    return listed[:limit], len(listed)


def _quantile(values: list[timedelta], share: Decimal) -> timedelta | None:
    """The nearest-rank quantile of `values` (sorted)."""
    if not values:
        return None
    rank = max(1, int((share * len(values)).to_integral_value(rounding="ROUND_CEILING")))
    return values[rank - 1]


def stats(db: Database, window: timedelta, now: datetime) -> Stats:
    """Open exceptions by route, and for exceptions decided within `window`: median and p90
    time from opening to the final decision, and how many were decided by their SLA."""
    since = now - window
    with db.reading() as session:
        open_by_route = queue_read.open_by_route(session)
        oldest = queue_read.open_rows(session, after=0, scan=1)
        oldest_due = queue_read.sla_due(session, oldest)
        decided = queue_read.decided_since(session, since, limit=MOST_COUNTED)
    took = sorted(at - opened for _, opened, at, _ in decided)
    with_sla = [(at, due) for _, _, at, due in decided if due is not None]
    oldest_listed = None
    if oldest:
        sla = oldest_due.get(oldest[0].id or 0)
        late = sla is not None and sla <= now
        oldest_listed = Listed(line_of(oldest[0]), oldest[0].created_at, sla, late)
    return Stats(
        since=since,
        open_by_route=tuple(open_by_route),
        decided=len(decided),
        median=_quantile(took, Decimal("0.5")),
        p90=_quantile(took, Decimal("0.9")),
        within_sla=sum(1 for at, due in with_sla if at <= due),
        with_sla=len(with_sla),
        oldest_open=oldest_listed,
    )
