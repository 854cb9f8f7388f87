"""`Database.reading()`: a transaction that only looks. On SQLite it neither waits for nor takes
the write lock, and refuses to write."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import func, select

from app.store import outbox
from app.store.db import Database
from app.store.tables import OutboxRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _pending(session: object) -> int:
    return int(session.exec(select(func.count()).select_from(OutboxRow)).one())  # type: ignore[attr-defined]


def test_a_reader_sees_what_was_committed_and_writes_nothing(db: Database) -> None:
    """A reader sees committed rows, keeps them readable after it, and never keeps a write."""
    with db.transaction() as session:
        outbox.enqueue(session, kind="test", payload={}, now=NOW)
    with db.reading() as session:
        assert _pending(session) == 1
        row = session.exec(select(OutboxRow)).one()
    assert (row.kind, row.state) == ("test", "pending")  # still readable after the block
    if db.dialect == "postgresql":  # there it is an ordinary transaction, rolled back
        with db.reading() as session:
            outbox.enqueue(session, kind="test", payload={}, now=NOW)
    with db.transaction() as session:
        assert _pending(session) == 1


def test_a_sqlite_reader_refuses_to_write(sqlite_url: str) -> None:
    """On SQLite a write inside reading() fails at once (query_only)."""
    db = Database(sqlite_url)
    try:
        with db.reading() as session, pytest.raises(OperationalError, match="readonly"):
            outbox.enqueue(session, kind="test", payload={}, now=NOW)
    finally:
        db.dispose()


def test_a_sqlite_reader_does_not_wait_for_a_writer(sqlite_url: str) -> None:
    """While another transaction holds SQLite's write lock, a reader still reads, at once."""
    db = Database(sqlite_url)
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction() as session:
            session.connection().execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the lock is held
            outbox.enqueue(session, kind="test", payload={}, now=NOW)
            session.flush()
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(10)
        with db.reading() as session:
            session.connection().exec_driver_sql("PRAGMA busy_timeout=0")  # waiting would fail
            assert _pending(session) == 0  # the writer's row is not committed yet
    finally:
        release.set()
        thread.join(10)
        db.dispose()
    with Database(sqlite_url).reading() as session:
        assert _pending(session) == 1
