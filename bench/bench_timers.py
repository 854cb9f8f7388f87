"""Timer sweep at scale: 100,000 open exceptions, 1,000 of them with a due timer.

Measures one sweep that claims and processes the due timers (Slack calls excluded: the sweep
only queues them in the outbox) and the process's peak RSS. SQLite file in a temp dir; set
BENCH_DATABASE_URL to a PostgreSQL server's URL to measure there instead (in a scratch
database created on that server and dropped afterwards, so every run starts empty)."""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.flows.sweep import TimerSweep
from app.store.db import Database
from app.store.migrate import upgrade
from app.store.tables import ExceptionRow, TimerRow
from tests.databases import scratch_postgres

OPEN, DUE = 100_000, 1_000
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def populate(db: Database) -> None:
    step = {
        "approvers": ["U0FINMGR1", "U0FINMGR2"],
        "quorum": 1,
        "escalations": [{"after_s": 28800, "to": ["U0CTRL1"]}],
    }
    exception = {
        "type": "usage_anomaly",
        "source": "bench",
        "customer_id": "C-1",
        "customer_name": "Acme",
        "invoice_key": "INV",
        "currency": "USD",
        "amount": Decimal("100.00"),
        "details": {},
        "state": "open",
        "route_name": "catch-all",
        "route_reason": "bench",
        "policy_hash": "0" * 64,
        "steps": [step],
        "current_step": 0,
        "channel": "C0BILLING",
        "invoice_fingerprint": "0" * 64,
        "timing": {"remind_every_s": 14400},
        "created_at": NOW,
        "updated_at": NOW,
    }
    with db.engine.begin() as connection:
        for start in range(0, OPEN, 10_000):
            connection.execute(
                insert(ExceptionRow.__table__),  # type: ignore[attr-defined]
                [exception | {"event_id": f"e{n}"} for n in range(start, start + 10_000)],
            )
        timers = [
            {
                "exception_id": n + 1,
                "step": 0,
                "kind": "remind" if n % 2 else "escalate",
                "level": 0,
                "state": "pending",
                "created_at": NOW,
                "due_at": NOW - timedelta(minutes=1) if n < DUE else NOW + timedelta(hours=4),
            }
            for n in range(OPEN)
        ]
        for start in range(0, OPEN, 10_000):
            connection.execute(insert(TimerRow.__table__), timers[start : start + 10_000])  # type: ignore[attr-defined]


def main() -> None:
    server = os.environ.get("BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as folder:
        if server:
            with scratch_postgres(server, "cs_bench_timers") as url:
                measure(url)
        else:
            measure(f"sqlite:///{folder}/bench.db")


def measure(url: str) -> None:
    upgrade(url)
    db = Database(url)
    started = time.perf_counter()
    populate(db)
    print(f"timers: populated {OPEN:,} open exceptions in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    report = TimerSweep(db, FixedClock(), worker_id="bench", batch=500).sweep()
    elapsed = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"timers: one sweep claimed {report.claimed:,} and fired {report.fired:,} due timers "
        f"of {OPEN:,} open exceptions in {elapsed:.3f} s "
        f"({report.fired / elapsed:,.0f} timers/s) on {db.dialect}; peak RSS {rss_mb:.0f} MB"
    )
    second = []
    for _ in range(3):
        t0 = time.perf_counter()
        TimerSweep(db, FixedClock(), worker_id="bench").sweep()
        second.append(time.perf_counter() - t0)
    print(f"timers: an idle sweep (nothing due) takes {statistics.median(second) * 1000:.1f} ms")
    db.dispose()


if __name__ == "__main__":
    main()
