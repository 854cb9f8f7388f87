"""Batched inserts: rows collected in a block are written once at its end, or not at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.store import bulk, canonical_json, outbox
from app.store.db import Database
from app.store.tables import ExceptionRow, OutboxRow, sa_table

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(OutboxRow)).one())


def test_rows_are_written_when_the_block_ends(db: Database) -> None:
    """Inside the block nothing is written yet; after it every row is there, in order."""
    with db.transaction() as session:
        with bulk.batched_inserts(session):
            for n in range(3):
                outbox.enqueue(session, kind="test", payload={"n": n}, now=NOW)
            assert _count(session) == 0
        assert _count(session) == 3
    with db.transaction() as session:
        rows = session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all()
    assert [r.payload["n"] for r in rows] == [0, 1, 2]
    assert {(r.state, r.attempts) for r in rows} == {("pending", 0)}


def test_an_error_in_the_block_writes_nothing(db: Database) -> None:
    """A block that raises leaves no collected row behind."""

    def fail_midway() -> None:
        with db.transaction() as session, bulk.batched_inserts(session):
            outbox.enqueue(session, kind="test", payload={}, now=NOW)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    with db.transaction() as session:
        assert _count(session) == 0


def test_flush_makes_collected_rows_visible_inside_the_block(db: Database) -> None:
    """`flush` writes what was collected so far, so a later update in the block sees it."""
    with db.transaction() as session, bulk.batched_inserts(session):
        outbox.enqueue(session, kind="test", payload={}, now=NOW)
        bulk.flush(session)
        assert _count(session) == 1
        outbox.enqueue(session, kind="test", payload={}, now=NOW)
    with db.transaction() as session:
        assert _count(session) == 2


def test_outside_a_block_rows_are_written_at_once(db: Database) -> None:
    """Without `batched_inserts`, a queued row is visible immediately in the transaction."""
    with db.transaction() as session:
        outbox.enqueue(session, kind="test", payload={}, now=NOW)
        assert _count(session) == 1


def _exception_row(event_id: str, at: datetime, amount: str) -> dict[str, object]:
    return {
        "type": "credit_request",
        "source": "test",
        "event_id": event_id,
        "customer_id": "C-1",
        "customer_name": "Acme",
        "invoice_key": "K-1",
        "currency": "USD",
        "amount": Decimal(amount),
        "details": {"discount_pct": "25", "nested": [1, {"a": None}]},
        "state": "open",
        "route_name": "r",
        "route_reason": "why",
        "policy_hash": "p" * 64,
        "steps": canonical_json.Encoded('[{"approvers":["U0A"]}]'),
        "invoice_fingerprint": "f" * 64,
        "timing": {},
        "created_at": at,
        "updated_at": at,
    }


def test_insert_many_reads_back_as_the_orm_would_write_it(db: Database) -> None:
    """Rows inserted in bulk read back with their UTC times, exact amounts, JSON and defaults."""
    eastern = timezone(timedelta(hours=-5))
    local = datetime(2026, 11, 23, 4, 0, 0, 123456, tzinfo=eastern)
    rows = [_exception_row("e-1", local, "48250.10"), _exception_row("e-2", NOW, "0.000001")]
    with db.transaction() as session:
        bulk.insert_many(session, sa_table(ExceptionRow), rows)
    with db.transaction() as session:
        stored = session.exec(select(ExceptionRow).order_by(col(ExceptionRow.event_id))).all()
    assert [r.created_at for r in stored] == [NOW + timedelta(microseconds=123456), NOW]
    assert [r.amount for r in stored] == [Decimal("48250.10"), Decimal("0.000001")]
    assert stored[0].details == {"discount_pct": "25", "nested": [1, {"a": None}]}
    assert stored[0].steps == [{"approvers": ["U0A"]}]
    assert {r.current_step for r in stored} == {0}  # the column's default


def test_insert_many_keeps_every_character_of_text_and_json(db: Database) -> None:
    """Tabs, newlines, backslashes, a literal \\N, quotes and non-ASCII text come back exactly
    (PostgreSQL takes these rows by COPY, whose text format escapes all of them)."""
    awkward = 'tab\there\nnew line \\ back\\N "quoted" \u00e9\u20ac\U0001f600 \r end'
    row = _exception_row("e-awkward", NOW, "1.00") | {
        "customer_name": awkward,
        "reason": None,
        "details": {"note": awkward, "empty": "", "none": None},
    }
    with db.transaction() as session:
        bulk.insert_many(session, sa_table(ExceptionRow), [row])
    with db.transaction() as session:
        stored = session.exec(select(ExceptionRow)).one()
    assert stored.customer_name == awkward
    assert stored.reason is None
    assert stored.details == {"note": awkward, "empty": "", "none": None}


def test_insert_many_skips_conflicting_rows_only_when_asked(db: Database) -> None:
    """ignore_conflicts leaves an already queued idempotency key alone; without it the insert
    fails as a whole."""
    job = outbox.job_values(kind="test", payload={}, now=NOW, idempotency_key="k-1")
    fresh = outbox.job_values(kind="test", payload={}, now=NOW, idempotency_key="k-2")
    table = sa_table(OutboxRow)
    with db.transaction() as session:
        bulk.insert_many(session, table, [job])
    with db.transaction() as session:
        bulk.insert_many(session, table, [job, fresh], ignore_conflicts=True)
    with pytest.raises(IntegrityError), db.transaction() as session:
        bulk.insert_many(session, table, [job])
    with db.transaction() as session:
        keys = session.exec(select(OutboxRow.idempotency_key).order_by(col(OutboxRow.id))).all()
    assert keys == ["k-1", "k-2"]


def test_insert_many_refuses_rows_of_different_shapes(db: Database) -> None:
    """Rows with different columns, or a naive time, are refused before anything is written."""
    table = sa_table(OutboxRow)
    job = outbox.job_values(kind="test", payload={}, now=NOW)
    with pytest.raises(ValueError, match="differ in their columns"), db.transaction() as s:
        bulk.insert_many(s, table, [job, {"kind": "test"}])
    naive = outbox.job_values(kind="test", payload={}, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive datetime"), db.transaction() as s:
        bulk.insert_many(s, table, [naive])
    with db.transaction() as session:
        assert _count(session) == 0
