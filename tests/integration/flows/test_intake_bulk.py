"""Set-based intake on both databases: one transaction per chunk, duplicates found in one
lookup, the audit chain written by append_many, and a concurrent duplicate that makes the
chunk's commit fail answered correctly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from app.flows.intake import Intake
from app.routing import load_policy_set
from app.store import audit
from app.store.audit_read import snapshot
from app.store.db import Database
from app.store.tables import AuditEntryRow, BillingEventRow, ExceptionRow, OutboxRow, TimerRow

POLICIES = load_policy_set(Path(__file__).parent / "policies")
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def raw(event_id: str, **extra: Any) -> str:
    document = {
        "event_id": event_id,
        "source": "salesforce",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00-05:00",
        "customer": {"id": "C-ACME", "name": "Acme", "tier": "enterprise"},
        "invoice": {"key": "INV-1", "currency": "USD", "amount": "48250.00"},
        "details": {"discount_pct": "25"},
    } | extra
    return json.dumps(document)


def _verified(db: Database) -> bool:
    with snapshot(db) as view:
        return audit.verify(view).ok


def intake(db: Database) -> Intake:
    return Intake(db, lambda: POLICIES, wake=lambda: None)


def test_a_batch_is_written_with_its_duplicates_and_poison_answered(db: Database) -> None:
    """Good, repeated and poisoned events in one batch: each answered, one exception per key,
    one card and one set of timers each, the poison kept, the audit chain intact."""
    batch = [raw("a"), raw("b"), raw("a"), '{"event_id": "p", "oops', raw("c")]
    outcomes = intake(db).receive(batch, via="webhook", now=NOW)
    assert [o.status for o in outcomes] == [
        "created",
        "created",
        "duplicate",
        "rejected",
        "created",
    ]
    assert outcomes[2].exception_id == outcomes[0].exception_id
    again = intake(db).receive([raw("b")], via="webhook", now=NOW)
    assert (again[0].status, again[0].exception_id) == ("duplicate", outcomes[1].exception_id)
    with db.transaction() as session:
        assert len(session.exec(select(ExceptionRow)).all()) == 3
        assert len(session.exec(select(BillingEventRow)).all()) == 3
        cards = session.exec(select(OutboxRow).where(OutboxRow.kind == "slack.post_card")).all()
        assert sorted(c.idempotency_key or "" for c in cards) == sorted(
            f"card:{o.exception_id}" for o in outcomes if o.status == "created"
        )
        timers = session.exec(select(TimerRow)).all()
        assert {t.exception_id for t in timers} <= {o.exception_id for o in outcomes}
        actions = [e.action for e in session.exec(select(AuditEntryRow)).all()]
        assert sorted(actions) == ["event.rejected"] + ["exception.opened"] * 3
    assert _verified(db)


def test_a_concurrent_duplicate_at_commit_is_answered_as_a_duplicate(database_url: str) -> None:
    """Another instance stores event X between this chunk's lookup and its insert: the chunk is
    written again event by event, X answered "duplicate" with the other's exception, Y created."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's BEGIN IMMEDIATE admits no writer between lookup and insert")
    mine, theirs = Database(database_url), Database(database_url)
    fired: list[Any] = []

    def meanwhile(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # the new exceptions' ids are taken after the lookup, right before their rows go in
        taking_ids = "nextval" in statement and parameters.get("table") == "billing_exception"
        if not fired and taking_ids:
            fired.extend(intake(theirs).receive([raw("x")], via="webhook", now=NOW))

    event.listen(mine.engine, "before_cursor_execute", meanwhile)
    try:
        outcomes = intake(mine).receive([raw("x"), raw("y")], via="webhook", now=NOW)
    finally:
        event.remove(mine.engine, "before_cursor_execute", meanwhile)
    assert fired[0].status == "created"
    assert [o.status for o in outcomes] == ["duplicate", "created"]
    assert outcomes[0].exception_id == fired[0].exception_id
    with mine.transaction() as session:
        assert len(session.exec(select(ExceptionRow)).all()) == 2
    assert _verified(mine)
    mine.dispose()
    theirs.dispose()
