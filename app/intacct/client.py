"""The Intacct REST adapter behind InvoicePort: read an AR invoice, submit (post) a draft."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from app.domain.invoice import InvoiceSnapshot
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
QUERY_PATH = "/services/core/query"


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

    def query(self, request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """POST /services/core/query (core-query, CR@99645): the `ia::result` rows."""
        body = self._call("POST", QUERY_PATH, what="Query", json_body=request)
        rows = body.get("ia::result") if isinstance(body, Mapping) else None
        if not isinstance(rows, list):
            raise IntacctError("Intacct query response has no ia::result array")
        return [row for row in rows if isinstance(row, Mapping)]

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
    )


def _amount(value: Any, key: str) -> Decimal:
    """totalTxnAmount is a decimal string; a JSON number was already parsed as Decimal."""
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    try:
        return parse_amount(value)
    except MoneyError as exc:
        raise IntacctError(f"invoice {key} has an unreadable totalTxnAmount: {exc}") from None


def _result(body: Any) -> Mapping[str, Any]:
    result = body.get("ia::result") if isinstance(body, Mapping) else None
    if not isinstance(result, Mapping):
        raise IntacctError("Intacct response has no ia::result object")
    return result
