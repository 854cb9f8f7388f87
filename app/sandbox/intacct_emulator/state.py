"""What the emulated Intacct company holds, and the operations on it.

One lock guards everything, so an idempotent submit (look up the key, apply, remember) is atomic.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from app.sandbox.intacct_emulator.query import query as run_query
from app.sandbox.intacct_emulator.records import (
    INVOICE_HREF,
    LineSpec,
    Reply,
    ia_error,
    invalid_field,
    invoice_record,
    oauth_error,
    ok,
    payload_errors,
    set_record_amount,
    set_record_lines,
    to_amount,
)

NO_BODY = object()  # the request had no body at all (distinct from JSON null)


@dataclass(frozen=True)
class _Remembered:
    body: Any
    reply: Reply


class CompanyState:
    """Invoices, issued tokens and Idempotency-Keys of one emulated company."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_ttl: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_ttl = token_ttl
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._invoices: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, float] = {}
        self._invalid_token_status = 401
        self._idempotency: dict[tuple[str, str], _Remembered] = {}
        self._submissions: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"CompanyState(invoices={len(self._invoices)}, tokens={len(self._tokens)})"

    # -- invoices -------------------------------------------------------------------------------

    def add_invoice(
        self,
        key: str,
        *,
        number: str,
        customer_id: str,
        customer_name: str,
        currency: str,
        amount: str | Decimal,
        state: str = "draft",
        invoice_date: date | None = None,
        due_date: date | None = None,
        lines: list[Any] | None = None,
    ) -> dict[str, Any]:
        if not key or "/" in key:
            raise ValueError("an invoice key must be non-empty and contain no '/'")
        issued = invoice_date or datetime.now(UTC).date()
        record = invoice_record(
            key=key,
            number=number,
            customer_id=customer_id,
            customer_name=customer_name,
            currency=currency,
            amount=to_amount(amount),
            state=state,
            invoice_date=issued,
            due_date=due_date or issued + timedelta(days=30),
            lines=[LineSpec.read(line) for line in lines] if lines is not None else None,
        )
        _touch(record, created=True)
        with self._lock:
            self._invoices[key] = record
            return copy.deepcopy(record)

    def post_outside(self, key: str) -> dict[str, Any]:
        """Someone posts the draft in Intacct itself (its UI, another integration), not through
        Countersign's submit: draft becomes posted (AR@262665), no Idempotency-Key, no count in
        submissions()."""
        with self._lock:
            record = self._invoices[key]
            if record["state"] != "draft":
                raise ValueError(f"invoice {key} is {record['state']}, not a draft")
            record["state"] = "posted"
            _touch(record)
            return copy.deepcopy(record)

    def invoice(self, key: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._invoices[key])

    def invoices(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(r) for r in self._invoices.values()]

    def set_amount(self, key: str, amount: str | Decimal) -> dict[str, Any]:
        with self._lock:
            record = self._invoices[key]
            set_record_amount(record, to_amount(amount))
            _touch(record)
            return copy.deepcopy(record)

    def edit(
        self, key: str, *, lines: list[Any] | None = None, due_date: date | None = None
    ) -> dict[str, Any]:
        """Someone edits the invoice in Intacct: new lines (totals follow) or a new due date."""
        with self._lock:
            record = self._invoices[key]
            if lines is not None:
                set_record_lines(record, [LineSpec.read(line) for line in lines])
            if due_date is not None:
                record["dueDate"] = due_date.isoformat()
            return copy.deepcopy(record)

    def submissions(self, key: str | None = None) -> int:
        with self._lock:
            if key is None:
                return sum(self._submissions.values())
            return self._submissions.get(key, 0)

    def submission_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._submissions)

    # -- tokens ---------------------------------------------------------------------------------

    def issue_token(self, form: Any, *, form_encoded: bool) -> Reply:
        """POST /oauth2/token (client credentials), as an OAuth2 authorization server answers."""
        # RFC 6749 §4.4.2 (and §3.2): the token request carries its parameters in an
        # application/x-www-form-urlencoded body; Sage's OAuth2 guide
        # (developer.sage.com/intacct/docs/developer-portal/guides/oauth2) sends a form too.
        # Anything else is a malformed request: 400 invalid_request (RFC 6749 §5.2).
        if not form_encoded or not isinstance(form, Mapping):
            return oauth_error(
                400,
                "invalid_request",
                "The token request must be an application/x-www-form-urlencoded body",
            )
        # RFC 6749 §5.2: an unknown grant is unsupported_grant_type; bad client credentials
        # are invalid_client with 401. Sage: username is userId@companyId[|entityId].
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "Only client_credentials is served")
        if form.get("client_id") != self._client_id or not secrets.compare_digest(
            str(form.get("client_secret", "")), self._client_secret
        ):
            return oauth_error(401, "invalid_client", "Client authentication failed")
        if not form.get("username"):
            return oauth_error(400, "invalid_request", "username (userId@companyId) is required")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = self._monotonic() + self._token_ttl
        # RFC 6749 §5.1: access_token, token_type, expires_in; Cache-Control: no-store.
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self._token_ttl}
        return Reply(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def check_auth(self, authorization: str | None) -> Reply | None:
        """None when the bearer token is valid, else the 401 (or 400) error reply.

        Every AR operation requires the OAuth2 scheme (`security`, AR@236510); the token goes
        in `Authorization: Bearer` (RFC 6750 §2.1, and Sage's REST SDK). A bad token is 401 per
        Sage's error guide; Sage's REST SDK also treats a 400 "Invalid token" as expiry.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return ia_error(
                401, "unauthorized", "Authorization: Bearer <token> is required", "REST-1401"
            )
        with self._lock:
            expires = self._tokens.get(token)
            if expires is not None and self._monotonic() < expires:
                return None
            self._tokens.pop(token, None)
            status = self._invalid_token_status
        message = "Invalid token" if status == 400 else "The token is not valid"
        return ia_error(status, "invalidToken", message, "REST-1401")

    def expire_tokens(self, status: Literal[400, 401] = 401) -> None:
        with self._lock:
            self._tokens.clear()
            self._invalid_token_status = status

    # -- API operations -------------------------------------------------------------------------

    def get_invoice(self, key: str) -> Reply:
        """GET /objects/accounts-receivable/invoice/{key}."""
        with self._lock:
            record = self._invoices.get(key)
            if record is None:
                return _not_found(key)
            return ok(copy.deepcopy(record))

    def submit(self, body: Any, idempotency_key: str | None) -> Reply:
        """POST /workflows/accounts-receivable/invoice/submit, honouring an Idempotency-Key.

        The AR spec declares no Idempotency-Key and no replay (NOTES.md, "Idempotency"); Sage's
        REST SDK sends one on writes and Sage's error guide lists 409 for "same idempotency key".
        The emulator replays the first answer to the same key and body, and answers 409 to the
        same key with another body; Countersign must not depend on the replay (it re-reads).
        """
        with self._lock:
            slot = ("submit", idempotency_key) if idempotency_key else None
            seen = self._idempotency.get(slot) if slot else None
            if seen is not None:
                if seen.body != body:
                    return ia_error(
                        409,
                        "conflict",
                        f"Idempotency-Key {idempotency_key!r} was already used with a "
                        "different request",
                        "REST-1409",
                    )
                replay = seen.reply
                return Reply(
                    replay.status, replay.body, {**replay.headers, "Idempotent-Replayed": "true"}
                )
            reply = self._apply_submit(body)
            if slot:
                self._idempotency[slot] = _Remembered(copy.deepcopy(body), reply)
            return reply

    def _apply_submit(self, body: Any) -> Reply:
        # No body: the spec's own error example, REST-1028 (error-response example, AR@903401).
        if body is NO_BODY:
            return ia_error(400, "invalidRequest", "A POST request requires a payload", "REST-1028")
        if not isinstance(body, Mapping):
            detail = {"code": "invalidRequest", "message": "The payload must be a JSON object"}
            return payload_errors([detail])
        # Fields the submit request does not define (it has only `key`, AR@689080) are refused
        # one by one, as the spec's error example does: "/newDate is not a valid field",
        # REST-1043 (error-response details, AR@904498).
        unknown = sorted(name for name in body if name != "key")
        if unknown:
            return payload_errors([invalid_field(str(name)) for name in unknown])
        key = body.get("key")
        if not isinstance(key, str) or not key:  # `key` is required (AR@689080)
            detail = {"code": "required", "message": "key is required", "target": "/key"}
            return payload_errors([detail])
        record = self._invoices.get(key)
        if record is None:
            return _not_found(key)
        # Submit turns a draft into posted (AR@262665); other states cannot be submitted.
        if record["state"] != "draft":
            message = f"Invoice {key} is {record['state']}; only draft invoices can be submitted"
            return ia_error(400, "invalidRequest", message, "BL01001973")
        record["state"] = "posted"
        _touch(record)
        self._submissions[key] = self._submissions.get(key, 0) + 1
        # 200 {key, id, href, state}: the submit-response schema (AR@689357).
        return ok({"key": key, "id": key, "href": INVOICE_HREF.format(key=key), "state": "posted"})

    def query(self, body: Any) -> Reply:
        """POST /services/core/query (see query.py)."""
        with self._lock:
            records = [copy.deepcopy(r) for r in self._invoices.values()]
        return run_query(records, body)


def _touch(record: dict[str, Any], *, created: bool = False) -> None:
    """The record's `audit` times (audit.s1: createdDateTime, modifiedDateTime, date-time, e.g.
    "2025-05-16T15:34:35Z"), set when it is created and on every change."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    audit = record.setdefault("audit", {})
    if created:
        audit["createdDateTime"] = now
    audit["modifiedDateTime"] = now


def _not_found(key: str) -> Reply:
    # 404 is in Sage's error guide, not in the AR spec; notFound / REST-1404 are guesses.
    return ia_error(404, "notFound", f"Invoice with key {key!r} was not found", "REST-1404")
