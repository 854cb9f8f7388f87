"""Outbox rows are claimed atomically: each due row by exactly one worker, and only the worker
that holds a row's current claim may write its outcome."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from app.store import outbox
from app.store.db import Database
from app.store.tables import OutboxRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _queue(db: Database, count: int, *, delay: timedelta = timedelta(0)) -> None:
    with db.transaction() as session:
        for n in range(count):
            outbox.enqueue(session, kind="test", payload={"n": n}, now=NOW, delay=delay)


def test_claim_returns_due_rows_once(db: Database) -> None:
    """A claimed row is not handed out again while its lease lasts."""
    _queue(db, 3)
    first = outbox.claim(db, worker="w1", now=NOW, limit=50)
    second = outbox.claim(db, worker="w2", now=NOW, limit=50)
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
    assert outbox.complete(db, job, now=NOW) is True
    assert outbox.claim(db, worker="w1", now=NOW + timedelta(hours=1)) == []


def test_same_idempotency_key_queues_once(db: Database) -> None:
    """Queueing the same idempotency key twice leaves one row."""
    for _ in range(2):
        with db.transaction() as session:
            outbox.enqueue(session, kind="test", payload={}, now=NOW, idempotency_key="k1")
    assert len(outbox.claim(db, worker="w1", now=NOW, limit=50)) == 1


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


def _row(db: Database) -> OutboxRow:
    with db.transaction() as session:
        return session.exec(select(OutboxRow)).one()


def _taken_over(db: Database) -> tuple[outbox.Job, outbox.Job]:
    """w1 claims the one row, its lease runs out, w2 claims it: (w1's job, w2's job)."""
    _queue(db, 1)
    (stale,) = outbox.claim(db, worker="w1", now=NOW)
    (current,) = outbox.claim(db, worker="w2", now=NOW + outbox.LEASE + timedelta(seconds=1))
    return stale, current


def test_claim_takes_one_job_at_a_time_by_default(db: Database) -> None:
    """A worker claims one job per call, so the lease starts right before that job runs."""
    _queue(db, 3)
    assert [j.payload["n"] for j in outbox.claim(db, worker="w1", now=NOW)] == [0]
    assert [j.payload["n"] for j in outbox.claim(db, worker="w2", now=NOW)] == [1]


def test_claim_lease_can_be_set_per_call(db: Database) -> None:
    """A shorter lease makes the row claimable again sooner."""
    _queue(db, 1)
    outbox.claim(db, worker="w1", now=NOW, lease=timedelta(seconds=10))
    assert outbox.claim(db, worker="w2", now=NOW + timedelta(seconds=9)) == []
    assert len(outbox.claim(db, worker="w2", now=NOW + timedelta(seconds=11))) == 1


def test_complete_after_a_takeover_is_refused_and_writes_nothing(db: Database) -> None:
    """The worker whose claim was taken over cannot mark the job done; the new holder can."""
    stale, current = _taken_over(db)
    assert outbox.complete(db, stale, now=NOW) is False
    row = _row(db)
    assert (row.state, row.claimed_by, row.attempts) == ("pending", "w2", 2)
    assert outbox.complete(db, current, now=NOW) is True
    assert _row(db).state == "done"


def test_retry_later_after_a_takeover_does_not_release_the_new_claim(db: Database) -> None:
    """A stale retry_later leaves the new holder's claim, due time and error untouched."""
    stale, _current = _taken_over(db)
    before = _row(db)
    assert outbox.retry_later(db, stale, now=NOW, after=timedelta(0), error="stale") is False
    after = _row(db)
    assert (after.claimed_by, after.claim_expires_at, after.available_at, after.last_error) == (
        "w2",
        before.claim_expires_at,
        before.available_at,
        None,
    )
    assert outbox.claim(db, worker="w3", now=NOW + outbox.LEASE) == []


def test_give_up_after_a_takeover_does_not_park_the_job(db: Database) -> None:
    """A stale give_up cannot park a job another worker is running."""
    stale, current = _taken_over(db)
    assert outbox.give_up(db, stale, now=NOW, error="stale") is False
    assert _row(db).state == "pending"
    assert outbox.give_up(db, current, now=NOW, error="real") is True
    assert (_row(db).state, _row(db).last_error) == ("dead", "real")


def test_a_stale_worker_cannot_overwrite_the_new_holders_result(db: Database) -> None:
    """After the new holder finished, the old one's late outcome changes nothing."""
    stale, current = _taken_over(db)
    assert outbox.retry_later(db, current, now=NOW, after=timedelta(hours=1), error="429")
    for late in (
        lambda: outbox.complete(db, stale, now=NOW),
        lambda: outbox.give_up(db, stale, now=NOW, error="x"),
        lambda: outbox.retry_later(db, stale, now=NOW, after=timedelta(0), error="x"),
    ):
        assert late() is False
    row = _row(db)
    assert (row.state, row.last_error, row.available_at) == (
        "pending",
        "429",
        NOW + timedelta(hours=1),
    )


def test_the_same_worker_name_with_an_older_attempt_is_refused(db: Database) -> None:
    """A claim is one attempt: a worker reclaiming its own expired row holds only the new one."""
    _queue(db, 1)
    (first,) = outbox.claim(db, worker="w1", now=NOW)
    (second,) = outbox.claim(db, worker="w1", now=NOW + outbox.LEASE + timedelta(seconds=1))
    assert outbox.complete(db, first, now=NOW) is False
    assert outbox.complete(db, second, now=NOW) is True


def test_racing_takeovers_leave_exactly_one_holder(db: Database) -> None:
    """Eight workers reclaiming one expired row at once: one wins, and only it can complete."""
    _queue(db, 1)
    outbox.claim(db, worker="w0", now=NOW)
    later = NOW + outbox.LEASE + timedelta(seconds=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda n: outbox.claim(db, worker=f"w{n}", now=later), range(1, 9)))
    winners = [jobs[0] for jobs in claims if jobs]
    assert len(winners) == 1
    settled = [outbox.complete(db, job, now=later) for jobs in claims for job in jobs]
    assert settled == [True]
