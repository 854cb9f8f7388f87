"""The timer sweep: claim due timers, act on each once, schedule what comes next.

Claimed like outbox rows (app/store/claims.py), so two instances never act on the same timer.
A timer whose exception was decided, or moved to another step, meanwhile does nothing. A timer
that falls due while its calendar is closed (say the app was down over a holiday) is moved to
the next opening instead of firing at 3 a.m. Each fired timer schedules its successor from *now*,
so after an outage every overdue timer fires once, not once per missed interval. Slack messages
go out through the outbox, after the batch commits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import Session, col, select, update

from app.clock import Clock
from app.domain.business_time import Clockwork, humanize
from app.domain.lifecycle import State, exception_label, move
from app.flows import jobs
from app.flows.timing import ESCALATE, EXPIRE, REMIND, add_timer, cancel_timers, clockwork
from app.store import audit
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
                returning=("id", "exception_id", "step", "kind"),
            )
            if not rows:
                return report
            report.claimed += len(rows)
            with self._db.transaction() as session:
                due = [_Due(r.id, r.exception_id, r.step, r.kind) for r in rows]
                self._act(session, due, now, report)
            if report.fired:
                log.info("timers.swept", **vars(report))

    def _act(self, session: Session, due: list[_Due], now: datetime, report: SweepReport) -> None:
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
            action = {REMIND: self._remind, ESCALATE: self._escalate, EXPIRE: self._expire}
            action[timer.kind](session, row, clock, decided[(timer.exception_id, timer.step)], now)
            finished["done"].append(timer.id)
            report.fired += 1
        for state, timer_ids in finished.items():
            session.execute(
                update(TimerRow)
                .where(col(TimerRow.id).in_(timer_ids))
                .values(state=state, fired_at=now, claimed_by=None, claim_expires_at=None)
            )

    def _waited(self, row: ExceptionRow, clock: Clockwork, now: datetime) -> str:
        opened = datetime.fromisoformat(
            row.timing.get("step_opened_at") or row.created_at.isoformat()
        )
        business = " business" if row.timing.get("calendar") else ""
        return f"{humanize(clock.between(opened, now))}{business} time"

    def _remind(
        self, session: Session, row: ExceptionRow, clock: Clockwork, acted: set[str], now: datetime
    ) -> None:
        assert row.id is not None
        waiting = [p for p in row.steps[row.current_step]["approvers"] if p not in acted]
        waited = self._waited(row, clock, now)
        for person in waiting:
            jobs.queue_dm_card(
                session,
                row.id,
                person,
                f"Reminder: {exception_label(row.id)} has waited {waited} for your decision.",
                now=now,
            )
        audit.append(
            session,
            at=now,
            actor="countersign",
            action="timer.reminded",
            exception_id=row.id,
            detail={"step": row.current_step, "approvers": waiting, "waited": waited},
        )
        every = row.timing.get("remind_every_s")
        if every:
            add_timer(
                session,
                row.id,
                row.current_step,
                REMIND,
                clock.after(now, timedelta(seconds=every)),
                now,
            )

    def _escalate(
        self,
        session: Session,
        row: ExceptionRow,
        clock: Clockwork,
        acted: set[str],
        now: datetime,
        why: str | None = None,
    ) -> None:
        assert row.id is not None
        step: dict[str, Any] = dict(row.steps[row.current_step])
        after = step.get("escalate_after_s")
        why = why or f"no decision in {humanize(timedelta(seconds=after or 0))}" + (
            " of business time" if row.timing.get("calendar") else ""
        )
        added = [p for p in step.get("escalate_to", []) if p not in step["approvers"]]
        step["approvers"] = [*step["approvers"], *added]
        step["escalated"] = True
        row.steps = [*row.steps[: row.current_step], step, *row.steps[row.current_step + 1 :]]
        row.updated_at = now
        session.add(row)
        audit.append(
            session,
            at=now,
            actor="countersign",
            action="timer.escalated",
            exception_id=row.id,
            detail={"step": row.current_step, "added": added, "why": why},
        )
        label = exception_label(row.id)
        for person in added:
            jobs.queue_dm_card(
                session, row.id, person, f"Escalated to you: {label} — {why}.", now=now
            )
        mentions = ", ".join(f"<@{p}>" if p[:1] in "UW" and "@" not in p else p for p in added)
        jobs.queue_thread_note(
            session, row.id, f"Escalated to {mentions or 'nobody new'}: {why}.", now=now
        )
        jobs.queue_card_update(session, row.id, now=now)

    def _expire(
        self, session: Session, row: ExceptionRow, clock: Clockwork, acted: set[str], now: datetime
    ) -> None:
        assert row.id is not None
        rule = row.timing.get("on_expire", "keep")
        why = f"expired: no decision in {self._waited(row, clock, now)}"
        audit.append(
            session,
            at=now,
            actor="countersign",
            action="timer.expired",
            exception_id=row.id,
            detail={"step": row.current_step, "on_expire": rule},
        )
        if rule == "reject":
            row.state = move(State(row.state), State.REJECTED)
            row.state_note, row.updated_at = why.capitalize(), now
            session.add(row)
            cancel_timers(session, row.id)
            jobs.queue_card_update(session, row.id, now=now)
            jobs.queue_thread_note(session, row.id, f"Rejected by policy: {why}.", now=now)
            if row.requested_by_slack:
                jobs.queue_notify(
                    session,
                    row.requested_by_slack,
                    f"{exception_label(row.id)} was rejected: {why}.",
                    now=now,
                )
        elif (
            rule == "escalate"
            and not row.steps[row.current_step].get("escalated")
            and (row.steps[row.current_step].get("escalate_to"))
        ):
            self._escalate(session, row, clock, acted, now, why=why)
        else:
            jobs.queue_thread_note(session, row.id, f"Still waiting: {why}.", now=now)
