"""The outbox: rows written with the decision that causes them, claimed atomically by workers
(see app/store/claims.py), run after that decision commits.

A claim belongs to one worker for one attempt: `complete`, `retry_later` and `give_up` change a
row only while that worker still holds that attempt's claim (same `claimed_by`, same `attempts`,
still pending), and return False when it was lost, e.g. because the lease ran out and another
worker took the row over. The lease must outlast one run of a job; workers claim one job at a
time so that the lease starts right before the call it covers.

A job's completion is one transaction: the row marked done and whatever was registered to
happen with it (`Running.then`, e.g. queueing Home refreshes). A handler whose last step
writes anyway calls `finish(session)` in that transaction, so the job is done in the same
commit as its result and the worker writes nothing more; otherwise the worker completes it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from app.store import bulk
from app.store.claims import claim_due
from app.store.db import Database
from app.store.tables import OutboxRow, sa_table

LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    idempotency_key: str | None
    claimed_by: str = ""  # the worker holding this attempt's claim


@dataclass
class Running:
    """The job this thread runs now, and what completing it also writes."""

    job: Job
    now: datetime
    then: list[Callable[[Session], None]] = field(default_factory=list)
    done: bool = False  # its completion has committed


_RUNNING: ContextVar[Running | None] = ContextVar("outbox_running", default=None)


@contextmanager
def running(job: Job, now: datetime) -> Iterator[Running]:
    """Mark `job` as the one this thread runs, for `finish` (used by the worker)."""
    run = Running(job, now)
    token = _RUNNING.set(run)
    try:
        yield run
    finally:
        _RUNNING.reset(token)


def on_completion(write: Callable[[Session], None]) -> None:
    """Have the running job's completion also do `write`, in the same transaction (only the
    worker runs jobs, so there is always one)."""
    run = _RUNNING.get()
    if run is None:
        raise RuntimeError("on_completion outside a running outbox job")
    run.then.append(write)


def finish(session: Session) -> None:
    """Complete the running job inside the caller's transaction (its handler's last write):
    when that commits, the job is done and the worker has nothing left to write. Outside a
    job (a flow called directly) it does nothing; a claim lost meanwhile marks nothing."""
    run = _RUNNING.get()
    if run is None or run.done:
        return
    if _complete_in(session, run.job, run.now, run.then):

        def committed(_session: Session) -> None:
            run.done = True

        event.listen(session, "after_commit", committed, once=True)


def _complete_in(
    session: Session, job: Job, now: datetime, then: Iterable[Callable[[Session], None]]
) -> bool:
    for also in then:
        also(session)
    statement = _settling(job).values(
        claimed_by=None, claim_expires_at=None, state="done", finished_at=now
    )
    return bool(session.connection().execute(statement).rowcount)


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


def job_values(
    *,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    exception_id: int | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """One outbox row as `enqueue_many` inserts it, due now."""
    return {
        "kind": kind,
        "payload": payload,
        "exception_id": exception_id,
        "idempotency_key": idempotency_key,
        "available_at": now,
        "created_at": now,
    }


def enqueue_many(
    session: Session, rows: list[dict[str, Any]], *, keys_are_new: bool = False
) -> None:
    """Queue `job_values` rows in one multi-row INSERT; a row whose idempotency key is already
    queued is skipped by the database (ON CONFLICT DO NOTHING), with no lookup first.
    `keys_are_new`: every key names a row this transaction created (an exception just opened),
    so none can be queued yet and no conflict is checked for (on PostgreSQL the rows then go
    in by COPY, see bulk.insert_many)."""
    if not rows:
        return
    bulk.insert_many(session, sa_table(OutboxRow), rows, ignore_conflicts=not keys_are_new)


@dataclass(frozen=True)
class Kinds:
    """Which jobs a claim takes: these kinds (`among=True`) or every kind but these."""

    names: frozenset[str]
    among: bool = True

    def clause(self, table: Any) -> Any:
        listed = table.c.kind.in_(sorted(self.names))
        return listed if self.among else ~listed


def claim(
    db: Database,
    *,
    worker: str,
    now: datetime,
    limit: int = 1,
    lease: timedelta = LEASE,
    kinds: Kinds | None = None,
) -> list[Job]:
    """Claim up to `limit` due rows (of `kinds`, if given) for this worker; no two workers get
    the same row."""
    table = OutboxRow.__table__  # type: ignore[attr-defined]
    rows = claim_due(
        db,
        table,
        due_column="available_at",
        worker=worker,
        now=now,
        lease=lease,
        limit=limit,
        returning=("id", "kind", "payload", "attempts", "idempotency_key"),
        also_set={"attempts": table.c.attempts + 1},
        where=None if kinds is None else kinds.clause(table),
    )
    return [Job(r.id, r.kind, r.payload, r.attempts, r.idempotency_key, worker) for r in rows]


def _settling(job: Job) -> Any:
    """The UPDATE of `job`'s row, only while this worker still holds this attempt's claim."""
    table = sa_table(OutboxRow)
    return update(table).where(
        table.c.id == job.id,
        table.c.state == "pending",
        table.c.claimed_by == job.claimed_by,
        table.c.attempts == job.attempts,
    )


def _settle(db: Database, job: Job, **values: Any) -> bool:
    """Write the outcome of `job` if its claim is still this worker's; False if it was lost."""
    statement = _settling(job).values(claimed_by=None, claim_expires_at=None, **values)
    with db.transaction() as session:
        return bool(session.connection().execute(statement).rowcount)


