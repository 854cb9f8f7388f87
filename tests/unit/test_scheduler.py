"""The scheduler runs the outbox drain, the timer sweep and the health probe on their
intervals; wake() during a drain goes round again; a failing job never floods the log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from app.scheduler import Scheduler


def _eventually(probe: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_sweep_and_health_run_on_their_intervals() -> None:
    """Given a sweep and a health probe, each runs again and again, not only the drain."""
    sweeps: list[float] = []
    probes: list[float] = []
    scheduler = Scheduler(
        lambda: 0,
        60,
        sweep=lambda: sweeps.append(time.monotonic()),
        sweep_seconds=0.05,
        health=lambda: probes.append(time.monotonic()),
        health_seconds=0.05,
    )
    scheduler.start()
    try:
        _eventually(lambda: len(sweeps) >= 3 and len(probes) >= 3)
        assert scheduler.problems() == {}
    finally:
        scheduler.stop()
    assert set(scheduler.problems()) == {"outbox", "timers", "health"}


def test_wake_during_a_drain_makes_it_go_round_once_more() -> None:
    """Work committed while a drain runs is drained right after, not at the next tick."""
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def drain() -> int:
        calls.append(1)
        if len(calls) == 1:
            started.set()
            release.wait(5)
        return 0

    scheduler = Scheduler(drain, 60)  # the next tick is a minute away
    scheduler.start()
    try:
        assert started.wait(5)
        scheduler.wake()
        release.set()
        _eventually(lambda: len(calls) == 2)
        time.sleep(0.2)
        assert len(calls) == 2
        scheduler.wake()  # idle now: runs at once
        _eventually(lambda: len(calls) == 3)
    finally:
        scheduler.stop()


def test_a_failing_job_logs_once_then_once_on_recovery() -> None:
    """A database that is away: one warning line (no traceback), then one on recovery."""
    failing = threading.Event()
    failing.set()
    runs: list[int] = []

    def drain() -> int:
        runs.append(1)
        if failing.is_set():
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        return 0

    with capture_logs() as logs:
        scheduler = Scheduler(drain, 0.02)
        scheduler.start()
        try:
            _eventually(lambda: len(runs) >= 20)
            assert "connection refused" in scheduler.failing()["outbox"]
            failing.clear()
            _eventually(lambda: not scheduler.failing())
        finally:
            scheduler.stop()
    events = [(entry["event"], entry.get("exc_info")) for entry in logs]
    assert events == [("outbox.failing", None), ("outbox.recovered", None)]
