"""The Intacct emulator's answers validate against Sage's AR OpenAPI and RFC 6749 (token)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import httpx
import pytest

from app.intacct.receivables import open_invoices_query
from app.sandbox.intacct_emulator import FailureKind, IntacctEmulator
from tests.integration.intacct_contract import (
    ERROR_RESPONSE,
    INVOICE_GET,
    SUBMIT,
    TOKEN_ERROR,
    TOKEN_OK,
    load,
    response_schema_ref,
    schema_errors,
    undeclared_fields,
    validation_errors,
)
from tests.integration.intacct_fixtures import (
    DRAFT_KEY,
    INTACCT_CLIENT_ID,
    INTACCT_CLIENT_SECRET,
    INTACCT_USERNAME,
)

CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": INTACCT_CLIENT_ID,
    "client_secret": INTACCT_CLIENT_SECRET,
    "username": INTACCT_USERNAME,
}
GET_OK = response_schema_ref(INVOICE_GET, "get", "200")
SUBMIT_OK = response_schema_ref(SUBMIT, "post", "200")
SUBMIT_PATH = "/workflows/accounts-receivable/invoice/submit"


@pytest.fixture
def api(intacct_emulator: IntacctEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=intacct_emulator.base_url, timeout=5.0) as http:
        token = http.post("/oauth2/token", data=CREDENTIALS).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def test_invoice_record_validates_and_declares_every_field(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """GET invoice (draft and posted) validates against the spec and sends no invented field."""
    for _ in ("draft", "posted"):
        response = api.get(f"/objects/accounts-receivable/invoice/{DRAFT_KEY}")
        assert response.status_code == 200
        body = load(response.content)
        assert validation_errors(body, GET_OK) == []
        assert undeclared_fields(body, GET_OK) == []
        api.post(SUBMIT_PATH, json={"key": DRAFT_KEY})
    assert intacct_emulator.invoice(DRAFT_KEY)["state"] == "posted"


def test_invoice_lines_validate_and_declare_every_field(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """A multi-line invoice (items, memo) after an edit validates and has no invented field."""
    intacct_emulator.edit_invoice(
        DRAFT_KEY,
        lines=[
            {"item": "PLATFORM", "amount": "1000.00", "memo": "Platform, 2026-12"},
            {"item": "SEATS", "amount": "234.50", "location": "EU", "gl_account": "4100"},
        ],
    )
    body = load(api.get(f"/objects/accounts-receivable/invoice/{DRAFT_KEY}").content)
    assert [line["lineNumber"] for line in body["ia::result"]["lines"]] == [1, 2]
    assert validation_errors(body, GET_OK) == []
    assert undeclared_fields(body, GET_OK) == []


def test_validator_refuses_the_old_record_shape(intacct_emulator: IntacctEmulator) -> None:
    """The check can fail: a string exchange rate and a null typeId break the spec's schema."""
    record = copy.deepcopy(intacct_emulator.invoice(DRAFT_KEY))
    record["currency"]["exchangeRate"] |= {"rate": "1", "typeId": None}
    record["state"] = "approved"
    record["madeUp"] = True
    body = {"ia::result": record}
    problems = "\n".join(validation_errors(body, GET_OK))
    assert "ia::result/currency/exchangeRate/rate: '1' is not of type 'number'" in problems
    assert "ia::result/currency/exchangeRate/typeId: None is not of type 'string'" in problems
    assert "ia::result/state: 'approved' is not one of" in problems
    assert undeclared_fields(body, GET_OK) == ["/ia::result/madeUp"]


def test_submit_answer_validates(api: httpx.Client) -> None:
    """The submit's 200 answer validates against the submit response schema."""
    response = api.post(SUBMIT_PATH, json={"key": DRAFT_KEY})
    assert response.status_code == 200
    body = load(response.content)
    assert validation_errors(body, SUBMIT_OK) == []
    assert undeclared_fields(body, SUBMIT_OK) == []


