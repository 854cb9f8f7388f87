"""A job's completion is one transaction: the handler's last write and the row marked done
commit together (`outbox.finish`), with what was registered to happen then
(`outbox.on_completion`); the worker writes nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, col, select

from app.flows.outbox_worker import OutboxWorker
from app.store import audit, outbox
from app.store.db import Database
from app.store.tables import AuditEntryRow, OutboxRow

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class SettableClock:
    """A clock the test moves by hand (the Clock protocol, not a mock)."""

    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current


def _queue(db: Database, kind: str) -> None:
    with db.transaction() as session:
        outbox.enqueue(session, kind=kind, payload={}, now=START)


def _note(session: Session, action: str) -> None:
    audit.append(session, at=START, actor="test", action=action)


def _actions(db: Database) -> list[str]:
    with db.transaction() as session:
        rows = session.exec(select(AuditEntryRow).order_by(col(AuditEntryRow.seq))).all()
        return [row.action for row in rows]


def _row(db: Database) -> OutboxRow:
    with db.transaction() as session:
        return session.exec(select(OutboxRow)).one()


@contextmanager
def _commits(db: Database) -> Iterator[list[int]]:
    """Count the commits made on `db`'s writing engine meanwhile."""
    counted: list[int] = []

    def commit(_connection: Any) -> None:
        counted.append(1)

    event.listen(db.engine, "commit", commit)
    try:
        yield counted
    finally:
        event.remove(db.engine, "commit", commit)


def test_a_job_finished_in_its_handlers_transaction_takes_no_further_commit(
    db: Database,
) -> None:
    """Claim, then the handler's write with the job marked done: no commit of its own after."""

    def handler(payload: dict[str, Any], now: datetime) -> None:
        with db.transaction() as session:
            _note(session, "test.result")
            outbox.finish(session)

    worker = OutboxWorker(db, {"test.job": handler}, SettableClock())
    _queue(db, "test.job")
    with _commits(db) as commits:
        assert worker.drain() == 1
    assert len(commits) == 3  # the claim, the handler's transaction, the claim finding none
    row = _row(db)
    assert (row.state, row.finished_at, row.claimed_by) == ("done", START, None)
    assert _actions(db) == ["test.result"]


def test_what_completion_also_writes_goes_with_the_done_mark(db: Database) -> None:
    """A write registered with on_completion commits with the job marked done by the worker."""

    def handler(payload: dict[str, Any], now: datetime) -> None:
        outbox.on_completion(lambda session: _note(session, "test.also"))

    worker = OutboxWorker(db, {"test.job": handler}, SettableClock())
    _queue(db, "test.job")
    with _commits(db) as commits:
        worker.drain()
    assert len(commits) == 3  # the claim, the completion with its write, the claim finding none
    assert _row(db).state == "done"
    assert _actions(db) == ["test.also"]


def test_a_failure_after_the_job_finished_leaves_it_done(db: Database) -> None:
    """The handler's result committed with the job done; a later error does not run it again."""
    runs: list[int] = []

    def handler(payload: dict[str, Any], now: datetime) -> None:
        runs.append(1)
        with db.transaction() as session:
            _note(session, "test.result")
            outbox.finish(session)
        raise RuntimeError("tidying up after the result failed")

    clock = SettableClock()
    worker = OutboxWorker(db, {"test.job": handler}, clock)
    _queue(db, "test.job")
    worker.drain()
    clock.current += timedelta(hours=1)
    worker.drain()
    assert runs == [1]
    assert _row(db).state == "done"
    assert _actions(db) == ["test.result"]


def test_a_finish_rolled_back_with_its_transaction_leaves_the_job_to_retry(db: Database) -> None:
    """When the handler's transaction rolls back, the job is not done: it runs again later."""
    runs: list[int] = []

    def handler(payload: dict[str, Any], now: datetime) -> None:
        runs.append(1)
        with db.transaction() as session:
            _note(session, "test.result")
            outbox.finish(session)
            if len(runs) == 1:
                raise RuntimeError("the write failed before it committed")

    clock = SettableClock()
    worker = OutboxWorker(db, {"test.job": handler}, clock)
    _queue(db, "test.job")
    worker.drain()
    assert _row(db).state == "pending"
    clock.current += timedelta(hours=1)
    worker.drain()
    assert runs == [1, 1]
    assert _row(db).state == "done"
    assert _actions(db) == ["test.result"]


def test_a_lost_claim_keeps_nothing_the_completion_would_have_written(db: Database) -> None:
    """Completing a job another worker took over writes neither the done mark nor the rest."""
    _queue(db, "test.job")
    (stale,) = outbox.claim(db, worker="w1", now=START)
    later = START + outbox.LEASE + timedelta(seconds=1)
    outbox.claim(db, worker="w2", now=later)
    also = [lambda session: _note(session, "test.also")]
    assert outbox.complete(db, stale, now=later, then=also) is False
    assert _row(db).state == "pending"
    assert _actions(db) == []
