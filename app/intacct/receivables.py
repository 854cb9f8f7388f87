"""ReceivablesPort on the Intacct client: the invoice's lines, dates and state, and the
customer's open receivables, read live for the Details modal and `/billing-exceptions show`.

The invoice is the `objects.accounts-receivable.invoice` record (AR@655839): invoiceDate,
dueDate, state, totalTxnAmount, totalTxnAmountDue and `lines` (invoice-line, AR@695769:
txnAmount, memo, glAccount). Open receivables come from the query service (POST
/services/core/query, CR@15684) over `accounts-receivable/invoice`, filtered on customer.id and
the states that still have an amount due (posted, partiallyPaid; state enum AR@657361)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from app.domain.money import MoneyError, parse_amount
from app.flows.details import InvoiceLine, LiveInvoice, OpenInvoice
from app.intacct.client import IntacctClient
from app.intacct.port import translate

OPEN_STATES = ["posted", "partiallyPaid"]
MOST_OPEN = 200  # one page of the query, newest due first: enough for a person to read


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return parse_amount(str(value))
    except MoneyError:
        return Decimal(0)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _line(line: Mapping[str, Any]) -> InvoiceLine:
    account = line.get("glAccount")
    name = _text(account.get("name") or account.get("id")) if isinstance(account, Mapping) else ""
    described = _text(line.get("memo")) or _text(line.get("accountLabel")) or name or "line"
    return InvoiceLine(described, _text(line.get("txnAmount")))


def live_invoice(record: Mapping[str, Any]) -> LiveInvoice:
    lines = record.get("lines")
    return LiveInvoice(
        number=_text(record.get("invoiceNumber")) or _text(record.get("key")),
        state=_text(record.get("state")),
        invoice_date=_text(record.get("invoiceDate")) or None,
        due_date=_text(record.get("dueDate")) or None,
        total=_text(record.get("totalTxnAmount")),
        due=_text(record.get("totalTxnAmountDue")),
        lines=tuple(_line(x) for x in lines if isinstance(x, Mapping))
        if isinstance(lines, list)
        else (),
    )


def open_invoices_query(customer_id: str) -> dict[str, Any]:
    """The core-query request for a customer's invoices with an amount due."""
    return {
        "object": "accounts-receivable/invoice",
        "fields": ["key", "invoiceNumber", "state", "dueDate", "totalTxnAmountDue"],
        "filters": [{"$eq": {"customer.id": customer_id}}, {"$in": {"state": OPEN_STATES}}],
        "filterExpression": "1 and 2",
        "orderBy": [{"dueDate": "asc"}],
        "size": MOST_OPEN,
    }


class IntacctReceivables:
    def __init__(self, client: IntacctClient) -> None:
        self._client = client

    def invoice_details(self, key: str) -> LiveInvoice:
        return live_invoice(translate(lambda: self._client.invoice_record(key)))

    def open_invoices(self, customer_id: str) -> list[OpenInvoice]:
        request = open_invoices_query(customer_id)
        rows = translate(
            lambda: self._client.query(request, what="Query open invoices", limit=MOST_OPEN)
        )
        return [
            OpenInvoice(
                key=_text(row.get("key")),
                number=_text(row.get("invoiceNumber")) or _text(row.get("key")),
                state=_text(row.get("state")),
                due_date=_day(row.get("dueDate")),
                amount_due=_decimal(row.get("totalTxnAmountDue")),
            )
            for row in rows
        ]