def complete(
    db: Database,
    job: Job,
    *,
    now: datetime,
    then: Iterable[Callable[[Session], None]] = (),
) -> bool:
    """Mark the job done, with what `then` writes, in one transaction; False (and nothing
    written) when this worker no longer holds it."""
    with db.transaction() as session:
        if _complete_in(session, job, now, then):
            return True
        session.rollback()  # the claim was lost: what `then` wrote goes with it
        return False


def retry_later(
    db: Database,
    job: Job,
    *,
    now: datetime,
    after: timedelta,
    error: str,
    refund: bool = False,
) -> bool:
    """Release the claim and make the row due again after `after`; False if the claim was lost.
    `refund`: the attempt did not count (the job was only paced), its budget is as before."""
    if refund:
        table = OutboxRow.__table__  # type: ignore[attr-defined]
        return _settle(
            db,
            job,
            available_at=now + after,
            attempts=table.c.attempts - 1,
            last_error=error[:2000],
        )
    return _settle(db, job, available_at=now + after, last_error=error[:2000])


def give_up(db: Database, job: Job, *, now: datetime, error: str) -> bool:
    """Park the row as dead: kept for people to see, never retried by itself. False if the claim
    was lost (the new holder decides)."""
    return _settle(db, job, state="dead", finished_at=now, last_error=error[:2000])


def make_due(
    session: Session, *, kinds: Iterable[str], now: datetime, exception_id: int | None = None
) -> None:
    """Pending rows of these kinds (of one exception, if given) that wait for a retry become
    due now: what they waited for (a posted card, Slack coming back) has happened."""
    query = update(OutboxRow).where(
        col(OutboxRow.state) == "pending",
        col(OutboxRow.kind).in_(list(kinds)),
        col(OutboxRow.available_at) > now,
        col(OutboxRow.claimed_by).is_(None),
    )
    if exception_id is not None:
        query = query.where(col(OutboxRow.exception_id) == exception_id)
    session.execute(query.values(available_at=now))


def put_back(
    session: Session, *, kind: str, exception_ids: Any, now: datetime, until: datetime
) -> None:
    """Rows of this kind for these exceptions (a subquery) that are due now and unclaimed are
    not due before `until` (their channel has no slot before then): `make_due`'s opposite.
    Rows already put back to a later moment hold a reserved slot (app/slack/pacing.py) and
    keep it."""
    table = sa_table(OutboxRow)
    session.connection().execute(
        update(table)
        .where(
            table.c.kind == kind,
            table.c.state == "pending",
            table.c.claimed_by.is_(None),
            table.c.available_at <= now,
            table.c.exception_id.in_(exception_ids),
        )
        .values(available_at=until)
    )


def counts(db: Database) -> dict[str, int]:
    """How many rows are pending and how many are parked dead."""
    with db.transaction() as session:
        rows = session.exec(
            select(OutboxRow.state, func.count())
            .where(col(OutboxRow.state).in_(("pending", "dead")))
            .group_by(OutboxRow.state)
        ).all()
    return {"pending": 0, "dead": 0} | {state: int(n) for state, n in rows}


def listing(db: Database, *, states: Iterable[str], limit: int) -> list[OutboxRow]:
    """Rows in these states, newest first."""
    with db.transaction() as session:
        return list(
            session.exec(
                select(OutboxRow)
                .where(col(OutboxRow.state).in_(list(states)))
                .order_by(col(OutboxRow.id).desc())
                .limit(limit)
            ).all()
        )


def retry(db: Database, job_id: int, *, now: datetime) -> tuple[str | None, str | None]:
    """Make a parked (or cancelled) row pending again with a fresh budget, or a waiting one due
    now. Returns (state before, kind), the state being "running" for a row a worker holds
    now (left alone); (None, None) when there is no such row."""
    with db.transaction() as session:
        row = session.get(OutboxRow, job_id)
        if row is None:
            return None, None
        before = row.state
        if before == "pending" and row.claim_expires_at and row.claim_expires_at > now:
            return "running", row.kind
        if before in ("dead", "cancelled"):
            row.state, row.attempts, row.finished_at = "pending", 0, None
        if before != "done":
            row.available_at, row.claimed_by, row.claim_expires_at = now, None, None
            session.add(row)
        return before, row.kind


def cancel(db: Database, job_id: int, *, now: datetime) -> tuple[str | None, str | None]:
    """Retire a pending or parked row for good. Returns (state before, kind), as `retry`."""
    with db.transaction() as session:
        row = session.get(OutboxRow, job_id)
        if row is None:
            return None, None
        before = row.state
        if before in ("pending", "dead"):
            row.state, row.finished_at = "cancelled", now
            row.claimed_by, row.claim_expires_at = None, None
            session.add(row)
        return before, row.kind
