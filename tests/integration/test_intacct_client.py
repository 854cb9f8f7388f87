"""IntacctClient against the running emulator over real HTTP: tokens, mapping, errors, replay."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import httpx
import pytest

from app.domain.invoice import InvoiceLine, InvoiceSnapshot, differences
from app.intacct import (
    IntacctAuthError,
    IntacctClient,
    IntacctConflict,
    IntacctForbidden,
    IntacctNotFound,
    IntacctOutcomeUnknown,
    IntacctRejected,
    IntacctRetryable,
)
from app.intacct.client import snapshot_from_record
from app.intacct.errors import load_json
from app.sandbox.intacct_emulator import FailureKind, IntacctEmulator
from tests.integration.intacct_fixtures import (
    DRAFT_KEY,
    INTACCT_CLIENT_ID,
    INTACCT_CLIENT_SECRET,
    INTACCT_USERNAME,
    ManualClock,
)

MakeClient = Callable[..., IntacctClient]


def _add(emulator: IntacctEmulator, key: str, *, state: str = "draft") -> None:
    emulator.add_invoice(
        key,
        number=f"N-{key}",
        customer_id="C-NORD",
        customer_name="Nordlicht Software GmbH",
        currency="EUR",
        amount="8730.50",
        state=state,
    )


def _token_requests(emulator: IntacctEmulator) -> int:
    return len(emulator.requests("/oauth2/token"))


def test_token_fetched_once_and_cached(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """Several calls share one token fetched with a form-encoded client-credentials request."""
    intacct_client.get_invoice(DRAFT_KEY)
    intacct_client.get_invoice(DRAFT_KEY)
    intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="idem-cache")
    (token_request,) = intacct_emulator.requests("/oauth2/token")
    assert token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_request.status == 200
    assert token_request.json["grant_type"] == "client_credentials"
    assert token_request.json["client_id"] == INTACCT_CLIENT_ID
    assert token_request.json["username"] == INTACCT_USERNAME
    api_calls = intacct_emulator.requests("/accounts-receivable/")
    assert len(api_calls) == 4  # two GETs, the submit and its read-back GET
    assert all(r.headers["Authorization"] == "Bearer [redacted]" for r in api_calls)
    assert all(r.headers["Accept"] == "application/json" for r in api_calls)


def test_token_refreshed_after_clock_passes_expiry_minus_margin(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator, intacct_clock: ManualClock
) -> None:
    """The cached token is reused until 60 s before expires_in, then a new one is fetched."""
    intacct_client.get_invoice(DRAFT_KEY)
    intacct_clock.advance(3600 - 61)
    intacct_client.get_invoice(DRAFT_KEY)
    assert _token_requests(intacct_emulator) == 1
    intacct_clock.advance(2)
    intacct_client.get_invoice(DRAFT_KEY)
    assert _token_requests(intacct_emulator) == 2


def test_expired_token_refetched_once_transparently(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """A 401 for a revoked token drops the cache, fetches a new token and retries once."""
    intacct_client.get_invoice(DRAFT_KEY)
    intacct_emulator.expire_tokens()
    snapshot = intacct_client.get_invoice(DRAFT_KEY)
    assert snapshot.key == DRAFT_KEY
    assert _token_requests(intacct_emulator) == 2
    statuses = [r.status for r in intacct_emulator.requests(f"/invoice/{DRAFT_KEY}")]
    assert statuses == [200, 401, 200]


def test_invalid_token_400_also_triggers_one_refetch(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """A 400 whose error says "Invalid token" is treated like a 401: refetch and retry once."""
    intacct_client.get_invoice(DRAFT_KEY)
    intacct_emulator.expire_tokens(status=400)
    assert intacct_client.get_invoice(DRAFT_KEY).state == "draft"
    statuses = [r.status for r in intacct_emulator.requests(f"/invoice/{DRAFT_KEY}")]
    assert statuses == [200, 400, 200]


def test_concurrent_threads_fetch_a_single_token(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """Worker threads sharing one client fetch the token only once."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            intacct_client.get_invoice(DRAFT_KEY)
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _token_requests(intacct_emulator) == 1
    assert len(intacct_emulator.requests(f"/invoice/{DRAFT_KEY}")) == 8


