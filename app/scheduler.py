"""Background jobs on APScheduler: the outbox drain, the timer sweep and the health probe.

`wake()` runs the drain now instead of waiting for the next tick, so a card goes out right
after the transaction that queued it commits. Each job keeps a heartbeat that `/readyz` reads,
and a failing job logs one line when it starts failing, at most one a minute while it keeps
failing, and one when it recovers: an unreachable database never floods the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import DBAPIError

log = structlog.get_logger("countersign.scheduler")
REPEAT_LOG_SECONDS = 60.0
OUTBOX, TIMERS, HEALTH = "outbox", "timers", "health"
# A tick that finds its job still running is skipped by design (max_instances=1); APScheduler
# would log that as a warning every interval. Our own lines say what matters.
for _name in ("apscheduler.scheduler", "apscheduler.executors.default"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass
class Beat:
    """What one job last did, on the monotonic clock."""

    interval: float
    started: float | None = None
    finished: float | None = None
    running: bool = False
    failing_since: float | None = None
    failures: int = 0
    last_error: str | None = None
    last_logged: float = 0.0


def one_line(error: BaseException) -> str:
    """One line: the exception's type and the first line of its message."""
    origin = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    first = (str(origin).strip().splitlines() or [""])[0][:300]
    return f"{type(origin).__name__}: {first}" if first else type(origin).__name__


class Scheduler:
    def __init__(
        self,
        drain: Callable[[], int],
        poll_seconds: float,
        sweep: Callable[[], object] | None = None,
        sweep_seconds: float = 5.0,
        health: Callable[[], object] | None = None,
        health_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._drain = drain
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._woken = threading.Event()
        self._busy = False
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self.beats: dict[str, Beat] = {}
        self._started_at = monotonic()
        self._add(OUTBOX, self._drain_until_quiet, poll_seconds)
        if sweep is not None:
            self._add(TIMERS, sweep, sweep_seconds)
        if health is not None:
            self._add(HEALTH, health, health_seconds)

    def every(self, name: str, work: Callable[[], object], seconds: float) -> None:
        """Run `work` every `seconds` (first run now), with the same failure handling."""
        self._add(name, work, seconds)

    def _add(self, name: str, work: Callable[[], object], seconds: float) -> None:
        self.beats[name] = Beat(interval=seconds)
        self._scheduler.add_job(
            self._run,
            "interval",
            args=(name, work),
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )

    def _run(self, name: str, work: Callable[[], object]) -> None:
        beat = self.beats[name]
        beat.started, beat.running = self._monotonic(), True
        try:
            work()
        except Exception as error:  # a job must never die of one failure: it runs again
            self._failed(name, beat, error)
        else:
            if beat.failing_since is not None:
                log.info(f"{name}.recovered", failures=beat.failures)
            beat.failing_since, beat.failures, beat.last_error = None, 0, None
        finally:
            beat.finished, beat.running = self._monotonic(), False

    def _failed(self, name: str, beat: Beat, error: Exception) -> None:
        now, line = self._monotonic(), one_line(error)
        first = beat.failing_since is None
        beat.failures += 1
        if first:
            beat.failing_since = now
        changed = line != beat.last_error
        beat.last_error = line
        if first or changed or now - beat.last_logged >= REPEAT_LOG_SECONDS:
            beat.last_logged = now
            # a database that went away is expected: no traceback; anything else is a bug once
            trace = error if (first or changed) and not isinstance(error, DBAPIError) else None
            log.warning(f"{name}.failing", error=line, failures=beat.failures, exc_info=trace)

    def _drain_until_quiet(self) -> None:
        """Drain; if woken meanwhile (new work committed), go round once more."""
        with self._lock:
            self._busy = True
            self._woken.clear()
        try:
            while True:
                done = self._drain()
                if done:
                    log.debug("outbox.drained", jobs=done)
                with self._lock:
                    if not self._woken.is_set():
                        self._busy = False
                        return
                    self._woken.clear()
        finally:
            with self._lock:
                self._busy = False

    def start(self) -> None:
        self._started_at = self._monotonic()
        self._scheduler.start()

    def touch(self, name: str) -> None:
        """A long run of `name` made progress (one outbox job done): it is not stuck."""
        self.beats[name].started = self._monotonic()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def wake(self) -> None:
        """Drain now; if a drain is running, it goes round once more instead."""
        with self._lock:
            self._woken.set()
            if self._busy or not self._scheduler.running:
                return
        self._scheduler.modify_job(OUTBOX, next_run_time=datetime.now(UTC))

    def problems(self, stall_seconds: float = 300.0) -> dict[str, str]:
        """Per job, why it is not doing its work (empty when every job is alive)."""
        if not self._scheduler.running:
            return dict.fromkeys(self.beats, "the scheduler is not running")
        now, found = self._monotonic(), {}
        for name, beat in self.beats.items():
            if beat.running and beat.started is not None and now - beat.started > stall_seconds:
                found[name] = f"stuck: no progress for {now - beat.started:.0f} s"
            elif not beat.running:
                last = beat.finished if beat.finished is not None else self._started_at
                if now - last > max(30.0, 5 * beat.interval):
                    found[name] = (
                        f"last ran {now - last:.0f} s ago (every {beat.interval:g} s expected)"
                    )
        return found

    def failing(self) -> dict[str, str]:
        """Per job that failed its last run, the error in one line."""
        return {name: b.last_error for name, b in self.beats.items() if b.last_error}

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
