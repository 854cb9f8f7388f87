"""Outbox rows are claimed atomically: each due row by exactly one worker."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from app.store import outbox
from app.store.db import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _queue(db: Database, count: int, *, delay: timedelta = timedelta(0)) -> None:
    with db.transaction() as session:
        for n in range(count):
            outbox.enqueue(session, kind="test", payload={"n": n}, now=NOW, delay=delay)


def test_claim_returns_due_rows_once(db: Database) -> None:
    """A claimed row is not handed out again while its lease lasts."""
    _queue(db, 3)
    first = outbox.claim(db, worker="w1", now=NOW)
    second = outbox.claim(db, worker="w2", now=NOW)
    assert [j.payload["n"] for j in first] == [0, 1, 2]
    assert second == []


def test_rows_not_yet_due_are_left(db: Database) -> None:
    """A row whose time has not come is not claimed."""
    _queue(db, 1, delay=timedelta(seconds=30))
    assert outbox.claim(db, worker="w1", now=NOW) == []
    assert len(outbox.claim(db, worker="w1", now=NOW + timedelta(seconds=31))) == 1


def test_expired_lease_is_claimable_again(db: Database) -> None:
    """A worker that died leaves its row claimable once the lease runs out."""
    _queue(db, 1)
    (job,) = outbox.claim(db, worker="w1", now=NOW)
    later = NOW + outbox.LEASE + timedelta(seconds=1)
    (again,) = outbox.claim(db, worker="w2", now=later)
    assert again.id == job.id
    assert again.attempts == 2


def test_completed_rows_are_never_claimed(db: Database) -> None:
    """A completed row stays done."""
    _queue(db, 1)
    (job,) = outbox.claim(db, worker="w1", now=NOW)
    outbox.complete(db, job.id, now=NOW)
    assert outbox.claim(db, worker="w1", now=NOW + timedelta(hours=1)) == []


def test_same_idempotency_key_queues_once(db: Database) -> None:
    """Queueing the same idempotency key twice leaves one row."""
    for _ in range(2):
        with db.transaction() as session:
            outbox.enqueue(session, kind="test", payload={}, now=NOW, idempotency_key="k1")
    assert len(outbox.claim(db, worker="w1", now=NOW)) == 1


def test_concurrent_workers_split_rows_without_overlap(db: Database) -> None:
    """Eight workers claiming at once get every row exactly once between them."""
    _queue(db, 200)

    def work(name: str) -> list[int]:
        ids: list[int] = []
        while jobs := outbox.claim(db, worker=name, now=NOW, limit=7):
            ids.extend(j.id for j in jobs)
        return ids

    with ThreadPoolExecutor(max_workers=8) as pool:
        claimed = [i for ids in pool.map(work, [f"w{n}" for n in range(8)]) for i in ids]
    assert len(claimed) == 200
    assert len(set(claimed)) == 200
