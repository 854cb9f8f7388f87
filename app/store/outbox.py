"""The outbox: rows written with the decision that causes them, claimed atomically by workers
(see app/store/claims.py), run after that decision commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.store import bulk
from app.store.claims import claim_due
from app.store.db import Database
from app.store.tables import OutboxRow

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
    if idempotency_key is None:
        values = {
            "kind": kind,
            "payload": payload,
            "exception_id": exception_id,
            "available_at": now + delay,
            "created_at": now,
        }
        bulk.insert_row(session, OutboxRow.__table__, values)  # type: ignore[attr-defined]
        return
    row = OutboxRow(
        kind=kind,
        payload=payload,
        exception_id=exception_id,
        idempotency_key=idempotency_key,
        available_at=now + delay,
        created_at=now,
    )
    existing = session.exec(
        select(OutboxRow).where(OutboxRow.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        return
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return  # another transaction queued the same idempotency key first


def claim(db: Database, *, worker: str, now: datetime, limit: int = 50) -> list[Job]:
    """Claim up to `limit` due rows for this worker; no two workers get the same row."""
    table = OutboxRow.__table__  # type: ignore[attr-defined]
    rows = claim_due(
        db,
        table,
        due_column="available_at",
        worker=worker,
        now=now,
        lease=LEASE,
        limit=limit,
        returning=("id", "kind", "payload", "attempts", "idempotency_key"),
        also_set={"attempts": table.c.attempts + 1},
    )
    return [Job(r.id, r.kind, r.payload, r.attempts, r.idempotency_key) for r in rows]


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
