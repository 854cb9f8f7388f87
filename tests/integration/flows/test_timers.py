"""Reminders, escalations and expiry on business time: weekends, holidays, DST, restarts,
and two instances sweeping at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from freezegun import freeze_time
from sqlmodel import col, select

from app.clock import SystemClock
from app.domain.approval import Actor, Outcome
from app.flows import jobs
from app.flows.decide import DecisionCommand, decide
from app.flows.intake import Intake
from app.flows.sweep import TimerSweep
from app.routing import load_policy_set
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow, OutboxRow, TimerRow

NY = ZoneInfo("America/New_York")
POLICIES = load_policy_set(Path(__file__).parent / "policies")


class SettableClock:
    """A clock the test moves by hand (a fake, not a mock: it is the Clock protocol)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def open_event(
    db: Database,
    now: datetime,
    type_: str = "usage_anomaly",
    n: int = 1,
    details: dict[str, Any] | None = None,
) -> int:
    event: dict[str, Any] = {
        "details": details or {},
        "event_id": f"evt-{type_}-{n}",
        "source": "metering",
        "type": type_,
        "occurred_at": now.isoformat(),
        "customer": {"id": "C-1", "name": "Acme"},
        "invoice": {"key": f"INV-{n}", "currency": "USD", "amount": "100.00"},
    }
    (outcome,) = Intake(db, lambda: POLICIES, wake=lambda: None).receive(
        [json.dumps(event)], via="test", now=now
    )
    assert outcome.exception_id is not None
    return outcome.exception_id


def timers(db: Database, state: str = "pending") -> list[TimerRow]:
    with db.transaction() as session:
        return list(
            session.exec(
                select(TimerRow).where(TimerRow.state == state).order_by(col(TimerRow.due_at))
            ).all()
        )


def audit_actions(db: Database, prefix: str = "timer.") -> list[str]:
    with db.transaction() as session:
        rows = session.exec(select(AuditEntryRow).order_by(col(AuditEntryRow.seq))).all()
    return [r.action for r in rows if r.action.startswith(prefix)]


def dm_jobs(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.kind == jobs.DM_CARD)).all()
    return [r.payload for r in rows]


def due(db: Database, kind: str) -> datetime:
    (timer,) = [t for t in timers(db) if t.kind == kind]
    return timer.due_at


def test_reminder_waits_over_the_weekend(db: Database) -> None:
    """Friday 16:00 + 4 business hours is Monday 11:00; nothing fires on Saturday."""
    with freeze_time(ny(2026, 11, 20, 16, 0)) as frozen:
        clock = SystemClock()
        open_event(db, clock.now())
        assert due(db, "remind") == ny(2026, 11, 23, 11, 0)
        sweep = TimerSweep(db, clock, worker_id="w1")
        frozen.move_to(ny(2026, 11, 21, 12, 0))
        assert sweep.sweep().fired == 0
        frozen.move_to(ny(2026, 11, 23, 11, 0))
        report = sweep.sweep()
    assert report.fired == 1
    assert sorted(p["user"] for p in dm_jobs(db)) == ["U0FINMGR1", "U0FINMGR2"]
    assert "waited 4 h business time" in dm_jobs(db)[0]["intro"]
    assert due(db, "remind") == ny(2026, 11, 23, 15, 0)


def test_escalation_skips_thanksgiving(db: Database) -> None:
    """Wednesday 17:00 + 8 business hours skips Thanksgiving Thursday: Friday 16:00."""
    with freeze_time(ny(2026, 11, 25, 17, 0)):
        open_event(db, SystemClock().now())
    assert due(db, "escalate") == ny(2026, 11, 27, 16, 0)


def test_escalation_across_the_dst_change(db: Database) -> None:
    """Friday 16:00 EDT + 8 business hours is Monday 15:00 EST, i.e. 20:00 UTC, not 19:00."""
    with freeze_time(ny(2026, 10, 30, 16, 0)):
        open_event(db, SystemClock().now())
    assert due(db, "escalate") == datetime(2026, 11, 2, 20, 0, tzinfo=UTC)


