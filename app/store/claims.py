"""Claim due rows atomically, for the outbox and the timers alike.

One UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING on PostgreSQL, so
several app instances never take the same row; on SQLite the same statement without the lock
clause, serialised by SQLite's write lock (BEGIN IMMEDIATE). A claim is a lease: a worker that
dies leaves rows that become claimable again when the lease runs out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, or_, select, update

from app.store.db import Database


def claim_due(
    db: Database,
    table: Table,
    *,
    due_column: str,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    returning: Sequence[str],
    also_set: dict[str, Any] | None = None,
    where: ColumnElement[bool] | None = None,
) -> list[Row[Any]]:
    """Take up to `limit` pending rows due by `now` for `worker` (and matching `where`, if
    given); return the chosen columns."""
    due = table.c[due_column]
    chosen = (
        select(table.c.id)
        .where(
            table.c.state == "pending",
            due <= now,
            or_(table.c.claim_expires_at.is_(None), table.c.claim_expires_at < now),
            *([] if where is None else [where]),
        )
        .order_by(due, table.c.id)
        .limit(limit)
    )
    if db.dialect == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    statement = (
        update(table)
        .where(table.c.id.in_(chosen.scalar_subquery()))
        .values(claimed_by=worker, claim_expires_at=now + lease, **(also_set or {}))
        .returning(*(table.c[name] for name in returning))
    )
    with db.transaction() as session:
        rows = list(session.connection().execute(statement).all())
    return sorted(rows, key=lambda row: row[0])
