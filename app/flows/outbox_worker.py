"""Drains the outbox: claims due rows, runs their handler, records the result.

RetryLater (a 429, an outage) reschedules without limit, honouring Retry-After: a Slack outage
delays a card, never loses it. Any other failure is retried with backoff up to `max_attempts`,
then parked as dead and audited with an error id that is also in the log."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from app.clock import Clock
from app.flows.ports import DeliveryFailed, RetryLater
from app.store import audit, outbox
from app.store.db import Database

Handler = Callable[[dict[str, Any], datetime], None]
log = structlog.get_logger("countersign.outbox")


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 300))


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
    ) -> None:
        self._db, self._handlers, self._clock = db, handlers, clock
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self._max_attempts = max_attempts
        self._lease = lease

    def drain(self) -> int:
        """Run every due job until none is left; return how many ran. Jobs are claimed one at a
        time, right before each runs, so the lease covers that job's call and no other's."""
        done = 0
        while jobs := outbox.claim(
            self._db, worker=self.worker_id, now=self._clock.now(), lease=self._lease
        ):
            for job in jobs:
                self._run(job)
                done += 1
        return done

    def _run(self, job: outbox.Job) -> None:
        handler = self._handlers.get(job.kind)
        now = self._clock.now()
        if handler is None:
            self._dead(job, f"no handler for job kind {job.kind!r}", now)
            return
        try:
            handler(job.payload, now)
        except RetryLater as wait:
            after = timedelta(seconds=wait.after) if wait.after else backoff(job.attempts)
            log.info(
                "outbox.retry_later",
                job=job.id,
                kind=job.kind,
                after_s=after.seconds,
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
                self._dead(job, message, now)
            else:
                after = backoff(job.attempts)
                self._settled(
                    job, outbox.retry_later(self._db, job, now=now, after=after, error=message)
                )
        else:
            self._settled(job, outbox.complete(self._db, job, now=now))

    def _settled(self, job: outbox.Job, held: bool) -> bool:
        """Log when the outcome was not written because another worker holds the job now."""
        if not held:
            log.warning("outbox.claim_lost", job=job.id, kind=job.kind, attempt=job.attempts)
        return held

    def _dead(self, job: outbox.Job, why: str, now: datetime) -> None:
        log.error("outbox.dead", job=job.id, kind=job.kind, why=why)
        if not self._settled(job, outbox.give_up(self._db, job, now=now, error=why)):
            return
        with self._db.transaction() as session:
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="outbox.dead",
                exception_id=job.payload.get("exception_id"),
                detail={"job": job.id, "kind": job.kind, "why": why},
            )
