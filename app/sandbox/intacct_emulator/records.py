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
# What a line gets when the caller names none: Intacct requires glAccount.id and
# dimensions.location.id on every line (required properties, AR@688315); these ids are fakes.
DEFAULT_GL_ACCOUNT = "4000"
DEFAULT_LOCATION = "US"
DEFAULT_ITEM = "SUBSCRIPTION"


@dataclass(frozen=True)
class LineSpec:
    """One invoice line as a test or the sandbox writes it: item, amount, optional memo."""

    amount: Decimal
    item: str = DEFAULT_ITEM
    memo: str | None = None
    gl_account: str = DEFAULT_GL_ACCOUNT
    location: str = DEFAULT_LOCATION

    @classmethod
    def read(cls, value: Any) -> LineSpec:
        """A LineSpec, or a mapping {item, amount, memo?, gl_account?, location?}."""
        if isinstance(value, LineSpec):
            return value
        if not isinstance(value, dict) or "amount" not in value:
            raise ValueError("a line is {item, amount, memo?, gl_account?, location?}")
        unknown = sorted(set(value) - {"item", "amount", "memo", "gl_account", "location"})
        if unknown:
            raise ValueError(f"a line has no field {unknown[0]!r}")
        return cls(
            amount=to_amount(value["amount"]),
            item=str(value.get("item") or DEFAULT_ITEM),
            memo=str(value["memo"]) if value.get("memo") else None,
            gl_account=str(value.get("gl_account") or DEFAULT_GL_ACCOUNT),
            location=str(value.get("location") or DEFAULT_LOCATION),
        )


def line_records(key: str, lines: list[LineSpec]) -> list[dict[str, Any]]:
    """Lines in the `objects.accounts-receivable.invoice-line` shape (AR@695769): key, id,
    lineNumber (a number, AR line schema), glAccount {key, id} (AR@696285), baseAmount and
    txnAmount as decimal-precision-2 strings (AR@697886, AR@698197), memo (AR@698405) and
    dimensions {location, item} as dimension-ref {key, id} (AR@708720, AR@909919)."""
    records = []
    for number, line in enumerate(lines, start=1):
        amount = money_text(line.amount)
        record: dict[str, Any] = {
            "key": f"{key}-{number}",
            "id": f"{key}-{number}",
            "lineNumber": number,
            "glAccount": {"key": line.gl_account, "id": line.gl_account},
            "baseAmount": amount,
            "txnAmount": amount,
            "dimensions": {
                "location": {"key": line.location, "id": line.location},
                "item": {"key": line.item, "id": line.item},
            },
        }
        if line.memo:
            record["memo"] = line.memo
        records.append(record)
    return records


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
    lines: list[LineSpec] | None = None,
) -> dict[str, Any]:
    """A stored invoice in the `objects.accounts-receivable.invoice` shape (the fields we use)."""
    if not (len(currency) == 3 and currency.isascii() and currency.isupper()):
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code such as USD or EUR")
    if state not in INVOICE_STATES:  # the spec's state enum (AR@657361)
        raise ValueError(f"state must be one of {sorted(INVOICE_STATES)}, not {state!r}")
    total = money_text(amount)  # totals are decimal-precision-2 strings (AR@661678)
    specs = lines if lines is not None else [LineSpec(amount=amount)]
    if specs and sum((line.amount for line in specs), Decimal(0)) != amount:
        raise ValueError(f"the lines add up to {sum(line.amount for line in specs)}, not {total}")
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
        "lines": line_records(key, specs),  # invoice-line[] (AR@687465)
    }


def set_record_amount(record: dict[str, Any], amount: Decimal) -> None:
    """A new total; the last line takes the difference, so the lines still add up."""
    total = money_text(amount)
    for name in ("totalBaseAmount", "totalBaseAmountDue", "totalTxnAmount", "totalTxnAmountDue"):
        record[name] = total
    lines = record.get("lines") or []
    if lines:
        others = sum((Decimal(line["txnAmount"]) for line in lines[:-1]), Decimal(0))
        last = money_text(amount - others)
        lines[-1]["txnAmount"] = lines[-1]["baseAmount"] = last


def set_record_lines(record: dict[str, Any], lines: list[LineSpec]) -> None:
    """Replace the lines; the totals become their sum."""
    record["lines"] = line_records(str(record["key"]), lines)
    total = money_text(sum((line.amount for line in lines), Decimal(0)))
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