def test_bad_credentials_raise_auth_error(make_intacct_client: MakeClient) -> None:
    """A token endpoint refusal becomes IntacctAuthError with the OAuth error code."""
    client = make_intacct_client(client_secret="wrong-secret-value")
    with pytest.raises(IntacctAuthError) as caught:
        client.get_invoice(DRAFT_KEY)
    assert caught.value.status == 401
    assert caught.value.code == "invalid_client"
    assert "wrong-secret-value" not in str(caught.value)


def test_token_endpoint_429_is_retryable(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """A rate-limited token request is retryable, not an auth failure."""
    intacct_emulator.fail_next("token", "429", retry_after=3)
    with pytest.raises(IntacctRetryable) as caught:
        intacct_client.get_invoice(DRAFT_KEY)
    assert caught.value.retry_after == 3.0


def test_get_invoice_maps_fields_with_exact_decimal(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """get_invoice maps key, customer.id, txnCurrency, totalTxnAmount (Decimal), state, number,
    dates and lines."""
    snapshot = intacct_client.get_invoice(DRAFT_KEY)
    record = intacct_emulator.invoice(DRAFT_KEY)
    assert snapshot == InvoiceSnapshot(
        key=DRAFT_KEY,
        customer_id="C-ACME",
        currency="USD",
        total=Decimal("1234.50"),
        state="draft",
        number="INV-1001",
        invoice_date=date.fromisoformat(record["invoiceDate"]),
        due_date=date.fromisoformat(record["dueDate"]),
        lines=(
            InvoiceLine(
                number=1,
                amount=Decimal("1234.50"),
                gl_account="4000",
                item="SUBSCRIPTION",
                dimensions=(("item", "SUBSCRIPTION"), ("location", "US")),
            ),
        ),
    )
    assert str(snapshot.total) == "1234.50"


def test_fingerprint_covers_lines_and_dates(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """Same total, other lines or due date: the v2 fingerprint changes, the claim one does not."""
    before = intacct_client.get_invoice(DRAFT_KEY)
    assert before.fingerprint().startswith("v2:")
    assert len(before.fingerprint()) == 64
    assert before.matches(before.fingerprint())
    assert before.matches(before.claim_fingerprint())
    intacct_emulator.edit_invoice(
        DRAFT_KEY,
        lines=[
            {"item": "PLATFORM", "amount": "1000.00"},
            {"item": "SEATS", "amount": "234.50", "memo": "10 seats"},
        ],
    )
    split = intacct_client.get_invoice(DRAFT_KEY)
    assert split.total == before.total
    assert split.claim_fingerprint() == before.claim_fingerprint()
    assert not split.matches(before.fingerprint())
    assert differences(before, split) == [
        "line 1: 1 · SUBSCRIPTION · 1234.50 → 1 · PLATFORM · 1000.00",
        "line added: 2 · SEATS · 234.50 (10 seats)",
    ]
    intacct_emulator.edit_invoice(DRAFT_KEY, due_date=date(2031, 1, 31))
    later = intacct_client.get_invoice(DRAFT_KEY)
    assert not later.matches(split.fingerprint())
    assert differences(split, later)[0].startswith("due date ")


def test_json_number_amount_is_parsed_as_decimal_not_float() -> None:
    """A totalTxnAmount sent as a JSON number keeps its exact digits (parse_float=Decimal)."""
    raw = (
        b'{"key": "7", "state": "draft", "customer": {"id": "C1"},'
        b' "currency": {"txnCurrency": "USD"}, "totalTxnAmount": 1234.10}'
    )
    snapshot = snapshot_from_record(load_json(raw))
    assert snapshot.total == Decimal("1234.10")
    assert str(snapshot.total) == "1234.10"


def test_unknown_invoice_raises_not_found(intacct_client: IntacctClient) -> None:
    """A 404 becomes IntacctNotFound carrying Intacct's error code."""
    with pytest.raises(IntacctNotFound) as caught:
        intacct_client.get_invoice("NO-SUCH-KEY")
    assert caught.value.status == 404
    assert caught.value.code == "notFound"


def test_entity_header_sent_when_configured(
    make_intacct_client: MakeClient, intacct_emulator: IntacctEmulator
) -> None:
    """With entity_id set, every API call carries X-IA-API-Param-Entity."""
    make_intacct_client(entity_id="US-EAST").get_invoice(DRAFT_KEY)
    (call,) = intacct_emulator.requests(f"/invoice/{DRAFT_KEY}")
    assert call.headers["X-IA-API-Param-Entity"] == "US-EAST"


def test_submit_posts_draft_once(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """submit_invoice posts the draft, sends the Idempotency-Key and returns the read-back."""
    snapshot = intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-1")
    assert snapshot.state == "posted"
    assert snapshot.total == Decimal("1234.50")
    assert intacct_emulator.invoice(DRAFT_KEY)["state"] == "posted"
    assert intacct_emulator.submissions(DRAFT_KEY) == 1
    (submit,) = intacct_emulator.requests("/invoice/submit")
    assert submit.headers["Idempotency-Key"] == "release-1"
    assert submit.json == {"key": DRAFT_KEY}


def test_second_submit_with_same_key_replays(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """Repeating a submit with the same Idempotency-Key succeeds without posting again."""
    first = intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-2")
    second = intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-2")
    assert first == second
    assert second.state == "posted"
    assert intacct_emulator.submissions(DRAFT_KEY) == 1
    assert [r.status for r in intacct_emulator.requests("/invoice/submit")] == [200, 200]


def test_same_key_different_body_raises_conflict(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """Reusing an Idempotency-Key for another invoice is a 409 IntacctConflict; nothing posts."""
    _add(intacct_emulator, "INV-KEY-2002")
    intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-3")
    with pytest.raises(IntacctConflict) as caught:
        intacct_client.submit_invoice("INV-KEY-2002", idempotency_key="release-3")
    assert caught.value.status == 409
    assert intacct_emulator.invoice("INV-KEY-2002")["state"] == "draft"
    assert intacct_emulator.submissions("INV-KEY-2002") == 0


def test_submit_of_posted_invoice_is_rejected_with_intacct_code(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """Submitting a posted invoice raises IntacctRejected with Intacct's code and message."""
    _add(intacct_emulator, "11", state="posted")
    with pytest.raises(IntacctRejected) as caught:
        intacct_client.submit_invoice("11", idempotency_key="release-4")
    assert caught.value.status == 400
    assert caught.value.code == "invalidRequest"
    assert caught.value.message == "Invoice 11 is posted; only draft invoices can be submitted"
    assert caught.value.error_id is not None
    assert caught.value.support_id is not None
    assert intacct_emulator.submissions("11") == 0


def test_429_is_retryable_with_retry_after(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """A 429 becomes IntacctRetryable whose retry_after is the Retry-After header."""
    intacct_emulator.fail_next("get", "429", retry_after=7)
    with pytest.raises(IntacctRetryable) as caught:
        intacct_client.get_invoice(DRAFT_KEY)
    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert intacct_client.get_invoice(DRAFT_KEY).key == DRAFT_KEY


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_are_retryable(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator, kind: FailureKind
) -> None:
    """A 500 or 503 on submit becomes IntacctRetryable and posts nothing."""
    intacct_emulator.fail_next("submit", kind)
    with pytest.raises(IntacctRetryable) as caught:
        intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-5")
    assert caught.value.status == int(kind)
    assert intacct_emulator.submissions(DRAFT_KEY) == 0


def test_timeout_is_retryable(
    make_intacct_client: MakeClient, intacct_emulator: IntacctEmulator
) -> None:
    """A stalled submit past the client timeout becomes IntacctRetryable; nothing was posted."""
    client = make_intacct_client(timeout=0.5)
    client.get_invoice(DRAFT_KEY)  # token first, so the stall hits the submit itself
    intacct_emulator.fail_next("submit", "timeout", delay=2.0)
    with pytest.raises(IntacctRetryable):
        client.submit_invoice(DRAFT_KEY, idempotency_key="release-6")
    assert intacct_emulator.invoice(DRAFT_KEY)["state"] == "draft"
    assert intacct_emulator.submissions(DRAFT_KEY) == 0


def test_timeout_after_commit_then_retry_posts_exactly_once(
    make_intacct_client: MakeClient, intacct_emulator: IntacctEmulator
) -> None:
    """If the submit applied but the answer was lost, the retry with the same key succeeds."""
    client = make_intacct_client(timeout=0.5)
    intacct_emulator.fail_next("submit", "timeout_after_commit", delay=2.0)
    with pytest.raises(IntacctRetryable):
        client.submit_invoice(DRAFT_KEY, idempotency_key="release-7")
    assert intacct_emulator.submissions(DRAFT_KEY) == 1
    snapshot = client.submit_invoice(DRAFT_KEY, idempotency_key="release-7")
    assert snapshot.state == "posted"
    assert intacct_emulator.submissions(DRAFT_KEY) == 1


def test_connection_refused_is_retryable(
    make_intacct_client: MakeClient, intacct_clock: ManualClock
) -> None:
    """Nothing listening at the base URL is a retryable connection error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_intacct_client(base_url=f"http://127.0.0.1:{port}/ia/api/v1")
    with pytest.raises(IntacctRetryable):
        client.get_invoice(DRAFT_KEY)


def test_secrets_never_in_repr_or_recorded_requests(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """Neither the client secret nor any bearer token shows in repr(client) or request logs."""
    intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-8")
    token = httpx.post(
        f"{intacct_emulator.base_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": INTACCT_CLIENT_ID,
            "client_secret": INTACCT_CLIENT_SECRET,
            "username": INTACCT_USERNAME,
        },
    ).json()["access_token"]
    httpx.get(
        f"{intacct_emulator.base_url}/objects/accounts-receivable/invoice/{DRAFT_KEY}",
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    assert INTACCT_CLIENT_SECRET not in repr(intacct_client)
    assert "Bearer" not in repr(intacct_client)
    recorded = repr(intacct_emulator.requests())
    assert INTACCT_CLIENT_SECRET not in recorded
    assert token not in recorded
    for request in intacct_emulator.requests("/oauth2/token"):
        assert request.json["client_secret"] == "[redacted]"


def test_403_is_a_configuration_fault_not_a_refusal(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """A 403 raises IntacctForbidden (an auth error a person fixes), not IntacctRejected."""
    intacct_emulator.fail_next("submit", "403")
    with pytest.raises(IntacctForbidden) as caught:
        intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-9")
    assert isinstance(caught.value, IntacctAuthError)
    assert not isinstance(caught.value, IntacctRejected)
    assert caught.value.status == 403
    assert _token_requests(intacct_emulator) == 1  # no token refresh for a missing permission


def test_422_is_a_business_refusal(
    intacct_client: IntacctClient, intacct_emulator: IntacctEmulator
) -> None:
    """A 422 raises IntacctRejected with Intacct's errorId; nothing was posted."""
    intacct_emulator.fail_next("submit", "422")
    with pytest.raises(IntacctRejected) as caught:
        intacct_client.submit_invoice(DRAFT_KEY, idempotency_key="release-10")
    assert (caught.value.status, caught.value.error_id) == (422, "REST-1422")
    assert intacct_emulator.submissions(DRAFT_KEY) == 0


@pytest.mark.parametrize("kind", ["drop_after_commit", "500_after_commit", "timeout_after_commit"])
def test_lost_submit_answer_is_outcome_unknown(
    make_intacct_client: MakeClient, intacct_emulator: IntacctEmulator, kind: FailureKind
) -> None:
    """A submit applied whose answer is lost (cut, 5xx, timeout) raises IntacctOutcomeUnknown."""
    client = make_intacct_client(timeout=0.5)
    intacct_emulator.fail_next("submit", kind, delay=1.0)
    with pytest.raises(IntacctOutcomeUnknown):
        client.submit_invoice(DRAFT_KEY, idempotency_key="release-11")
    assert intacct_emulator.submissions(DRAFT_KEY) == 1


def test_refused_connection_and_429_are_not_outcome_unknown(
    make_intacct_client: MakeClient, intacct_emulator: IntacctEmulator
) -> None:
    """A 429 or a refused connection never reached processing: retryable, outcome known."""
    intacct_emulator.fail_next("submit", "429", retry_after=0)
    client = make_intacct_client()
    with pytest.raises(IntacctRetryable) as busy:
        client.submit_invoice(DRAFT_KEY, idempotency_key="release-12")
    assert not isinstance(busy.value, IntacctOutcomeUnknown)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    offline = make_intacct_client(base_url=f"http://127.0.0.1:{port}/ia/api/v1")
    with pytest.raises(IntacctRetryable) as refused:
        offline.get_invoice(DRAFT_KEY)
    assert not isinstance(refused.value, IntacctOutcomeUnknown)