def test_escalation_adds_approvers_and_tells_them(db: Database) -> None:
    """An escalation adds the controller to the step, DMs them the card and notes it on the card."""
    clock = SettableClock(ny(2026, 11, 23, 9, 0))
    exception_id = open_event(db, clock.now())
    clock.current = ny(2026, 11, 23, 17, 0)
    TimerSweep(db, clock, worker_id="w1").sweep()
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        assert row.steps[0]["approvers"] == ["U0FINMGR1", "U0FINMGR2", "U0CTRL1"]
        notes = session.exec(select(OutboxRow).where(OutboxRow.kind == jobs.THREAD_NOTE)).all()
    assert "no decision in 8 business hours" in notes[0].payload["text"]
    assert [p["user"] for p in dm_jobs(db) if p["intro"].startswith("Escalated")] == ["U0CTRL1"]
    result = decide(
        db, DecisionCommand(exception_id, Actor("U0CTRL1"), Outcome.APPROVE), now=clock.now()
    )
    assert result.state == "approved"


def test_escalation_levels_chain_each_with_its_own_delay(db: Database) -> None:
    """Level 1 fires after 2 h, level 2 one hour after that; each adds its people once."""
    clock = SettableClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    exception_id = open_event(db, clock.now(), type_="mid_cycle_amendment")
    sweep = TimerSweep(db, clock, worker_id="w1")

    def approvers() -> list[str]:
        with db.transaction() as session:
            row = session.get(ExceptionRow, exception_id)
            assert row is not None
            return list(row.steps[0]["approvers"])

    clock.current += timedelta(hours=2)
    assert sweep.sweep().fired == 1
    assert approvers() == ["U0FINMGR1", "U0FINMGR2", "U0CTRL1"]
    assert due(db, "escalate") == clock.current + timedelta(hours=1)
    clock.current += timedelta(minutes=59)
    assert sweep.sweep().fired == 0
    clock.current += timedelta(minutes=1)
    assert sweep.sweep().fired == 1
    assert approvers() == ["U0FINMGR1", "U0FINMGR2", "U0CTRL1", "U0CFO1"]
    assert audit_actions(db) == ["timer.escalated", "timer.escalated"]
    with db.transaction() as session:
        notes = session.exec(select(OutboxRow).where(OutboxRow.kind == jobs.THREAD_NOTE)).all()
    assert "Escalation level 2" in notes[-1].payload["text"]
    assert "since the last escalation" in notes[-1].payload["text"]


def test_timer_of_a_decided_exception_does_nothing(db: Database) -> None:
    """After a decision the exception's timers are retired and a sweep sends nothing."""
    clock = SettableClock(ny(2026, 11, 23, 9, 0))
    exception_id = open_event(db, clock.now())
    decide(db, DecisionCommand(exception_id, Actor("U0FINMGR1"), Outcome.APPROVE), now=clock.now())
    clock.current += timedelta(days=7)
    assert TimerSweep(db, clock, worker_id="w1").sweep().fired == 0
    assert dm_jobs(db) == []
    assert {t.state for t in timers(db, "cancelled")} == {"cancelled"}


def test_overdue_timers_fire_once_after_a_restart(db: Database) -> None:
    """Three days down with an hourly reminder: the first sweep reminds once, not 72 times."""
    clock = SettableClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    open_event(db, clock.now(), type_="invoice_dispute")
    clock.current += timedelta(days=3)
    report = TimerSweep(db, clock, worker_id="after-restart").sweep()
    assert report.fired == 1
    assert audit_actions(db) == ["timer.reminded"]
    assert due(db, "remind") == clock.current + timedelta(hours=1)


def test_due_while_closed_moves_to_the_next_opening(db: Database) -> None:
    """A reminder found due at 03:00 on a Saturday waits for Monday 09:00 instead of firing."""
    clock = SettableClock(ny(2026, 11, 20, 13, 0))
    open_event(db, clock.now())
    clock.current = ny(2026, 11, 21, 3, 0)
    report = TimerSweep(db, clock, worker_id="w1").sweep()
    assert (report.fired, report.deferred) == (0, 1)
    assert ny(2026, 11, 23, 9, 0) in {t.due_at for t in timers(db)}


def test_expiry_rejects_when_the_policy_says_so(db: Database) -> None:
    """`on_expire: reject` rejects the exception after 2 business days without a decision."""
    clock = SettableClock(ny(2026, 11, 23, 10, 0))
    exception_id = open_event(db, clock.now(), type_="credit_request")
    clock.current = ny(2026, 11, 25, 10, 0)
    TimerSweep(db, clock, worker_id="w1").sweep()
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
    assert row is not None
    assert row.state == "rejected"
    assert "expired" in (row.state_note or "").lower()
    assert timers(db) == []


