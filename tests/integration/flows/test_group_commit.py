"""Group commit on both databases: events prepared by their own requests, written by one
writer in shared transactions, each answered only once durable and exactly as alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlmodel import func, select

from app.flows.group_commit import GroupCommit
from app.flows.intake import Incoming, IntakeOutcome
from app.store.db import Database
from app.store.tables import AuditEntryRow, BillingEventRow, ExceptionRow, RejectedEventRow
from tests.integration.flows.test_intake_bulk import _verified, intake, raw

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_prepared_events_from_many_threads_are_written_together(db: Database) -> None:
    """60 requests on 12 threads, repeats and a poison among them: each gets its own answer
    once committed, one exception per key, the poison kept, the audit chain intact."""
    writer = GroupCommit(intake(db))
    bodies = [raw(f"g-{n % 50}") for n in range(59)] + ['{"event_id": "p", "oops']

    def request(body: str) -> IntakeOutcome:
        plan = writer.prepare(Incoming(body, NOW))  # in the request's own thread
        return writer.submit(plan).result(timeout=60)

    try:
        with ThreadPoolExecutor(12) as pool:
            outcomes = list(pool.map(request, bodies))
    finally:
        writer.stop()
    statuses = [o.status for o in outcomes]
    assert statuses.count("created") == 50
    assert statuses.count("duplicate") == 9
    assert statuses[-1] == "rejected"
    first = {o.event_id: o.exception_id for o in outcomes if o.status == "created"}
    assert all(first[o.event_id] == o.exception_id for o in outcomes if o.status == "duplicate")
    assert _count(db, ExceptionRow) == _count(db, BillingEventRow) == 50
    assert _count(db, RejectedEventRow) == 1
    assert _count(db, AuditEntryRow) == 51  # 50 opened, 1 rejected
    assert _verified(db)


def test_an_incoming_event_submitted_as_is_is_prepared_by_submit(db: Database) -> None:
    """submit() also takes an unprepared event and answers it the same way."""
    writer = GroupCommit(intake(db))
    try:
        outcome = writer.submit(Incoming(raw("solo"), NOW)).result(timeout=60)
    finally:
        writer.stop()
    assert (outcome.status, outcome.http_status) == ("created", 202)
    assert _verified(db)
