"""Reconciliation rules on each database, against the Intacct emulator over HTTP with the real
client: each kind of difference is one finding naming the exception, invoice and what differs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlmodel import col, select

from app.domain.invoice import InvoiceSnapshot
from app.flows.jobs import CHANNEL_NOTICE
from app.flows.reconcile import last_slot, reconcile, weekly_job
from app.intacct import IntacctClient
from app.intacct.port import IntacctInvoices
from app.sandbox.intacct_emulator import IntacctEmulator
from app.store import audit
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow, OutboxRow
from tests.factories import T0, open_exception


def _exception(db: Database, key: str, state: str, amount: str = "1200.00") -> int:
    exception_id = open_exception(db, state=state, amount=amount)
    seen = InvoiceSnapshot(key, "C-ACME", "USD", Decimal(amount)).claim_fingerprint()
    with db.transaction() as session:
        session.execute(
            update(ExceptionRow)
            .where(col(ExceptionRow.id) == exception_id)
            .values(invoice_key=key, invoice_fingerprint=seen)
        )
    return exception_id


def _invoice(emulator: IntacctEmulator, key: str, amount: str, state: str = "draft") -> None:
    emulator.add_invoice(
        key, number=key, customer_id="C-ACME", customer_name="Acme Corp", currency="USD",
        amount=amount, state=state,
    )  # fmt: skip


def _released(db: Database, exception_id: int, times: int) -> None:
    with db.transaction() as session:
        for n in range(times):
            audit.append(
                session,
                at=T0,
                actor="countersign",
                action="invoice.released",
                exception_id=exception_id,
                detail={"n": n},
            )


def test_each_difference_is_one_finding(
    db: Database,
    intacct_emulator: IntacctEmulator,
    make_intacct_client: Callable[..., IntacctClient],
) -> None:
    """Clean released and open exceptions give nothing; a changed total, a draft left after
    release, a double release, an old approval and a posting behind a rejection each give one
    finding of their kind."""
    _invoice(intacct_emulator, "INV-OK", "1200.00", "posted")
    _released(db, _exception(db, "INV-OK", "released"), 1)
    _invoice(intacct_emulator, "INV-OPEN", "1200.00")
    _exception(db, "INV-OPEN", "open")
    _invoice(intacct_emulator, "INV-CHANGED", "1500.00", "posted")
    _released(db, _exception(db, "INV-CHANGED", "released"), 1)
    _invoice(intacct_emulator, "INV-DRAFT", "1200.00")
    _released(db, _exception(db, "INV-DRAFT", "released"), 1)
    _invoice(intacct_emulator, "INV-TWICE", "1200.00", "posted")
    _released(db, _exception(db, "INV-TWICE", "released"), 2)
    _invoice(intacct_emulator, "INV-LATE", "1200.00")
    _exception(db, "INV-LATE", "approved")
    _invoice(intacct_emulator, "INV-REJ", "1200.00")
    _exception(db, "INV-REJ", "rejected")
    intacct_emulator.post_outside("INV-REJ")

    ledger = IntacctInvoices(make_intacct_client())
    report = reconcile(db, ledger, T0 - timedelta(days=1), T0 + timedelta(hours=2))
    found = {(f.invoice_key, f.kind): f.what for f in report.findings}
    assert sorted(found) == [
        ("INV-CHANGED", "posted_changed"),
        ("INV-DRAFT", "not_posted"),
        ("INV-LATE", "not_released"),
        ("INV-REJ", "posted_outside"),
        ("INV-TWICE", "released_twice"),
    ]
    assert found[("INV-CHANGED", "posted_changed")] == (
        "posted, but not as approved: USD 1500.00 (approved USD 1200.00)"
    )
    assert (
        found[("INV-DRAFT", "not_posted")] == "released by Countersign, but Intacct shows it draft"
    )
    assert found[("INV-TWICE", "released_twice")] == "submitted 2 times by Countersign"
    assert found[("INV-REJ", "posted_outside")].startswith(
        "posted in Intacct although the exception was rejected: posted outside Countersign at "
    )
    assert report.exceptions == 7
    assert report.posted == 4


def test_the_weekly_slot_is_the_last_weekday_hour_passed() -> None:
    """The slot is the latest chosen weekday at the hour (UTC) at or before now."""
    # T0 is Monday 2026-11-23 14:00 UTC.
    assert last_slot(T0, "mon", 6) == T0.replace(hour=6)
    assert last_slot(T0, "mon", 15) == T0.replace(hour=15) - timedelta(days=7)
    assert last_slot(T0, "fri", 6) == T0.replace(day=20, hour=6)


def test_the_weekly_report_is_queued_once_for_all_instances(
    db: Database,
    intacct_emulator: IntacctEmulator,
    make_intacct_client: Callable[..., IntacctClient],
) -> None:
    """Two instances' weekly jobs on one database, run again and again in the same week, queue
    one admin notice and one `reconcile.reported` entry; the next week queues the next one."""
    _invoice(intacct_emulator, "INV-REJ", "1200.00")
    _exception(db, "INV-REJ", "rejected")
    intacct_emulator.post_outside("INV-REJ")
    clock = [T0]
    jobs = [
        weekly_job(
            db,
            IntacctInvoices(make_intacct_client()),
            lambda: clock[0],
            lambda: "C0ADMIN",
            "mon",
            6,
        )
        for _ in range(2)
    ]
    for _ in range(2):
        for job in jobs:
            job()
    clock[0] = T0 + timedelta(days=7)
    jobs[1]()
    with db.transaction() as session:
        notices = session.exec(
            select(OutboxRow.idempotency_key, OutboxRow.payload).where(
                OutboxRow.kind == CHANNEL_NOTICE
            )
        ).all()
        reported = session.exec(
            select(AuditEntryRow.detail).where(AuditEntryRow.action == "reconcile.reported")
        ).all()
    assert [key for key, _ in notices] == ["reconcile:2026-11-23", "reconcile:2026-11-30"]
    assert notices[0][1]["channel"] == "C0ADMIN"
    assert (
        "INV-REJ: posted in Intacct although the exception was rejected" in (notices[0][1]["text"])
    )
    assert len(reported) == 2
