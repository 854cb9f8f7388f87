"""The audit log is a hash chain that `verify` checks end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.store import audit
from app.store.db import Database

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _write(db: Database, count: int) -> None:
    with db.transaction() as session:
        for n in range(count):
            audit.append(
                session,
                at=T0 + timedelta(seconds=n),
                actor="U0TEST",
                action="test.entry",
                exception_id=n,
                detail={"n": n, "amount": "12.50"},
            )


def test_intact_chain_verifies(db: Database) -> None:
    """A chain written by append() verifies and counts every entry."""
    _write(db, 5)
    with db.transaction() as session:
        result = audit.verify(session)
    assert (result.ok, result.entries) == (True, 5)


def test_each_entry_points_at_the_previous_hash(db: Database) -> None:
    """Entry n carries entry n-1's hash; the first carries the genesis hash."""
    _write(db, 3)
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT seq, prev_hash, hash FROM audit_entry ORDER BY seq")
        ).all()
    assert rows[0].prev_hash == audit.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]


def test_altered_detail_is_named(db: Database) -> None:
    """Editing one entry's detail makes verify name that entry."""
    _write(db, 4)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entry SET detail = :d WHERE seq = 3"), {"d": '{"n": 99}'}
        )
    with db.transaction() as session:
        result = audit.verify(session)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert "entry 3 was altered" in (result.problem or "")


def test_deleted_entry_is_named(db: Database) -> None:
    """Deleting an entry from the middle is reported as that entry missing."""
    _write(db, 4)
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
    with db.transaction() as session:
        result = audit.verify(session)
    assert (result.ok, result.bad_seq) == (False, 2)


def test_truncated_tail_is_detected(db: Database) -> None:
    """Deleting the newest entries is caught by the head row."""
    _write(db, 4)
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE seq >= 3"))
    with db.transaction() as session:
        result = audit.verify(session)
    assert result.ok is False
    assert result.bad_seq == 3


def test_concurrent_appends_keep_one_chain(db: Database) -> None:
    """Appends from several threads at once still form one unbroken chain."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: _write(db, 5), range(6)))
    with db.transaction() as session:
        result = audit.verify(session)
    assert (result.ok, result.entries) == (True, 30)
