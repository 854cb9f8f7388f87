"""Wire shapes the emulator answers with: AR invoice records and Intacct error-response bodies.

Shapes follow Sage's OpenAPI (objects.accounts-receivable.invoice, error-response). Error codes
and ids that the spec does not list (notFound, rateLimitExceeded, ...) are the emulator's guesses.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from app.domain.money import check_currency, parse_amount

CENTS = Decimal("0.01")
META_OK = {"totalCount": 1, "totalSuccess": 1, "totalError": 0}
META_ERROR = {"totalCount": 1, "totalSuccess": 0, "totalError": 1}
INVOICE_HREF = "/objects/accounts-receivable/invoice/{key}"


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, JSON body (or None for an empty body) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def to_amount(value: Any) -> Decimal:
    """An amount from a decimal string or Decimal, at Intacct's two decimal places."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        amount = parse_amount(value)
    else:
        raise ValueError('amount must be a decimal string such as "1234.50" (or a Decimal)')
    if not amount.is_finite():
        raise ValueError(f"amount {value!r} is not finite")
    return amount.quantize(CENTS)


def money_text(amount: Decimal) -> str:
    return format(amount.quantize(CENTS), "f")


def invoice_record(
    *,
    key: str,
    number: str,
    customer_id: str,
    customer_name: str,
    currency: str,
    amount: Decimal,
    state: str,
    invoice_date: date,
    due_date: date,
) -> dict[str, Any]:
    """A stored invoice in the `objects.accounts-receivable.invoice` shape (the fields we use)."""
    check_currency(currency)
    total = money_text(amount)
    return {
        "key": key,
        "id": key,
        "href": INVOICE_HREF.format(key=key),
        "recordType": "ri",
        "invoiceNumber": number,
        "state": state,
        "customer": {
            "key": customer_id,
            "id": customer_id,
            "name": customer_name,
            "href": f"/objects/accounts-receivable/customer/{customer_id}",
        },
        "invoiceDate": invoice_date.isoformat(),
        "dueDate": due_date.isoformat(),
        "currency": {
            "baseCurrency": currency,
            "txnCurrency": currency,
            "exchangeRate": {"date": invoice_date.isoformat(), "rate": "1", "typeId": None},
        },
        "totalBaseAmount": total,
        "totalBaseAmountDue": total,
        "totalTxnAmount": total,
        "totalTxnAmountDue": total,
    }


def set_record_amount(record: dict[str, Any], amount: Decimal) -> None:
    total = money_text(amount)
    for name in ("totalBaseAmount", "totalBaseAmountDue", "totalTxnAmount", "totalTxnAmountDue"):
        record[name] = total


def ok(result: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"ia::result": result, "ia::meta": dict(META_OK)}, headers or {})


def ia_error(
    status: int,
    code: str,
    message: str,
    error_id: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Reply:
    """An Intacct error-response: ia::result.ia::error plus a top-level ia::meta."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errorId": error_id,
        "additionalInfo": {
            "messageId": f"IA.{code.upper()}",
            "placeholders": {},
            "propertySet": {},
        },
        "supportId": secrets.token_urlsafe(18),
    }
    if details:
        error["details"] = details
    body = {"ia::result": {"ia::error": error}, "ia::meta": dict(META_ERROR)}
    return Reply(status, body, headers or {})


def oauth_error(status: int, error: str, description: str) -> Reply:
    """An OAuth2 token-endpoint error ({"error": ..., "error_description": ...})."""
    return Reply(status, {"error": error, "error_description": description})
