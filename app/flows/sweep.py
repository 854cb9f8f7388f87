"""The timer sweep: claim due timers, act on each once, schedule what comes next.

Claimed like outbox rows (app/store/claims.py), so two instances never act on the same timer.
A timer whose exception was decided, or moved to another step, meanwhile does nothing. A timer
that falls due while its calendar is closed (say the app was down over a holiday) is moved to
the next opening instead of firing at 3 a.m. Each fired timer schedules its successor from *now*,
so after an outage every overdue timer fires once, not once per missed interval. Slack messages
go out through the outbox, after the batch commits."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlmodel import Session, col, select, update

from app.clock import Clock
from app.domain.lifecycle import State
from app.flows import metrics, timer_actions
from app.flows.timing import EXPIRE, REMIND, clockwork
from app.store import bulk
from app.store.claims import claim_due
from app.store.db import Database
from app.store.tables import DecisionRow, ExceptionRow, TimerRow

LEASE = timedelta(minutes=2)
log = structlog.get_logger("countersign.timers")


@dataclass
class SweepReport:
    claimed: int = 0
    fired: int = 0
    deferred: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class _Due:
    id: int
    exception_id: int
    step: int
    kind: str
    level: int


class TimerSweep:
    def __init__(self, db: Database, clock: Clock, *, worker_id: str, batch: int = 500) -> None:
        self._db, self._clock, self._worker, self._batch = db, clock, worker_id, batch

    def sweep(self) -> SweepReport:
        """Act on every timer due now; return what happened."""
        report = SweepReport()
        table = TimerRow.__table__  # type: ignore[attr-defined]
        while True:
            now = self._clock.now()
            rows = claim_due(
                self._db,
                table,
                due_column="due_at",
                worker=self._worker,
                now=now,
                lease=LEASE,
                limit=self._batch,
                returning=("id", "exception_id", "step", "kind", "level"),
            )
            if not rows:
                return report
            report.claimed += len(rows)
            fired: Counter[str] = Counter()
            with self._db.transaction() as session, bulk.batched_inserts(session):
                due = [_Due(r.id, r.exception_id, r.step, r.kind, r.level) for r in rows]
                self._act(session, due, now, report, fired)
            for kind, count in fired.items():  # counted once they committed
                metrics.TIMERS_FIRED.labels(kind).inc(count)
            if report.fired:
                log.info("timers.swept", **vars(report))

    def _act(
        self,
        session: Session,
        due: list[_Due],
        now: datetime,
        report: SweepReport,
        fired: Counter[str],
    ) -> None:
        ids = sorted({d.exception_id for d in due})
        exceptions = {
            row.id: row
            for row in session.exec(
                select(ExceptionRow)
                .where(col(ExceptionRow.id).in_(ids))
                .order_by(col(ExceptionRow.id))
                .with_for_update()
            ).all()
        }
        decided: dict[tuple[int, int], set[str]] = defaultdict(set)
        for decision in session.exec(
            select(DecisionRow).where(col(DecisionRow.exception_id).in_(ids))
        ).all():
            decided[(decision.exception_id, decision.step)].add(decision.approver)
            if decision.on_behalf_of:  # a delegate decided for them: they have acted too
                decided[(decision.exception_id, decision.step)].add(decision.on_behalf_of)
        finished: dict[str, list[int]] = defaultdict(list)
        for timer in due:
            row = exceptions.get(timer.exception_id)
            if row is None or row.state != State.OPEN or row.current_step != timer.step:
                finished["skipped"].append(timer.id)
                report.skipped += 1
                continue
            clock = clockwork(row.timing)
            if not clock.is_open(now):
                session.execute(
                    update(TimerRow)
                    .where(col(TimerRow.id) == timer.id)
                    .values(due_at=clock.next_opening(now), claimed_by=None, claim_expires_at=None)
                )
                report.deferred += 1
                continue
            acted = decided[(timer.exception_id, timer.step)]
            if timer.kind == REMIND:
                timer_actions.remind(session, row, clock, acted, now)
            elif timer.kind == EXPIRE:
                timer_actions.expire(session, row, clock, acted, now)
            elif not timer_actions.escalate(session, row, clock, timer.level, now):
                finished["skipped"].append(timer.id)  # that level was applied meanwhile
                report.skipped += 1
                continue
            finished["done"].append(timer.id)
            report.fired += 1
            fired[timer.kind] += 1
        for state, timer_ids in finished.items():
            session.execute(
                update(TimerRow)
                .where(col(TimerRow.id).in_(timer_ids))
                .values(state=state, fired_at=now, claimed_by=None, claim_expires_at=None)
            )
