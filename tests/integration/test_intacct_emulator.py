"""The Intacct emulator over raw HTTP: wire shapes, auth, idempotency, admin API, lifecycle."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.sandbox.intacct_emulator import FailureKind, IntacctEmulator
from tests.integration.intacct_fixtures import (
    DRAFT_KEY,
    INTACCT_CLIENT_ID,
    INTACCT_CLIENT_SECRET,
    INTACCT_USERNAME,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": INTACCT_CLIENT_ID,
    "client_secret": INTACCT_CLIENT_SECRET,
    "username": INTACCT_USERNAME,
}


@pytest.fixture
def api(intacct_emulator: IntacctEmulator) -> Iterator[httpx.Client]:
    """An httpx client at the emulator's base URL, already holding a bearer token."""
    with httpx.Client(base_url=intacct_emulator.base_url, timeout=5.0) as http:
        token = http.post("/oauth2/token", data=CREDENTIALS).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def _submit(http: httpx.Client, key: str, idem: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": idem} if idem else {}
    return http.post(
        "/workflows/accounts-receivable/invoice/submit", json={"key": key}, headers=headers
    )


def test_token_endpoint_accepts_a_form(intacct_emulator: IntacctEmulator) -> None:
    """Form-encoded client credentials yield a Bearer token with expires_in, not cached."""
    response = httpx.post(f"{intacct_emulator.base_url}/oauth2/token", data=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) > 20
    assert response.headers["Cache-Control"] == "no-store"


def test_token_endpoint_refuses_a_json_body(intacct_emulator: IntacctEmulator) -> None:
    """The same credentials sent as JSON get 400 invalid_request, as an OAuth2 server answers."""
    response = httpx.post(f"{intacct_emulator.base_url}/oauth2/token", json=CREDENTIALS)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in response.json()["error_description"]


def test_token_endpoint_rejects_bad_credentials(intacct_emulator: IntacctEmulator) -> None:
    """A wrong client secret gets 401 {"error": "invalid_client"}."""
    response = httpx.post(
        f"{intacct_emulator.base_url}/oauth2/token",
        data={**CREDENTIALS, "client_secret": "nope"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_get_invoice_has_intacct_shape(api: httpx.Client) -> None:
    """GET invoice answers ia::result with the invoice fields and totals as decimal strings."""
    response = api.get(f"/objects/accounts-receivable/invoice/{DRAFT_KEY}")
    assert response.status_code == 200
    body = response.json()
    result = body["ia::result"]
    assert result["key"] == DRAFT_KEY
    assert result["recordType"] == "ri"
    assert result["invoiceNumber"] == "INV-1001"
    assert result["state"] == "draft"
    assert result["customer"] == {
        "key": "C-ACME",
        "id": "C-ACME",
        "name": "Acme Logistics Inc.",
        "href": "/objects/accounts-receivable/customer/C-ACME",
    }
    assert result["currency"]["txnCurrency"] == "USD"
    assert result["totalTxnAmount"] == "1234.50"
    assert result["totalTxnAmountDue"] == "1234.50"
    assert result["href"] == f"/objects/accounts-receivable/invoice/{DRAFT_KEY}"
    assert body["ia::meta"] == {"totalCount": 1, "totalSuccess": 1, "totalError": 0}


def test_unknown_invoice_is_404_error_response(api: httpx.Client) -> None:
    """An unknown key gets 404 with ia::result.ia::error and an error ia::meta."""
    response = api.get("/objects/accounts-receivable/invoice/NOPE")
    assert response.status_code == 404
    error = response.json()["ia::result"]["ia::error"]
    assert error["code"] == "notFound"
    assert "NOPE" in error["message"]
    assert error["supportId"]
    assert response.json()["ia::meta"]["totalError"] == 1


def test_missing_or_expired_token_is_401(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """No Authorization header, or a token invalidated by expire_tokens, gets 401."""
    url = f"{intacct_emulator.base_url}/objects/accounts-receivable/invoice/{DRAFT_KEY}"
    assert httpx.get(url).status_code == 401
    intacct_emulator.expire_tokens()
    response = api.get(f"/objects/accounts-receivable/invoice/{DRAFT_KEY}")
    assert response.status_code == 401
    assert response.json()["ia::result"]["ia::error"]["message"] == "The token is not valid"


def test_submit_without_payload_is_400(api: httpx.Client) -> None:
    """A submit with no body gets Intacct's REST-1028 "requires a payload" error."""
    response = api.post("/workflows/accounts-receivable/invoice/submit")
    assert response.status_code == 400
    assert response.json()["ia::result"]["ia::error"]["errorId"] == "REST-1028"


def test_submit_posts_draft_and_refuses_second_post(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """Submit turns a draft into posted; a fresh submit of it is a 400 business error."""
    first = _submit(api, DRAFT_KEY)
    assert first.status_code == 200
    assert first.json()["ia::result"] == {
        "key": DRAFT_KEY,
        "id": DRAFT_KEY,
        "href": f"/objects/accounts-receivable/invoice/{DRAFT_KEY}",
        "state": "posted",
    }
    second = _submit(api, DRAFT_KEY)
    assert second.status_code == 400
    error = second.json()["ia::result"]["ia::error"]
    assert error["code"] == "invalidRequest"
    assert error["message"] == (
        f"Invoice {DRAFT_KEY} is posted; only draft invoices can be submitted"
    )
    assert intacct_emulator.submissions(DRAFT_KEY) == 1


def test_idempotency_key_replays_status_and_body(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """The same Idempotency-Key and body replays the first answer without executing again."""
    first = _submit(api, DRAFT_KEY, "k-1")
    again = _submit(api, DRAFT_KEY, "k-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert intacct_emulator.submissions() == 1


def test_idempotency_key_with_other_body_is_409(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """The same Idempotency-Key with a different body gets 409 with an error body."""
    intacct_emulator.add_invoice(
        "INV-KEY-2",
        number="N2",
        customer_id="C2",
        customer_name="Two Ltd",
        currency="EUR",
        amount="10",
    )
    assert _submit(api, DRAFT_KEY, "k-2").status_code == 200
    response = _submit(api, "INV-KEY-2", "k-2")
    assert response.status_code == 409
    assert response.json()["ia::result"]["ia::error"]["code"] == "conflict"
    assert intacct_emulator.invoice("INV-KEY-2")["state"] == "draft"


def test_set_amount_changes_the_served_total(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """set_amount simulates an edit after approval: GET serves the new decimal total."""
    intacct_emulator.set_amount(DRAFT_KEY, "1300")
    result = api.get(f"/objects/accounts-receivable/invoice/{DRAFT_KEY}").json()["ia::result"]
    assert result["totalTxnAmount"] == "1300.00"
    assert intacct_emulator.invoice(DRAFT_KEY)["totalTxnAmount"] == "1300.00"


def test_add_invoice_refuses_float_amounts(intacct_emulator: IntacctEmulator) -> None:
    """Amounts must be decimal strings or Decimal: a float is refused."""
    a_float: Any = 12.3
    with pytest.raises(ValueError, match="decimal string"):
        intacct_emulator.add_invoice(
            "F", number="F", customer_id="C", customer_name="C", currency="USD", amount=a_float
        )


def test_admin_http_seeds_invoices_and_queues_failures(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """POST/GET /_emulator/invoices and POST /_emulator/failures work from another process."""
    admin = intacct_emulator.base_url.removesuffix("/ia/api/v1") + "/_emulator"
    created = httpx.post(
        f"{admin}/invoices",
        json={
            "key": "INV-KEY-9",
            "number": "N9",
            "customer_id": "C9",
            "customer_name": "Nine Co",
            "currency": "EUR",
            "amount": "99.90",
        },
    )
    assert created.status_code == 201
    keys = [r["key"] for r in httpx.get(f"{admin}/invoices").json()["invoices"]]
    assert keys == [DRAFT_KEY, "INV-KEY-9"]
    queued = httpx.post(
        f"{admin}/failures", json={"operation": "get", "kind": "503", "retry_after": 4}
    )
    assert queued.status_code == 200
    failed = api.get("/objects/accounts-receivable/invoice/INV-KEY-9")
    assert (failed.status_code, failed.headers["Retry-After"]) == (503, "4")
    assert api.get("/objects/accounts-receivable/invoice/INV-KEY-9").status_code == 200
    bad = httpx.post(f"{admin}/failures", json={"operation": "get", "kind": "teapot"})
    assert bad.status_code == 400
    assert intacct_emulator.requests("/_emulator") == []


def test_requests_redact_credentials(api: httpx.Client, intacct_emulator: IntacctEmulator) -> None:
    """Recorded requests show neither the bearer token nor the client secret."""
    api.get(f"/objects/accounts-receivable/invoice/{DRAFT_KEY}")
    token = str(api.headers["Authorization"]).split(" ", 1)[1]
    (token_call,) = intacct_emulator.requests("/oauth2/token")
    assert token_call.json["client_secret"] == "[redacted]"
    (get_call,) = intacct_emulator.requests("/invoice/")
    assert get_call.headers["Authorization"] == "Bearer [redacted]"
    assert token not in repr(intacct_emulator.requests())
    assert INTACCT_CLIENT_SECRET not in repr(intacct_emulator.requests())


def test_timeout_failure_stalls_without_applying_and_stop_wakes_it() -> None:
    """A queued timeout stalls the submit unapplied; stop() still returns promptly."""
    with IntacctEmulator(
        client_id=INTACCT_CLIENT_ID, client_secret=INTACCT_CLIENT_SECRET
    ) as emulator:
        emulator.add_invoice(
            "K", number="N", customer_id="C", customer_name="C", currency="USD", amount="1.00"
        )
        token = httpx.post(f"{emulator.base_url}/oauth2/token", data=CREDENTIALS).json()[
            "access_token"
        ]
        emulator.fail_next("submit", "timeout", delay=30.0)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{emulator.base_url}/workflows/accounts-receivable/invoice/submit",
                json={"key": "K"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=0.3,
            )
        assert emulator.invoice("K")["state"] == "draft"
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    assert emulator.submissions("K") == 0


def test_stop_leaves_no_threads_or_listener() -> None:
    """After stop() no emulator thread runs and the port refuses connections."""
    emulator = IntacctEmulator().start()
    base_url = emulator.base_url
    assert httpx.post(f"{base_url}/oauth2/token", json={}).status_code == 400
    emulator.stop()
    emulator.stop()  # idempotent
    alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    assert not any("intacct-emulator" in name or "process_request" in name for name in alive)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/objects/accounts-receivable/invoice/x", timeout=1.0)


def test_cli_serves_seeded_examples() -> None:
    """`python -m app.sandbox.intacct_emulator --seed-example` prints base_url and serves drafts."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.sandbox.intacct_emulator", "--port", "0", "--seed-example"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/ia/api/v1")
        admin = base_url.removesuffix("/ia/api/v1") + "/_emulator/invoices"
        invoices = httpx.get(admin, timeout=5.0).json()["invoices"]
        assert invoices[0]["key"] == "INV-KEY-1001"
        assert {r["currency"]["txnCurrency"] for r in invoices} == {"USD", "EUR"}
        assert {r["state"] for r in invoices} == {"draft"}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_submit_refuses_unknown_fields_like_the_spec_example(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """A submit with a field it does not define gets REST-1064 with a REST-1043 detail per field."""
    response = api.post(
        "/workflows/accounts-receivable/invoice/submit",
        json={"key": DRAFT_KEY, "newDate": "2026-12-01", "memo": "x"},
    )
    assert response.status_code == 400
    error = response.json()["ia::result"]["ia::error"]
    assert (error["code"], error["errorId"], error["message"]) == (
        "invalidRequest",
        "REST-1064",
        "Payload contains errors",
    )
    assert [(d["errorId"], d["target"], d["message"]) for d in error["details"]] == [
        ("REST-1043", "/memo", "/memo is not a valid field"),
        ("REST-1043", "/newDate", "/newDate is not a valid field"),
    ]
    assert error["details"][0]["additionalInfo"]["messageId"] == "IA.NOT_A_VALID_FIELD"
    assert intacct_emulator.submissions(DRAFT_KEY) == 0


@pytest.mark.parametrize(("kind", "status"), [("403", 403), ("422", 422)])
def test_injected_403_and_422_refuse_without_applying(
    api: httpx.Client, intacct_emulator: IntacctEmulator, kind: FailureKind, status: int
) -> None:
    """fail_next can make the submit answer 403 or 422 with an ia::error; nothing is posted."""
    intacct_emulator.fail_next("submit", kind)
    response = _submit(api, DRAFT_KEY)
    assert response.status_code == status
    assert response.json()["ia::result"]["ia::error"]["errorId"] == f"REST-{status + 1000}"
    assert intacct_emulator.submissions(DRAFT_KEY) == 0
    assert _submit(api, DRAFT_KEY).status_code == 200


def test_drop_after_commit_posts_then_closes_without_an_answer(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """drop_after_commit applies the submit, then the connection closes with no response."""
    intacct_emulator.fail_next("submit", "drop_after_commit")
    with pytest.raises(httpx.RemoteProtocolError):
        _submit(api, DRAFT_KEY)
    assert intacct_emulator.invoice(DRAFT_KEY)["state"] == "posted"
    assert intacct_emulator.submissions(DRAFT_KEY) == 1


def test_500_after_commit_posts_then_answers_500(
    api: httpx.Client, intacct_emulator: IntacctEmulator
) -> None:
    """500_after_commit applies the submit and still answers 500 (a 5xx after it was sent)."""
    intacct_emulator.fail_next("submit", "500_after_commit")
    assert _submit(api, DRAFT_KEY).status_code == 500
    assert intacct_emulator.submissions(DRAFT_KEY) == 1


def test_emulator_imports_nothing_of_the_app() -> None:
    """Importing the emulator loads no Countersign module but its own and the emulator kit."""
    probe = (
        "import sys, app.sandbox.intacct_emulator, app.sandbox.intacct_emulator.__main__\n"
        "own = ('app', 'app.sandbox')\n"
        "mine = ('app.sandbox.intacct_emulator', 'app.sandbox.emulator_kit')\n"
        "print(sorted(m for m in sys.modules if m.startswith('app') and m not in own\n"
        "      and not m.startswith(mine)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
