"""Billing event schema v1: what the webhook and the importer accept."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from app.domain.money import check_currency, parse_amount

MAX_BATCH = 1000


class ExceptionType(StrEnum):
    NON_STANDARD_DISCOUNT = "non_standard_discount"
    MID_CYCLE_AMENDMENT = "mid_cycle_amendment"
    INVOICE_DISPUTE = "invoice_dispute"
    USAGE_ANOMALY = "usage_anomaly"
    CREDIT_REQUEST = "credit_request"

    @property
    def label(self) -> str:
        """The type as finance people write it: "Non-standard discount"."""
        return _TYPE_LABELS[self]


_TYPE_LABELS = {
    ExceptionType.NON_STANDARD_DISCOUNT: "Non-standard discount",
    ExceptionType.MID_CYCLE_AMENDMENT: "Mid-cycle amendment",
    ExceptionType.INVOICE_DISPUTE: "Invoice dispute",
    ExceptionType.USAGE_ANOMALY: "Usage anomaly",
    ExceptionType.CREDIT_REQUEST: "Credit request",
}


def _strict_amount(value: Any) -> Decimal:
    """Amounts travel as decimal strings ("1234.50"): a JSON number may already have lost cents.
    Bounds (money.MAX_INTEGER_DIGITS, money.MAX_PLACES) are what both databases hold."""
    return parse_amount(value)


Amount = Annotated[Decimal, BeforeValidator(_strict_amount)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Requester(_Strict):
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    slack_user_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")


class Customer(_Strict):
    id: NonEmpty
    name: NonEmpty
    tier: str | None = Field(default=None, max_length=100)


class Contract(_Strict):
    id: str | None = Field(default=None, max_length=200)
    number: str | None = Field(default=None, max_length=200)


class Invoice(_Strict):
    key: NonEmpty
    number: str | None = Field(default=None, max_length=200)
    currency: str
    amount: Amount

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        """The held invoice's total, for every event type: a credit request names the invoice
        it credits (its size, if any, goes in `details`), so it is positive too."""
        if value <= 0:
            raise ValueError("invoice.amount must be greater than 0")
        return value


class EventRef(_Strict):
    """The event a corrected one replaces: its (source, event_id) as first sent."""

    source: NonEmpty
    event_id: NonEmpty


class BillingEvent(_Strict):
    """One billing event that may need a human decision (schema v1)."""

    event_id: NonEmpty
    source: NonEmpty
    type: ExceptionType
    occurred_at: datetime
    requested_by: Requester | None = None
    customer: Customer
    contract: Contract | None = None
    invoice: Invoice
    details: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = Field(default=None, max_length=3000)
    # A corrected submission: continues the exception of that event (changes requested on it)
    supersedes: EventRef | None = None

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("occurred_at must be an RFC 3339 string with an offset")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("occurred_at needs a UTC offset, e.g. 2026-11-23T10:00:00Z")
        return value

    @field_validator("details")
    @classmethod
    def _no_floats(cls, value: dict[str, Any]) -> dict[str, Any]:
        _reject_floats(value, "details")
        return value

    def routing_view(self) -> dict[str, Any]:
        """The event as routing policies address it: plain JSON values, amounts as strings."""
        return self.model_dump(mode="json")


def _reject_floats(value: Any, path: str) -> None:
    """Figures in `details` are parsed as Decimal (intake uses parse_float=Decimal), never float."""
    if isinstance(value, float):
        raise ValueError(f"{path} is a binary float; parse JSON with parse_float=Decimal")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_floats(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_floats(item, f"{path}[{index}]")