def test_every_error_answer_is_an_error_response(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """Each error the emulator gives (400/401/403/404/409/422/429/5xx) is an error-response."""
    invoice = f"/objects/accounts-receivable/invoice/{DRAFT_KEY}"

    def injected(op: str, kind: FailureKind) -> Callable[[], httpx.Response]:
        def run() -> httpx.Response:
            intacct_emulator.fail_next("get" if op == "get" else "submit", kind, retry_after=0)
            if op == "get":
                return api.get(invoice)
            return api.post(SUBMIT_PATH, json={"key": DRAFT_KEY})

        return run

    cases: list[tuple[int, Callable[[], httpx.Response]]] = [
        (400, lambda: api.post(SUBMIT_PATH)),
        (400, lambda: api.post(SUBMIT_PATH, json={"key": DRAFT_KEY, "newDate": "2026-12-01"})),
        (400, lambda: api.post(SUBMIT_PATH, json={})),
        (404, lambda: api.get("/objects/accounts-receivable/invoice/NOPE")),
        (401, lambda: httpx.get(f"{intacct_emulator.base_url}{invoice}")),
        (403, injected("submit", "403")),
        (422, injected("submit", "422")),
        (429, injected("get", "429")),
        (500, injected("get", "500")),
        (503, injected("submit", "503")),
        (400, injected("submit", "business")),
    ]
    for status, call in cases:
        response = call()
        assert response.status_code == status, response.text
        body = load(response.content)
        assert validation_errors(body, ERROR_RESPONSE) == [], response.text
        assert body["ia::result"]["ia::error"]["errorId"]
    api.post(SUBMIT_PATH, json={"key": DRAFT_KEY}, headers={"Idempotency-Key": "k"})
    conflict = api.post(SUBMIT_PATH, json={"key": "other"}, headers={"Idempotency-Key": "k"})
    assert conflict.status_code == 409
    assert validation_errors(load(conflict.content), ERROR_RESPONSE) == []
    intacct_emulator.expire_tokens(status=400)
    expired = api.get(invoice)
    assert expired.status_code == 400
    assert validation_errors(load(expired.content), ERROR_RESPONSE) == []


def test_token_answers_follow_rfc_6749(intacct_emulator: IntacctEmulator) -> None:
    """Token success and errors (JSON body, bad secret, wrong grant, 503) have RFC 6749 shapes."""
    url = f"{intacct_emulator.base_url}/oauth2/token"
    good = httpx.post(url, data=CREDENTIALS)
    assert good.status_code == 200
    assert schema_errors(good.json(), TOKEN_OK) == []
    errors = [
        (httpx.post(url, json=CREDENTIALS), 400, "invalid_request"),
        (httpx.post(url, data={**CREDENTIALS, "client_secret": "x"}), 401, "invalid_client"),
        (httpx.post(url, data={**CREDENTIALS, "grant_type": "password"}), 400, None),
    ]
    intacct_emulator.fail_next("token", "503", retry_after=0)
    errors.append((httpx.post(url, data=CREDENTIALS), 503, "temporarily_unavailable"))
    for response, status, code in errors:
        assert response.status_code == status
        assert schema_errors(response.json(), TOKEN_ERROR) == []
        assert code is None or response.json()["error"] == code


QUERY_PATH = "/services/core/query"
QUERY_OK = response_schema_ref(QUERY_PATH, "post", "200")
CORE_QUERY = "#/components/schemas/core-query"


def _posted_query(since: str, start: int = 1, size: int = 100) -> dict[str, object]:
    """The request the client sends to list posted invoices (a core-query)."""
    return {
        "object": "accounts-receivable/invoice",
        "fields": ["key", "state", "customer.id", "totalTxnAmount", "audit.modifiedDateTime"],
        "filters": [
            {"$in": {"state": ["posted", "paid", "partiallyPaid"]}},
            {"$gte": {"audit.modifiedDateTime": since}},
        ],
        "filterExpression": "1 and 2",
        "orderBy": [{"key": "asc"}],
        "start": start,
        "size": size,
    }


def test_query_request_and_answer_follow_the_spec(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """The client's core-query validates, and the emulator's answer (rows, metadata-pages) and
    its paging follow the query response schema; only posted invoices since the time match."""
    for n in range(3):
        intacct_emulator.add_invoice(
            f"INV-Q{n}", number=f"Q{n}", customer_id="C-Q", customer_name="Q", currency="USD",
            amount="10.00", state="posted",
        )  # fmt: skip
    request = _posted_query("2000-01-01T00:00:00Z", size=2)
    assert validation_errors(request, CORE_QUERY) == []
    first = api.post(QUERY_PATH, json=request)
    assert first.status_code == 200, first.text
    body = load(first.content)
    assert validation_errors(body, QUERY_OK) == []
    assert [row["key"] for row in body["ia::result"]] == ["INV-Q0", "INV-Q1"]
    assert body["ia::result"][0]["customer.id"] == "C-Q"
    assert body["ia::meta"] == {
        "totalCount": 3, "start": 1, "pageSize": 2, "next": 3, "previous": None,
    }  # fmt: skip
    second = load(api.post(QUERY_PATH, json=request | {"start": 3}).content)
    assert validation_errors(second, QUERY_OK) == []
    assert [row["key"] for row in second["ia::result"]] == ["INV-Q2"]
    assert second["ia::meta"]["next"] is None
    later = load(api.post(QUERY_PATH, json=_posted_query("2999-01-01T00:00:00Z")).content)
    assert later["ia::result"] == []  # nothing modified since then; the draft never matches
    record = load(api.get(f"/objects/accounts-receivable/invoice/{DRAFT_KEY}").content)
    assert validation_errors(record, GET_OK) == []  # with its audit times
    assert record["ia::result"]["audit"]["modifiedDateTime"].endswith("Z")


def test_query_mistakes_are_error_responses(api: httpx.Client) -> None:
    """Another object, no fields, an unknown member, a bad filter or size > 4000 is a 400
    error-response."""
    good = _posted_query("2000-01-01T00:00:00Z")
    for bad in (
        good | {"object": "accounts-payable/vendor"},
        good | {"fields": []},
        good | {"madeUp": 1},
        good | {"filters": [{"$eq": "x"}]},
        good | {"size": 4001},
        good | {"filterExpression": "1 or 2"},
    ):
        response = api.post(QUERY_PATH, json=bad)
        assert response.status_code == 400, bad
        assert validation_errors(load(response.content), ERROR_RESPONSE) == []


def test_open_receivables_query_and_answer_validate(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """The open-receivables query Countersign sends is a core-query, and the emulator's answer
    (only the customer's invoices in the states asked for) validates against the spec."""
    intacct_emulator.add_invoice(
        "Q-1", number="Q-1", customer_id="C-Q", customer_name="Q", currency="USD",
        amount="10.00", state="posted",
    )  # fmt: skip
    intacct_emulator.add_invoice(
        "Q-2", number="Q-2", customer_id="C-Q", customer_name="Q", currency="USD",
        amount="20.00", state="paid",
    )  # fmt: skip
    request = open_invoices_query("C-Q")
    assert validation_errors(request, CORE_QUERY) == []
    response = api.post(QUERY_PATH, json=request)
    assert response.status_code == 200
    body = load(response.content)
    assert validation_errors(body, QUERY_OK) == []
    assert [row["key"] for row in body["ia::result"]] == ["Q-1"]
    assert body["ia::meta"]["totalCount"] == 1
    refused = api.post(QUERY_PATH, json={**request, "object": "accounts-payable/vendor"})
    assert refused.status_code == 400
    assert validation_errors(load(refused.content), ERROR_RESPONSE) == []
