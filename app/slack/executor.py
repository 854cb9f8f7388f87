"""Countersign's own workers for what a Slack listener does after its ack.

A listener acks at once and hands its work (the decision, the answer to the person, opening
the reject modal, publishing Home) to `Work`: a fixed pool of threads behind a bounded queue.
When the queue is full `submit` says so at once instead of blocking, and the listener tells
the person that Countersign is busy. Those notices have their own single thread and queue so
that a full pool can still say "busy"; when that queue is full too the notice is dropped and
logged. Bolt's own listener threads are not used (the app runs with process_before_response,
so the ack is the listener's return), and the ack never waits for a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import structlog

log = structlog.get_logger("countersign.slack.work")
T = TypeVar("T")
WORKERS = 4  # mostly waiting on Slack and the database; few, so acks keep the GIL
QUEUE = 200  # waiting beyond this many is refused ("busy") rather than answered late
BUSY = "Countersign is busy right now; nothing was recorded. Please try again in a moment."


class Busy(Exception):
    """The work queue is full; nothing was started."""


class _Lane:
    def __init__(self, name: str, workers: int, queue: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(workers + queue)

    def submit(self, task: Callable[[], T]) -> Future[T]:
        if not self._slots.acquire(blocking=False):
            raise Busy
        try:
            future = self._pool.submit(task)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


class Work:
    def __init__(self, workers: int = WORKERS, queue: int = QUEUE) -> None:
        self._work = _Lane("slack-work", workers, queue)
        self._notices = _Lane("slack-notice", 1, queue)

    def submit(self, task: Callable[[], T], what: str) -> Future[T]:
        """Run `task` on a worker; Busy when `workers + queue` tasks are already taken."""
        try:
            return self._work.submit(_logged(task, what))
        except Busy:
            log.warning("slack.work_busy", what=what)
            raise

    def notice(self, task: Callable[[], None], what: str) -> None:
        """Best effort, in order, on its own thread: a busy notice or a late refusal."""
        try:
            self._notices.submit(_logged(task, what))
        except Busy:
            log.warning("slack.notice_dropped", what=what)

    def shutdown(self) -> None:
        """Finish what was accepted (each task is bounded by its Slack and database timeouts)."""
        self._work.shutdown()
        self._notices.shutdown()


def _logged(task: Callable[[], T], what: str) -> Callable[[], T]:
    def run() -> T:
        try:
            return task()
        except Exception as error:
            log.error("slack.work_failed", what=what, error=repr(error)[:300], exc_info=error)
            raise

    return run
