"""Read-only views of the queue for people: what is open, one exception in full."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from app.domain.approval import Actor
from app.domain.lifecycle import State, exception_label
from app.domain.money import format_money
from app.store.db import Database
from app.store.tables import ExceptionRow


@dataclass(frozen=True)
class QueueLine:
    label: str
    type: str
    customer: str
    amount: str
    state: str
    route: str
    approvers: tuple[str, ...]


def line_of(row: ExceptionRow) -> QueueLine:
    assert row.id is not None
    step = row.steps[row.current_step] if row.steps else {"approvers": []}
    return QueueLine(
        exception_label(row.id),
        row.type,
        row.customer_name,
        format_money(row.amount, row.currency),
        row.state,
        row.route_name,
        tuple(step["approvers"]),
    )


def open_exceptions(db: Database, limit: int = 50) -> list[QueueLine]:
    with db.transaction() as session:
        rows = session.exec(
            select(ExceptionRow)
            .where(ExceptionRow.state == State.OPEN)
            .order_by(col(ExceptionRow.id))
            .limit(limit)
        ).all()
        return [line_of(r) for r in rows]


def one_exception(db: Database, exception_id: int) -> QueueLine | None:
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        return line_of(row) if row is not None else None


def waiting_on(db: Database, actor: Actor, limit: int = 20, scan: int = 500) -> list[QueueLine]:
    """Open exceptions whose current step lists `actor` (by Slack id or e-mail), oldest
    first, at most `limit`; the rows are read `scan` at a time until enough are found."""
    found: list[QueueLine] = []
    after = 0
    while len(found) < limit:
        with db.transaction() as session:
            rows = session.exec(
                select(ExceptionRow)
                .where(ExceptionRow.state == State.OPEN, col(ExceptionRow.id) > after)
                .order_by(col(ExceptionRow.id))
                .limit(scan)
            ).all()
            lines = [line_of(r) for r in rows]
            after = max((r.id or 0 for r in rows), default=after)
        if not lines:
            return found
        found += [line for line in lines if actor.is_one_of(line.approvers)][: limit - len(found)]
    return found
