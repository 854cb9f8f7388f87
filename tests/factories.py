"""Builders for test data that go through the real store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.domain.invoice import InvoiceSnapshot
from app.store.db import Database
from app.store.tables import ExceptionRow

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def open_exception(
    db: Database,
    *,
    steps: list[dict[str, Any]] | None = None,
    requested_by_slack: str | None = None,
    amount: str = "1200.00",
    state: str = "open",
) -> int:
    """Store an open exception routed to `steps` (default: one step, U0FINMGR1/2, quorum 1)."""
    steps = steps or [{"approvers": ["U0FINMGR1", "U0FINMGR2"], "quorum": 1}]
    snapshot = InvoiceSnapshot("INV-11", "C-ACME", "USD", Decimal(amount))
    with db.transaction() as session:
        row = ExceptionRow(
            type="non_standard_discount",
            source="crm",
            event_id=f"evt-{id(steps)}",
            customer_id="C-ACME",
            customer_name="Acme Corp",
            invoice_key="INV-11",
            invoice_number="INV-0011",
            currency="USD",
            amount=Decimal(amount),
            details={"discount_pct": "25"},
            requested_by_slack=requested_by_slack,
            state=state,
            route_name="big-discount",
            route_reason="test",
            policy_hash="0" * 64,
            steps=steps,
            channel="C0BILLING",
            invoice_fingerprint=snapshot.claim_fingerprint(),
            created_at=T0,
            updated_at=T0,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id
