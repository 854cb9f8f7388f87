"""Group commit: concurrent single-event requests written together by one writer thread.

Each request reads, validates and routes its event itself (Intake.prepare, outside the writer),
puts the plan on a queue and waits for its own answer. The writer takes whatever has queued up
(at most MAX_GROUP events) and writes it as one batch (Intake.write_prepared): one transaction,
one fsync, one audit head update for the whole group, with intake's per-event guard intact (a
poison event is answered and kept on its own; the others are written). While the writer waits
on the database, the next requests prepare theirs. A request is answered only after the
transaction holding its event has committed."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import structlog

from app.flows.intake import Incoming, Intake, IntakeOutcome, Plan

log = structlog.get_logger("countersign.group_commit")
MAX_GROUP = 500
_STOP = object()


class GroupCommit:
    """`submit` from any thread; the answer comes on the returned future."""

    def __init__(self, intake: Intake, *, via: str = "webhook", max_group: int = MAX_GROUP) -> None:
        self._intake, self._via, self._max = intake, via, max_group
        self._queue: queue.SimpleQueue[tuple[Plan, Future[IntakeOutcome]] | object] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def prepare(self, item: Incoming) -> Plan:
        """Read, validate and route one event in the caller's thread (no database)."""
        (plan,) = self._intake.prepare([item], via=self._via)
        return plan

    def submit(self, item: Incoming | Plan) -> Future[IntakeOutcome]:
        """Queue one event (or its plan, from `prepare`); the future holds its outcome once
        durable (or the error)."""
        plan = self.prepare(item) if isinstance(item, Incoming) else item
        future: Future[IntakeOutcome] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
                self._thread.start()
            self._queue.put((plan, future))
        return future

    def stop(self) -> None:
        """Answer what is queued, then end the writer thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            group: list[tuple[Plan, Future[IntakeOutcome]]] = []
            entry = self._queue.get()
            while True:
                if entry is _STOP:
                    stopping = True
                elif isinstance(entry, tuple):
                    group.append(entry)
                if stopping or len(group) >= self._max:
                    break
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
            if group:
                self._write(group)

    def _write(self, group: list[tuple[Plan, Future[IntakeOutcome]]]) -> None:
        try:
            outcomes = self._intake.write_prepared([plan for plan, _ in group], via=self._via)
        except Exception as error:  # e.g. DatabaseUnavailable: every waiter gets it
            log.warning("group_commit.failed", events=len(group), error=str(error))
            for _, future in group:
                future.set_exception(error)
            return
        for (_, future), outcome in zip(group, outcomes, strict=True):
            future.set_result(outcome)
