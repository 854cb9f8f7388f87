"""Drains the outbox: claims due rows, runs their handler, records the result.

Every job has a budget, so the outbox always comes to rest. A failure is retried with backoff
up to `max_attempts`. RetryLater (a 429, an outage, a card not posted yet) honours Retry-After
and has a larger budget, `retry_later_attempts` (with the backoff capped at 5 minutes, the
default rides out hours of outage). A job over its budget, refused for good, or of an unknown
kind, or needing a person (NeedsAttention: a revoked credential, a missing permission), is
parked as dead at once: audited with the reason, counted in a metric, and announced in the
policy's admin channel, so people can retry or cancel it (`countersign outbox`).

A paced job (Paced: the rate limiter has no slot for it now, or a 429's Retry-After) is not a
failure: it is due again at exactly the moment named, with its attempt given back. `drain` runs
`concurrency` threads, each claiming one job at a time, so posts to different channels are in
flight together; a thread with nothing due stays while a paced job comes due within
`linger_seconds` (woken early by `nudge`), so no tick is waited for after a pause.

`queues` splits the jobs by destination (Slack's, the rest): thread i claims from queue
i mod n first and from the others only when its own has nothing due. So a backlog of one kind
of work (a flood of Intacct snapshots at month end) never stands between an approver and a
card: each queue always has threads of its own, and no thread idles while any work is due."""

from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from app.clock import Clock
from app.domain.lifecycle import exception_label
from app.flows import jobs
from app.flows.ports import DeliveryFailed, NeedsAttention, Paced, RetryLater
from app.store import audit, outbox
from app.store.db import Database

Handler = Callable[[dict[str, Any], datetime], None]
log = structlog.get_logger("countersign.outbox")
JOBS = Gauge("countersign_outbox_jobs", "Outbox jobs pending or parked (dead)", ["state"])
PARKED = Counter("countersign_outbox_parked_total", "Outbox jobs parked as dead", ["kind"])
ATTENTION = Counter(
    "countersign_needs_attention_total",
    "Jobs parked because a person must fix something (by error code)",
    ["error"],
)
PACED = Counter("countersign_outbox_paced_total", "Job runs put back by the rate limiter")
RETRY_LATER_FACTOR = 10
PACE_MARGIN = 0.002  # come back just after the slot, never a hair before it
ABOUT_JOB = "about_parked_job"  # marks a notice about a parked job (never announced in turn)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 300))


