"""Background jobs on APScheduler: the outbox drain and the timer sweep.

`wake()` runs the drain now instead of waiting for the next tick, so a card goes out right
after the transaction that queued it commits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

log = structlog.get_logger("countersign.scheduler")


class Scheduler:
    def __init__(
        self,
        drain: Callable[[], int],
        poll_seconds: float,
        sweep: Callable[[], object] | None = None,
        sweep_seconds: float = 5.0,
    ) -> None:
        self._drain = drain
        self._lock = threading.Lock()
        self._woken = threading.Event()
        self._busy = False
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(
            self._tick,
            "interval",
            seconds=poll_seconds,
            id="outbox",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )

    def _tick(self) -> None:
        try:
            done = self._drain()
        except Exception:
            log.exception("outbox.drain_failed")
            return
        if done:
            log.debug("outbox.drained", jobs=done)

    def start(self) -> None:
        self._scheduler.start()

    def wake(self) -> None:
        """Drain now; if a drain is running, it goes round once more instead."""
        with self._lock:
            self._woken.set()
            if self._busy or not self._scheduler.running:
                return
        self._scheduler.modify_job("outbox", next_run_time=datetime.now(UTC))

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
