"""Every outbox job has a budget: failures and waits alike end parked, audited and announced,
so the outbox always comes to rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from app.flows import jobs
from app.flows.outbox_worker import ABOUT_JOB, OutboxWorker
from app.flows.ports import DeliveryFailed, RetryLater
from app.store import outbox
from app.store.db import Database
from app.store.tables import AuditEntryRow, OutboxRow

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class SettableClock:
    """A clock the test moves by hand (the Clock protocol, not a mock)."""

    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current


def _queue(db: Database, kind: str, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        outbox.enqueue(session, kind=kind, payload=payload, now=START)


def _run_until_quiet(worker: OutboxWorker, clock: SettableClock, rounds: int = 500) -> int:
    """Drain, move the clock past any backoff, repeat; return how many runs happened."""
    runs = 0
    for _ in range(rounds):
        runs += worker.drain()
        clock.current += timedelta(minutes=6)
    return runs


def _rows(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all())


def test_waiting_for_ever_is_parked_after_the_larger_budget(db: Database) -> None:
    """A job that only ever hears "retry later" is parked after 10 x max_attempts tries."""
    clock = SettableClock()

    def always_busy(payload: dict[str, Any], now: datetime) -> None:
        raise RetryLater("Slack unreachable: URLError", after=0.01)

    worker = OutboxWorker(db, {"test.busy": always_busy}, clock, max_attempts=2)
    _queue(db, "test.busy", {"n": 1})
    assert _run_until_quiet(worker, clock) == 20
    (row,) = _rows(db)
    assert row.state == "dead"
    assert row.attempts == 20
    assert row.last_error == "still waiting after 20 attempts: Slack unreachable: URLError"


def test_failing_job_is_parked_after_max_attempts_and_announced(db: Database) -> None:
    """A job that keeps failing is parked after max_attempts, audited, and #admin is told."""
    clock = SettableClock()

    def broken(payload: dict[str, Any], now: datetime) -> None:
        raise ValueError("bug")

    told: list[dict[str, Any]] = []
    worker = OutboxWorker(
        db,
        {"test.broken": broken, jobs.CHANNEL_NOTICE: lambda payload, now: told.append(payload)},
        clock,
        max_attempts=3,
        admin_channel=lambda: "C0ADMIN",
    )
    _queue(db, "test.broken", {"exception_id": 7})
    _run_until_quiet(worker, clock, rounds=10)
    parked, notice = _rows(db)
    assert (parked.state, parked.attempts) == ("dead", 3)
    assert (notice.kind, notice.state) == (jobs.CHANNEL_NOTICE, "done")
    (payload,) = told
    assert payload["channel"] == "C0ADMIN"
    assert payload[ABOUT_JOB] == parked.id
    assert "test.broken for BX-000007" in payload["text"]
    with db.transaction() as session:
        (entry,) = session.exec(
            select(AuditEntryRow).where(col(AuditEntryRow.action) == "outbox.dead")
        ).all()
    assert entry.exception_id == 7


def test_a_notice_about_a_parked_job_is_never_announced_in_turn(db: Database) -> None:
    """When the admin notice itself is refused, it is parked without another notice."""
    clock = SettableClock()

    def refused(payload: dict[str, Any], now: datetime) -> None:
        raise DeliveryFailed("Slack refused: channel_not_found")

    worker = OutboxWorker(
        db, {jobs.CHANNEL_NOTICE: refused}, clock, admin_channel=lambda: "C0ADMIN"
    )
    _queue(db, jobs.CHANNEL_NOTICE, {"channel": "C0ADMIN", "text": "x", ABOUT_JOB: 1})
    _run_until_quiet(worker, clock, rounds=3)
    (row,) = _rows(db)
    assert row.state == "dead"


def test_retry_gives_a_parked_job_a_fresh_budget_and_cancel_retires_it(db: Database) -> None:
    """`retry` makes a dead job pending with zero attempts; `cancel` ends it for good."""
    clock = SettableClock()
    calls: list[int] = []

    def flaky(payload: dict[str, Any], now: datetime) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise DeliveryFailed("refused once")

    worker = OutboxWorker(db, {"test.flaky": flaky}, clock)
    _queue(db, "test.flaky", {})
    _run_until_quiet(worker, clock, rounds=2)
    assert _rows(db)[0].state == "dead"
    assert outbox.retry(db, 1, now=clock.now()) == ("dead", "test.flaky")
    assert (_rows(db)[0].state, _rows(db)[0].attempts) == ("pending", 0)
    _run_until_quiet(worker, clock, rounds=2)
    assert _rows(db)[0].state == "done"
    assert outbox.cancel(db, 1, now=clock.now()) == ("done", "test.flaky")
    assert _rows(db)[0].state == "done"
    assert outbox.retry(db, 99, now=clock.now()) == (None, None)
