"""The queue reads behind Home, `list`, `stats` and Details, on SQLite and PostgreSQL: who
waits for whom, overdue against the step's escalation, the Home refresh deduplicated, and the
stats' time to decision and share within SLA."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.domain.approval import Actor, Outcome
from app.domain.lifecycle import exception_label
from app.flows.decide import DecisionCommand, decide
from app.flows.details import stored_details
from app.flows.home import queue_for, queue_refresh
from app.flows.jobs import HOME_PUBLISH, queue_home
from app.flows.listing import Filters, open_listing, stats
from app.store.db import Database
from app.store.tables import OutboxRow, TimerRow
from tests.factories import T0, open_exception

TWO_STEPS = [
    {"approvers": ["U0FINMGR1", "U0FINMGR2"], "quorum": 1},
    {"approvers": ["U0CFO1"], "quorum": 1},
]


def _timer(db: Database, exception_id: int, step: int, after: timedelta, kind: str) -> None:
    with db.transaction() as session:
        session.add(
            TimerRow(
                exception_id=exception_id, step=step, kind=kind, due_at=T0 + after, created_at=T0
            )
        )


def test_queue_for_lists_waiting_overdue_requests_and_decided(db: Database) -> None:
    """Waiting: the current step's approvers only, oldest first, overdue past the escalation;
    a decision moves it to "decided" for the approver and to the next approver's queue."""
    late = open_exception(db, steps=TWO_STEPS, requested_by_slack="U0REQUEST1")
    _timer(db, late, 0, timedelta(hours=1), "escalate")
    later = open_exception(db, steps=TWO_STEPS)
    _timer(db, later, 0, timedelta(days=3), "expire")
    now = T0 + timedelta(hours=2)
    queue = queue_for(db, Actor("U0FINMGR1"), now)
    assert [item.exception_id for item in queue.waiting] == [late, later]
    assert [item.overdue for item in queue.waiting] == [True, False]
    assert queue.waiting[0].sla_due == T0 + timedelta(hours=1)
    assert queue_for(db, Actor("U0CFO1"), now).waiting == ()
    decide(db, DecisionCommand(late, Actor("U0FINMGR1"), Outcome.APPROVE), now=now)
    after = queue_for(db, Actor("U0FINMGR1"), now)
    assert [item.exception_id for item in after.waiting] == [later]
    assert [d.line.label for d in after.decided] == [exception_label(late)]
    cfo = queue_for(db, Actor("U0CFO1"), now)
    assert [item.exception_id for item in cfo.waiting] == [late]
    assert cfo.waiting[0].version == 1  # the card version its buttons carry
    requester = queue_for(db, Actor("U0REQUEST1"), now)
    steps = [r.step_text for r in requester.requests]
    assert steps == ["Step 2 of 2: 1 of 1 approver must approve"]


def test_home_refresh_is_queued_once_per_person_while_pending(db: Database) -> None:
    """Two changes in a row queue one home.publish per person concerned, not two."""
    exception_id = open_exception(db, steps=TWO_STEPS, requested_by_slack="U0REQUEST1")
    queue_refresh(db, exception_id, now=T0)
    queue_refresh(db, exception_id, now=T0)
    with db.transaction() as session:
        queue_home(session, "U0CFO1", now=T0)
        jobs = session.exec(select(OutboxRow).where(OutboxRow.kind == HOME_PUBLISH)).all()
    users = sorted(job.payload["user"] for job in jobs)
    assert users == ["U0CFO1", "U0FINMGR1", "U0FINMGR2", "U0REQUEST1"]
    assert all(job.available_at == T0 + timedelta(seconds=1) for job in jobs)


def test_listing_filters_and_stats(db: Database) -> None:
    """`list` filters by route, customer and overdue; `stats` counts open by route and the
    decided one's time to decision, within its (cancelled) escalation."""
    first = open_exception(db)
    _timer(db, first, 0, timedelta(hours=1), "escalate")
    second = open_exception(db)
    _timer(db, second, 0, timedelta(hours=8), "escalate")
    now = T0 + timedelta(hours=2)
    shown, total = open_listing(db, Filters(overdue=True), now)
    assert ([s.line.label for s in shown], total) == ([exception_label(first)], 1)
    assert open_listing(db, Filters(customer="acme"), now)[1] == 2
    assert open_listing(db, Filters(customer="globex"), now)[1] == 0
    assert open_listing(db, Filters(route="nope"), now)[1] == 0
    decide(db, DecisionCommand(second, Actor("U0FINMGR2"), Outcome.APPROVE), now=now)
    figures = stats(db, timedelta(days=7), now + timedelta(minutes=1))
    assert figures.open_by_route == (("big-discount", 1),)
    assert figures.decided == 1
    assert figures.median == timedelta(hours=2)
    assert figures.p90 == timedelta(hours=2)
    assert (figures.within_sla, figures.with_sla) == (1, 1)
    assert figures.oldest_open is not None
    assert figures.oldest_open.line.label == exception_label(first)


def test_stored_details_carry_decisions_timers_and_people(db: Database) -> None:
    """Details read what is stored: the figures, the decision with who, the timers, the SLA."""
    exception_id = open_exception(db, steps=TWO_STEPS, requested_by_slack="U0REQUEST1")
    _timer(db, exception_id, 1, timedelta(days=1), "escalate")
    decide(db, DecisionCommand(exception_id, Actor("U0FINMGR2"), Outcome.APPROVE), now=T0)
    details = stored_details(db, exception_id)
    assert details is not None
    assert details.figures == (("discount_pct", "25"),)
    assert [(d.who, d.outcome, d.step) for d in details.decisions] == [("U0FINMGR2", "approve", 0)]
    assert "U0REQUEST1" in details.people
    assert "U0CFO1" in details.people
    assert details.approvers == ("U0CFO1",)
    assert stored_details(db, 999_999) is None
