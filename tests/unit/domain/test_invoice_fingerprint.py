"""The invoice fingerprints: the v2 one covers lines, dates and customer; the claim one keeps
its old meaning; `differences` says what changed, approved vs now."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from app.domain.invoice import InvoiceLine, InvoiceSnapshot, differences
from app.domain.lifecycle import State, move

LINES = (
    InvoiceLine(1, Decimal("1000.00"), "4000", "PLATFORM", "Platform"),
    InvoiceLine(2, Decimal("500.00"), "4000", "SEATS"),
)
BASE = InvoiceSnapshot(
    "INV-1", "C-ACME", "USD", Decimal("1500.00"), "draft", "INV-0001",
    date(2026, 12, 1), date(2026, 12, 31), LINES,
)  # fmt: skip


def test_v2_fingerprint_fits_the_column_and_ignores_state_and_trailing_zeros() -> None:
    """`v2:` + 61 hex digits; a posted copy or 1500.0 vs 1500.00 is the same invoice."""
    printed = BASE.fingerprint()
    assert printed.startswith("v2:")
    assert len(printed) == 64
    assert replace(BASE, state="posted", total=Decimal("1500.0")).fingerprint() == printed


def test_each_material_fact_changes_the_v2_fingerprint_but_not_the_claim() -> None:
    """Another line item, amount, memo, date or order of amounts changes it; the claim
    fingerprint (key, customer, currency, total) only sees the total and customer."""
    variants = [
        replace(BASE, lines=(replace(LINES[0], item="OTHER"), LINES[1])),
        replace(BASE, lines=(replace(LINES[0], memo=None), LINES[1])),
        replace(
            BASE,
            lines=(replace(LINES[0], amount=Decimal(900)), replace(LINES[1], amount=Decimal(600))),
        ),
        replace(BASE, due_date=date(2027, 1, 31)),
        replace(BASE, invoice_date=date(2026, 11, 30)),
        replace(BASE, lines=LINES[:1]),
    ]
    for variant in variants:
        assert not variant.matches(BASE.fingerprint()), variant
        assert variant.matches(BASE.claim_fingerprint()), variant
    assert not replace(BASE, customer_id="C-OTHER").matches(BASE.claim_fingerprint())


def test_material_round_trips_and_differences_read_approved_vs_now() -> None:
    """The stored snapshot comes back equal; differences name each change in order."""
    stored = InvoiceSnapshot.from_material(BASE.material())
    assert stored.fingerprint() == BASE.fingerprint()
    now = replace(
        BASE,
        total=Decimal("1600.00"),
        due_date=date(2027, 1, 31),
        lines=(LINES[0], replace(LINES[1], amount=Decimal("600.00"))),
    )
    assert differences(stored, now) == [
        "total USD 1500.00 → USD 1600.00",
        "due date 2026-12-31 → 2027-01-31",
        "line 2: 2 · SEATS · 500.00 → 2 · SEATS · 600.00",
    ]


def test_changes_requested_moves() -> None:
    """Open → changes_requested → open (resubmitted); approved → open (re-approval)."""
    assert move(State.OPEN, State.CHANGES_REQUESTED) is State.CHANGES_REQUESTED
    assert move(State.CHANGES_REQUESTED, State.OPEN) is State.OPEN
    assert move(State.APPROVED, State.OPEN) is State.OPEN
    assert not State.CHANGES_REQUESTED.is_final
