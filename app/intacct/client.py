"""The Intacct REST adapter behind InvoicePort: read an AR invoice, submit (post) a draft."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from app.domain.invoice import InvoiceLine, InvoiceSnapshot
from app.domain.money import MoneyError, parse_amount
from app.intacct.errors import (
    IntacctAuthError,
    IntacctError,
    error_from_response,
    error_from_transport,
    is_token_rejection,
    load_json,
)
from app.intacct.token import TokenProvider

INVOICE_PATH = "/objects/accounts-receivable/invoice"
SUBMIT_PATH = "/workflows/accounts-receivable/invoice/submit"
QUERY_PATH = "/services/core/query"  # core-query (common resources, NOTES.md "Query")
# States an invoice is in once it was posted (objects.accounts-receivable.invoice state enum).
POSTED_STATES = ("posted", "paid", "partiallyPaid")
QUERY_FIELDS = (
    "key",
    "invoiceNumber",
    "state",
    "customer.id",
    "currency.txnCurrency",
    "totalTxnAmount",
    "audit.modifiedDateTime",
)
QUERY_PAGE = 1000  # at most 4000 per page (core-query `size`)


class IntacctClient:
    """A synchronous, thread-safe Intacct client; satisfies app.flows.ports.InvoicePort.

    Errors come back as the typed exceptions of app.intacct.errors; the only retry done here is
    one token refresh when Intacct says the token is no longer valid.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        username: str,
        entity_id: str | None = None,
        clock: Callable[[], datetime],
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._entity_id = entity_id
        self._clock = clock
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._tokens = TokenProvider(
            http=self._http,
            token_url=f"{self._base_url}/oauth2/token",
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"IntacctClient(base_url={self._base_url!r}, entity_id={self._entity_id!r})"

    def get_invoice(self, key: str) -> InvoiceSnapshot:
        """Read an AR invoice as it is now."""
        body = self._call("GET", f"{INVOICE_PATH}/{quote(key, safe='')}", what="Get invoice")
        return snapshot_from_record(_result(body))

    def invoice_record(self, key: str) -> Mapping[str, Any]:
        """The AR invoice record as Intacct returns it (lines, dates, state, totals)."""
        body = self._call("GET", f"{INVOICE_PATH}/{quote(key, safe='')}", what="Get invoice")
        return _result(body)

    def query(
        self, request: Mapping[str, Any], *, what: str = "Query", limit: int | None = None
    ) -> list[Mapping[str, Any]]:
        """POST /services/core/query (core-query, CR@99645): the `ia::result` rows, as Intacct
        answers them (a related field under its dotted name, e.g. `customer.id`), page after
        page while `ia::meta.next` names one; at most `limit` rows (one page when the request's
        `size` covers it)."""
        rows: list[Mapping[str, Any]] = []
        start: int | None = int(request.get("start", 1))
        while start is not None and (limit is None or len(rows) < limit):
            body = self._call("POST", QUERY_PATH, what=what, json_body={**request, "start": start})
            page = body.get("ia::result") if isinstance(body, Mapping) else None
            if not isinstance(page, list):
                raise IntacctError(f"{what}: Intacct's query answer has no ia::result list")
            rows += [row for row in page if isinstance(row, Mapping)]
            meta = body.get("ia::meta")
            following = meta.get("next") if isinstance(meta, Mapping) else None
            start = following if isinstance(following, int) and following > start else None
        return rows if limit is None else rows[:limit]

    def submit_invoice(self, key: str, *, idempotency_key: str) -> InvoiceSnapshot:
        """Post a draft invoice, then read it back; a retry with the same key posts only once."""
        if not idempotency_key:
            raise ValueError("submit_invoice needs an idempotency_key")
        body = self._call(
            "POST",
            SUBMIT_PATH,
            what="Submit invoice",
            json_body={"key": key},
            headers={"Idempotency-Key": idempotency_key},
        )
        submitted_key = _result(body).get("key")
        return self.get_invoice(submitted_key if isinstance(submitted_key, str) else key)

    def posted_since(self, since: datetime) -> list[tuple[InvoiceSnapshot, str | None]]:
        """Every AR invoice in a posted state modified at or after `since` (the query service,
        paged), with its audit.modifiedDateTime."""
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = self.query(
            {
                "object": "accounts-receivable/invoice",
                "fields": list(QUERY_FIELDS),
                "filters": [
                    {"$in": {"state": list(POSTED_STATES)}},
                    {"$gte": {"audit.modifiedDateTime": stamp}},
                ],
                "filterExpression": "1 and 2",
                "orderBy": [{"key": "asc"}],
                "size": QUERY_PAGE,
            },
            what="Query invoices",
        )
        return [
            (snapshot_from_record(_nested(row)), _text(row, "audit.modifiedDateTime"))
            for row in rows
        ]

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> IntacctClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one API request (plus one retry with a fresh token); return the parsed JSON."""
        for attempt in (1, 2):
            token = self._tokens.get()
            try:
                response = self._http.request(
                    method,
                    f"{self._base_url}{path}",
                    json=json_body,
                    headers={**self._headers(token), **(headers or {})},
                )
            except httpx.TransportError as exc:
                raise error_from_transport(exc, what=what) from None
            if is_token_rejection(response):
                self._tokens.invalidate(token)
                if attempt == 1:
                    continue
                error = error_from_response(response, what=what, now=self._clock)
                raise IntacctAuthError(
                    f"{what}: Intacct rejected a freshly issued token: {error.message}",
                    status=error.status,
                    code=error.code,
                    error_id=error.error_id,
                    support_id=error.support_id,
                )
            if not response.is_success:
                raise error_from_response(response, what=what, now=self._clock)
            try:
                return load_json(response.content)
            except ValueError:
                raise IntacctError(f"{what}: response is not JSON", status=200) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _headers(self, token: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if self._entity_id:
            headers["X-IA-API-Param-Entity"] = self._entity_id
        return headers


def snapshot_from_record(record: Mapping[str, Any]) -> InvoiceSnapshot:
    """Map an `objects.accounts-receivable.invoice` record to the snapshot approvers see."""
    customer = record.get("customer")
    currency = record.get("currency")
    key = record.get("key")
    customer_id = customer.get("id") if isinstance(customer, Mapping) else None
    txn_currency = currency.get("txnCurrency") if isinstance(currency, Mapping) else None
    state = record.get("state")
    number = record.get("invoiceNumber")
    if not isinstance(key, str) or not isinstance(customer_id, str):
        raise IntacctError("invoice record lacks key, customer.id or currency.txnCurrency")
    if not isinstance(txn_currency, str):
        raise IntacctError("invoice record lacks key, customer.id or currency.txnCurrency")
    if not isinstance(state, str):
        raise IntacctError(f"invoice {key} has no state")
    return InvoiceSnapshot(
        key=key,
        customer_id=customer_id,
        currency=txn_currency,
        total=_amount(record.get("totalTxnAmount"), key),
        state=state,
        number=number if isinstance(number, str) else None,
        invoice_date=_date(record.get("invoiceDate"), key, "invoiceDate"),
        due_date=_date(record.get("dueDate"), key, "dueDate"),
        lines=_lines(record.get("lines"), key),
    )


def _date(value: Any, key: str, name: str) -> date | None:
    """invoiceDate and dueDate have format date (AR@659428, AR@659590)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise IntacctError(f"invoice {key} has an unreadable {name}: {str(value)[:40]!r}") from None


def _ref_id(value: Any) -> str | None:
    found = value.get("id") if isinstance(value, Mapping) else None
    return found if isinstance(found, str) and found else None


def _lines(value: Any, key: str) -> tuple[InvoiceLine, ...]:
    """`lines`: invoice-line[] (AR@687465): lineNumber, glAccount, txnAmount, memo, dimensions.

    The item is the `item` dimension (dimension-ref, AR@909919); the AR line has no quantity,
    unit price or service dates, so those cannot be read here."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise IntacctError(f"invoice {key} has lines that are not a list")
    lines: list[InvoiceLine] = []
    for index, line in enumerate(value):
        if not isinstance(line, Mapping):
            raise IntacctError(f"invoice {key} line {index + 1} is not an object")
        number = line.get("lineNumber")
        dimensions = line.get("dimensions")
        dims = (
            tuple(
                sorted(
                    (str(name), found)
                    for name, ref in dimensions.items()
                    if (found := _ref_id(ref)) is not None
                )
            )
            if isinstance(dimensions, Mapping)
            else ()
        )
        memo = line.get("memo")
        lines.append(
            InvoiceLine(
                number=int(number) if isinstance(number, int | Decimal) else index + 1,
                amount=_amount(line.get("txnAmount"), key, "line txnAmount"),
                gl_account=_ref_id(line.get("glAccount")),
                item=_ref_id(dimensions.get("item")) if isinstance(dimensions, Mapping) else None,
                memo=memo if isinstance(memo, str) and memo else None,
                dimensions=dims,
            )
        )
    return tuple(sorted(lines, key=lambda line: line.number))


def _amount(value: Any, key: str, name: str = "totalTxnAmount") -> Decimal:
    """Amounts are decimal strings; a JSON number was already parsed as Decimal."""
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    try:
        return parse_amount(value)
    except MoneyError as exc:
        raise IntacctError(f"invoice {key} has an unreadable {name}: {exc}") from None


def _nested(row: Any) -> dict[str, Any]:
    """A query row ({"customer.id": …}) in the record's nested shape ({"customer": {"id": …}})."""
    if not isinstance(row, Mapping):
        raise IntacctError("a query result row is not an object")
    record: dict[str, Any] = {}
    for name, value in row.items():
        node = record
        *parents, leaf = str(name).split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return record


def _text(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    return value if isinstance(value, str) else None


def _result(body: Any) -> Mapping[str, Any]:
    result = body.get("ia::result") if isinstance(body, Mapping) else None
    if not isinstance(result, Mapping):
        raise IntacctError("Intacct response has no ia::result object")
    return result
