"""The outbox: rows written with the decision that causes them, claimed atomically by workers.

Claiming is one statement: `FOR UPDATE SKIP LOCKED` on PostgreSQL, a conditional UPDATE on
SQLite (whose write lock already serialises writers). A claim is a lease: a worker that dies
leaves a row that becomes claimable again when the lease runs out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, TextClause, bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.store.db import Database
from app.store.tables import OutboxRow
from app.store.types import UTCDateTime

LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    idempotency_key: str | None


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    exception_id: int | None = None,
    idempotency_key: str | None = None,
    delay: timedelta = timedelta(0),
) -> None:
    """Queue work inside the caller's transaction; a repeated idempotency key is a no-op."""
    if idempotency_key is not None:
        existing = session.exec(
            select(OutboxRow).where(OutboxRow.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            return
    row = OutboxRow(
        kind=kind,
        payload=payload,
        exception_id=exception_id,
        idempotency_key=idempotency_key,
        available_at=now + delay,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return  # another transaction queued the same idempotency key first


_CLAIM_SQL = """
    UPDATE outbox SET claimed_by = :worker, claim_expires_at = :lease, attempts = attempts + 1
    WHERE id IN (
        SELECT id FROM outbox
        WHERE state = 'pending' AND available_at <= :now
          AND (claim_expires_at IS NULL OR claim_expires_at < :now)
        ORDER BY available_at, id
        LIMIT :limit
        {lock})
    RETURNING id, kind, payload, attempts, idempotency_key
"""


def _claim_statement(dialect: str) -> TextClause:
    lock = "FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""
    return text(_CLAIM_SQL.format(lock=lock)).bindparams(
        bindparam("now", type_=UTCDateTime()), bindparam("lease", type_=UTCDateTime())
    )


def claim(db: Database, *, worker: str, now: datetime, limit: int = 50) -> list[Job]:
    """Claim up to `limit` due rows for this worker; no two workers get the same row."""
    statement = _claim_statement(db.dialect).columns(
        id=Integer, kind=String, payload=JSON, attempts=Integer, idempotency_key=String
    )
    params = {"worker": worker, "now": now, "lease": now + LEASE, "limit": limit}
    with db.transaction() as session:
        rows = session.connection().execute(statement, params).all()
    jobs = [Job(r.id, r.kind, r.payload, r.attempts, r.idempotency_key) for r in rows]
    return sorted(jobs, key=lambda job: job.id)


def complete(db: Database, job_id: int, *, now: datetime) -> None:
    with db.transaction() as session:
        row = session.get(OutboxRow, job_id)
        if row is not None:
            row.state, row.finished_at, row.claimed_by, row.claim_expires_at = (
                "done",
                now,
                None,
                None,
            )
            session.add(row)


def retry_later(db: Database, job_id: int, *, now: datetime, after: timedelta, error: str) -> None:
    """Release the claim and make the row due again after `after`."""
    with db.transaction() as session:
        row = session.get(OutboxRow, job_id)
        if row is not None:
            row.available_at, row.last_error = now + after, error[:2000]
            row.claimed_by, row.claim_expires_at = None, None
            session.add(row)


def give_up(db: Database, job_id: int, *, now: datetime, error: str) -> None:
    """Park the row as dead: kept for people to see, never retried by itself."""
    with db.transaction() as session:
        row = session.get(OutboxRow, job_id)
        if row is not None:
            row.state, row.finished_at, row.last_error = "dead", now, error[:2000]
            row.claimed_by, row.claim_expires_at = None, None
            session.add(row)