def approvers_of(db: Database, exception_id: int) -> list[str]:
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        return list(row.steps[row.current_step]["approvers"])


def outbox(db: Database, kind: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        rows = session.exec(
            select(OutboxRow).where(OutboxRow.kind == kind).order_by(col(OutboxRow.id))
        ).all()
    return [r.payload for r in rows]


def test_expiry_escalates_at_once_and_the_level_timer_then_does_nothing(db: Database) -> None:
    """Expiry before the level is due escalates now; the level's own timer then does nothing."""
    clock = SettableClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    exception_id = open_event(db, clock.now(), "non_standard_discount", details={"case": "early"})
    sweep = TimerSweep(db, clock, worker_id="w1")
    clock.current += timedelta(hours=1)
    assert sweep.sweep().fired == 1
    assert approvers_of(db, exception_id) == ["U0FINMGR1", "U0FINMGR2", "U0CTRL1"]
    assert "expired: no decision in 1 h" in dm_jobs(db)[-1]["intro"]
    clock.current += timedelta(hours=1)
    report = sweep.sweep()
    assert (report.fired, report.skipped) == (0, 1)
    assert audit_actions(db) == ["timer.expired", "timer.escalated"]
    assert approvers_of(db, exception_id) == ["U0FINMGR1", "U0FINMGR2", "U0CTRL1"]


def test_expiry_with_no_level_left_tells_the_admin_channel(db: Database) -> None:
    """Expiring after the last escalation level keeps waiting and posts to the admin channel."""
    clock = SettableClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    exception_id = open_event(db, clock.now(), "non_standard_discount")
    sweep = TimerSweep(db, clock, worker_id="w1")
    clock.current += timedelta(hours=1)
    assert sweep.sweep().fired == 1
    clock.current += timedelta(hours=2)
    assert sweep.sweep().fired == 1
    assert audit_actions(db) == ["timer.escalated", "timer.expired"]
    (notice,) = outbox(db, jobs.CHANNEL_NOTICE)
    assert notice["channel"] == "C0ADMIN"
    assert "nobody left to escalate to" in notice["text"]
    assert "Still waiting" in outbox(db, jobs.THREAD_NOTE)[-1]["text"]
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
    assert row is not None
    assert row.state == "open"


def test_two_instances_act_on_each_timer_exactly_once(database_url: str) -> None:
    """Two sweepers on separate connections split 200 due timers with no timer acted on twice."""
    setup = Database(database_url)
    clock = SettableClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    for n in range(200):
        open_event(setup, clock.now(), type_="invoice_dispute", n=n)
    clock.current += timedelta(hours=2)
    instances = [Database(database_url), Database(database_url)]
    sweepers = [
        TimerSweep(d, clock, worker_id=f"instance-{i}", batch=25) for i, d in enumerate(instances)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda s: s.sweep(), sweepers))
    assert sum(r.fired for r in reports) == 200
    assert audit_actions(setup).count("timer.reminded") == 200
    assert len(timers(setup, "done")) == 200
    for database in [setup, *instances]:
        database.dispose()


def test_a_step_keeps_its_own_timers_and_the_next_step_the_routes(db: Database) -> None:
    """Step 1's remind_every/expire_after/on_expire override the route; step 2 uses the route's."""
    clock = SettableClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    exception_id = open_event(db, clock.now(), details={"case": "step-timers"})
    opened = clock.current
    assert due(db, "remind") == opened + timedelta(hours=1)
    assert due(db, "expire") == opened + timedelta(hours=3)
    sweep = TimerSweep(db, clock, worker_id="w1")
    clock.current += timedelta(hours=1)
    assert sweep.sweep().fired == 1
    assert [p["user"] for p in dm_jobs(db)] == ["U0BILLOPS1"]
    assert due(db, "remind") == clock.current + timedelta(hours=1)
    clock.current = opened + timedelta(hours=3)
    sweep.sweep()  # the step's on_expire is keep: still open, where the route would reject
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        assert row.state == "open"
    decide(db, DecisionCommand(exception_id, Actor("U0BILLOPS1"), Outcome.APPROVE), now=clock.now())
    assert due(db, "remind") == clock.current + timedelta(hours=4)
    assert due(db, "expire") == clock.current + timedelta(days=1)
    clock.current += timedelta(days=1)
    sweep.sweep()
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
    assert row is not None
    assert (row.current_step, row.state) == (1, "rejected")
    assert "timer.expired" in audit_actions(db)