@dataclass(frozen=True)
class Attention:
    """The last job parked because a person must fix something (shown by /readyz)."""

    job: int
    kind: str
    code: str | None
    reason: str
    at: datetime


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        clock: Clock,
        *,
        worker_id: str | None = None,
        max_attempts: int = 12,
        lease: timedelta = outbox.LEASE,
        retry_later_attempts: int | None = None,
        admin_channel: Callable[[], str | None] = lambda: None,
        on_progress: Callable[[], None] = lambda: None,
        concurrency: int = 1,
        linger_seconds: float = 1.0,
        queues: Sequence[outbox.Kinds] = (),
    ) -> None:
        self._db, self._handlers, self._clock = db, handlers, clock
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self._max_attempts = max_attempts
        self._lease = lease
        self._retry_later_attempts = retry_later_attempts or max_attempts * RETRY_LATER_FACTOR
        self._admin_channel, self._on_progress = admin_channel, on_progress
        self._concurrency, self._linger = max(1, concurrency), linger_seconds
        self._queues: list[outbox.Kinds | None] = list(queues) or [None]
        self._soon: list[float] = []  # monotonic times at which paced jobs come due
        self._lock = threading.Lock()
        self._nudged = threading.Event()
        self._stopping = threading.Event()
        self.attention: Attention | None = None

    def drain(self) -> int:
        """Run every due job until none is left; return how many ran. Jobs are claimed one at a
        time, right before each runs, so the lease covers that job's call and no other's."""
        if self._concurrency == 1:
            return self._drain_one(0)
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="outbox") as pool:
            return sum(pool.map(self._drain_one, range(self._concurrency)))

    def stop(self) -> None:
        """Shutting down: drain threads finish the job they run and take no other."""
        self._stopping.set()
        self._nudged.set()

    def nudge(self) -> None:
        """New work was committed: a lingering drain thread looks again now."""
        self._nudged.set()

    def _drain_one(self, index: int) -> int:
        n = len(self._queues)
        order = [self._queues[(index + k) % n] for k in range(n)]  # its own queue first
        done = 0
        while not self._stopping.is_set():
            self._nudged.clear()
            claimed_at = time.monotonic()
            jobs = self._claim(order)
            for job in jobs:
                self._run(job)
                self._on_progress()
                done += 1
            if not jobs:
                wait = self._next_soon(claimed_at)
                if wait is None:
                    return done
                self._nudged.wait(wait)
        return done

    def _claim(self, order: list[outbox.Kinds | None]) -> list[outbox.Job]:
        """One due job from the first of these queues that has one (none: nothing is due)."""
        for kinds in order:
            jobs = outbox.claim(
                self._db,
                worker=self.worker_id,
                now=self._clock.now(),
                lease=self._lease,
                kinds=kinds,
            )
            if jobs:
                return jobs
        return []

    def _next_soon(self, claimed_at: float) -> float | None:
        """Seconds until the next paced job comes due, if within the linger time (those due
        before the claim that just found nothing are forgotten: someone else ran them)."""
        now = time.monotonic()
        with self._lock:
            while self._soon and self._soon[0] <= claimed_at:
                heapq.heappop(self._soon)
            if not self._soon or self._soon[0] - now > self._linger:
                return None
            return max(0.0, self._soon[0] - now)

    def _paced(self, job: outbox.Job, wait: Paced, now: datetime) -> None:
        PACED.inc()
        after = wait.wait + PACE_MARGIN
        with self._lock:
            heapq.heappush(self._soon, time.monotonic() + after)
        self._settled(
            job,
            outbox.retry_later(
                self._db,
                job,
                now=now,
                after=timedelta(seconds=after),
                error=str(wait),
                refund=not wait.refused,
            ),
        )

    def _run(self, job: outbox.Job) -> None:
        handler = self._handlers.get(job.kind)
        now = self._clock.now()
        if handler is None:
            self._dead(job, f"no handler for job kind {job.kind!r}", now)
            return
        try:
            with outbox.running(job, now) as run:
                _call(handler, job, run)
        except NeedsAttention as problem:  # credentials, a permission: only a person can fix it
            ATTENTION.labels(problem.code or "other").inc()
            self.attention = Attention(job.id, job.kind, problem.code, problem.reason, now)
            self._dead(job, f"needs a person: {problem.reason}", now)
        except Paced as wait:
            if wait.refused and job.attempts >= self._retry_later_attempts:
                self._dead(job, f"still rate-limited after {job.attempts} attempts: {wait}", now)
                return
            self._paced(job, wait, now)
        except RetryLater as wait:
            if job.attempts >= self._retry_later_attempts:
                self._dead(job, f"still waiting after {job.attempts} attempts: {wait}", now)
                return
            after = timedelta(seconds=wait.after) if wait.after else backoff(job.attempts)
            log.info(
                "outbox.retry_later",
                job=job.id,
                kind=job.kind,
                attempts=job.attempts,
                after_s=after.total_seconds(),
                why=str(wait),
            )
            self._settled(
                job, outbox.retry_later(self._db, job, now=now, after=after, error=str(wait))
            )
        except DeliveryFailed as refusal:
            self._dead(job, str(refusal), now)
        except Exception as error:
            error_id = uuid.uuid4().hex[:12]
            log.exception("outbox.failed", job=job.id, kind=job.kind, error_id=error_id)
            message = f"{type(error).__name__} (error id {error_id})"
            if job.attempts >= self._max_attempts:
                self._dead(job, f"failed {job.attempts} times: {message}", now)
            else:
                after = backoff(job.attempts)
                self._settled(
                    job, outbox.retry_later(self._db, job, now=now, after=after, error=message)
                )
        else:
            if not run.done:  # the handler did not complete it in its own last transaction
                self._settled(job, outbox.complete(self._db, job, now=now, then=run.then))
            if self.attention is not None and self.attention.job == job.id:
                self.attention = None  # the parked job was retried and went through

    def _settled(self, job: outbox.Job, held: bool) -> bool:
        """Log when the outcome was not written because another worker holds the job now."""
        if not held:
            log.warning("outbox.claim_lost", job=job.id, kind=job.kind, attempt=job.attempts)
        return held

    def _dead(self, job: outbox.Job, why: str, now: datetime) -> None:
        log.error("outbox.dead", job=job.id, kind=job.kind, attempts=job.attempts, why=why)
        if not self._settled(job, outbox.give_up(self._db, job, now=now, error=why)):
            return
        PARKED.labels(job.kind).inc()
        exception_id = job.payload.get("exception_id")
        with self._db.transaction() as session:
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="outbox.dead",
                exception_id=exception_id,
                detail={"job": job.id, "kind": job.kind, "why": why},
            )
            channel = self._admin_channel()
            if channel and ABOUT_JOB not in job.payload:
                about = f" for {exception_label(int(exception_id))}" if exception_id else ""
                text = (
                    f"Outbox job {job.id} ({job.kind}{about}) was parked after {job.attempts} "
                    f"attempt(s): {why[:500]}. See `countersign outbox list`; "
                    f"`countersign outbox retry {job.id}` tries it again."
                )
                outbox.enqueue(
                    session,
                    kind=jobs.CHANNEL_NOTICE,
                    payload={"channel": channel, "text": text, ABOUT_JOB: job.id},
                    now=now,
                )


def _call(handler: Handler, job: outbox.Job, run: outbox.Running) -> None:
    """Run the handler. Once it has completed its job (`outbox.finish`, committed), what it
    does after cannot undo that: a failure then is logged, and the job stays done."""
    try:
        handler(job.payload, run.now)
    except Exception:
        if not run.done:
            raise
        log.exception("outbox.failed_after_completion", job=job.id, kind=job.kind)


def publish_counts(db: Database) -> None:
    """Set the gauges of pending and parked jobs from the database (all instances' work)."""
    for state, count in outbox.counts(db).items():
        JOBS.labels(state).set(count)
