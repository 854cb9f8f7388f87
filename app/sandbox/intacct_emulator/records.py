"""Wire shapes the emulator answers with: AR invoice records and Intacct error-response bodies.

Shapes follow Sage's OpenAPI for the AR group (the subset kept in
tests/reference/intacct/ar-invoice-openapi.json; "AR@n" is a character offset in Sage's
spec/accounts-receivable.json): `objects.accounts-receivable.invoice` (AR@655839) and
`error-response` (AR@903401). Error codes and ids that the spec does not list (notFound,
forbidden, rateLimitExceeded, ...) are the emulator's guesses and say so where they are made.
tests/integration/test_intacct_contract.py validates every shape here against that file.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

CENTS = Decimal("0.01")
# objects.accounts-receivable.invoice `state` enum (AR@657361).
INVOICE_STATES = frozenset(
    {"reversed", "reversal", "draft", "noValue", "posted", "paid", "partiallyPaid", "selected"}
)
SALES_GL_ACCOUNT = "4000"  # an illustrative revenue account for the one invoice line
# The rate type Intacct names in its own example record (GET invoice example, AR@236575).
RATE_TYPE = "Intacct Daily Rate"
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
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"amount {value!r} is not a decimal number") from None
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
    if not (len(currency) == 3 and currency.isascii() and currency.isupper()):
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code such as USD or EUR")
    if state not in INVOICE_STATES:  # the spec's state enum (AR@657361)
        raise ValueError(f"state must be one of {sorted(INVOICE_STATES)}, not {state!r}")
    total = money_text(amount)  # totals are decimal-precision-2 strings (AR@661678)
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
            # exchangeRate.rate is a JSON number and typeId a string (AR@659743). Base and
            # transaction currency are the same here, so the rate is exactly 1 (no float).
            "exchangeRate": {"date": invoice_date.isoformat(), "rate": 1, "typeId": RATE_TYPE},
        },
        "totalBaseAmount": total,
        "totalBaseAmountDue": total,
        "totalTxnAmount": total,
        "totalTxnAmountDue": total,
        # One line carrying the whole amount, in the objects.accounts-receivable.invoice-line
        # shape (lineNumber, glAccount.id, txnAmount and baseAmount as decimal strings, memo).
        "lines": [
            {
                "id": f"{key}-1",
                "key": f"{key}-1",
                "lineNumber": 1,
                "glAccount": {"id": SALES_GL_ACCOUNT},
                "txnAmount": total,
                "baseAmount": total,
                "memo": f"Invoice {number}",
            }
        ],
    }


def set_record_amount(record: dict[str, Any], amount: Decimal) -> None:
    total = money_text(amount)
    for name in ("totalBaseAmount", "totalBaseAmountDue", "totalTxnAmount", "totalTxnAmountDue"):
        record[name] = total
    lines = record.get("lines") or []
    if len(lines) == 1:  # the single line carries the whole amount, so it changes with it
        lines[0]["txnAmount"] = lines[0]["baseAmount"] = total


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
    message_id: str | None = None,
) -> Reply:
    """An Intacct error-response: ia::result.ia::error plus a top-level ia::meta.

    Shape: components/schemas/error-response (AR@903401); ia::meta sits at the top level as in
    the spec's examples (AR@906128), not nested as its schema has it (AR@905595).
    """
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errorId": error_id,
        "additionalInfo": {
            "messageId": message_id or f"IA.{code.upper()}",
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
    """An OAuth2 token-endpoint error: RFC 6749 §5.2 (`error` from its list, a description)."""
    return Reply(status, {"error": error, "error_description": description})


def invalid_field(name: str) -> dict[str, Any]:
    """One `details` item for a field the operation does not know: the spec's own example,
    "/newDate is not a valid field", REST-1043, IA.NOT_A_VALID_FIELD (error-response, AR@904498).
    """
    return {
        "code": "invalidRequest",
        "message": f"/{name} is not a valid field",
        "errorId": "REST-1043",
        "target": f"/{name}",
        "additionalInfo": {
            "messageId": "IA.NOT_A_VALID_FIELD",
            "placeholders": {},
            "propertySet": {},
        },
    }


def payload_errors(details: list[dict[str, Any]]) -> Reply:
    """400 "Payload contains errors", REST-1064, IA.PAYLOAD_CONTAINS_ERRORS (error-response
    example values, AR@903574), with one `details` item per problem."""
    return ia_error(
        400,
        "invalidRequest",
        "Payload contains errors",
        "REST-1064",
        details=details,
        message_id="IA.PAYLOAD_CONTAINS_ERRORS",
    )
