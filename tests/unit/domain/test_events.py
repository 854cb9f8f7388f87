"""Billing event schema v1: what intake accepts and how it refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.domain.batch import parse_item
from app.domain.events import BillingEvent


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "evt-1",
        "source": "crm",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00Z",
        "customer": {"id": "C-1", "name": "Acme"},
        "invoice": {"key": "11", "currency": "USD", "amount": "1234.50"},
        "details": {"discount_pct": 25},
    }
    base.update(changes)
    return base


def errors_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        BillingEvent.model_validate(document)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


def test_valid_event_keeps_amount_exact() -> None:
    """A decimal-string amount becomes the exact Decimal."""
    parsed = BillingEvent.model_validate(event())
    assert parsed.invoice.amount == Decimal("1234.50")


def test_amount_as_json_number_is_refused() -> None:
    """An amount sent as a JSON number (float or Decimal) is refused: amounts travel as strings."""
    document = parse_item('{"key": "11", "currency": "USD", "amount": 1234.5}')
    assert "invoice.amount" in errors_of(event(invoice=document))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "refund"}, "type"),
        ({"occurred_at": "2026-11-23T10:00:00"}, "occurred_at"),
        ({"occurred_at": 1700000000}, "occurred_at"),
        ({"invoice": {"key": "11", "currency": "usd", "amount": "1"}}, "invoice.currency"),
        ({"invoice": {"key": "11", "currency": "XYZ", "amount": "1"}}, "invoice.currency"),
        ({"invoice": {"key": "11", "currency": "USD", "amount": "NaN"}}, "invoice.amount"),
        ({"invoice": {"key": "11", "currency": "USD", "amount": "1,000"}}, "invoice.amount"),
        ({"invoice": {"key": "11", "currency": "USD", "amount": "-5"}}, "invoice.amount"),
        ({"invoice": {"key": "11", "currency": "USD", "amount": "0"}}, "invoice.amount"),
        ({"invoice": {"key": "11", "currency": "USD", "amount": "1e400"}}, "invoice.amount"),
        ({"surprise": True}, "surprise"),
        ({"customer": {"id": "C-1"}}, "customer.name"),
        ({"requested_by": {"email": "not-an-address"}}, "requested_by.email"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, Any], field: str) -> None:
    """Each invalid or unknown field is reported under its own dotted name."""
    assert field in errors_of(event(**change))


def test_details_numbers_parse_as_decimal_never_float() -> None:
    """Fractional numbers in details arrive as Decimal when parsed the intake way."""
    document = parse_item('{"discount_pct": 12.5}')
    parsed = BillingEvent.model_validate(event(details=document))
    assert parsed.details["discount_pct"] == Decimal("12.5")
    assert parsed.routing_view()["details"]["discount_pct"] == "12.5"


def test_details_with_a_binary_float_are_refused() -> None:
    """A Python float in details (parsed the wrong way) is refused, not rounded."""
    assert "details" in errors_of(event(details={"discount_pct": 12.5}))
