"""Batched inserts: rows collected in a block are written once at its end, or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, col, func, select

from app.store import bulk, outbox
from app.store.db import Database
from app.store.tables import OutboxRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(OutboxRow)).one())


def test_rows_are_written_when_the_block_ends(db: Database) -> None:
    """Inside the block nothing is written yet; after it every row is there, in order."""
    with db.transaction() as session:
        with bulk.batched_inserts(session):
            for n in range(3):
                outbox.enqueue(session, kind="test", payload={"n": n}, now=NOW)
            assert _count(session) == 0
        assert _count(session) == 3
    with db.transaction() as session:
        rows = session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all()
    assert [r.payload["n"] for r in rows] == [0, 1, 2]
    assert {(r.state, r.attempts) for r in rows} == {("pending", 0)}


def test_an_error_in_the_block_writes_nothing(db: Database) -> None:
    """A block that raises leaves no collected row behind."""

    def fail_midway() -> None:
        with db.transaction() as session, bulk.batched_inserts(session):
            outbox.enqueue(session, kind="test", payload={}, now=NOW)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    with db.transaction() as session:
        assert _count(session) == 0


def test_flush_makes_collected_rows_visible_inside_the_block(db: Database) -> None:
    """`flush` writes what was collected so far, so a later update in the block sees it."""
    with db.transaction() as session, bulk.batched_inserts(session):
        outbox.enqueue(session, kind="test", payload={}, now=NOW)
        bulk.flush(session)
        assert _count(session) == 1
        outbox.enqueue(session, kind="test", payload={}, now=NOW)
    with db.transaction() as session:
        assert _count(session) == 2


def test_outside_a_block_rows_are_written_at_once(db: Database) -> None:
    """Without `batched_inserts`, a queued row is visible immediately in the transaction."""
    with db.transaction() as session:
        outbox.enqueue(session, kind="test", payload={}, now=NOW)
        assert _count(session) == 1
