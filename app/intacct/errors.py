"""Typed Intacct failures, and the reading of Intacct's error-response body into them.

The client never sleeps and retries on its own (apart from one token refresh): it tells the caller
what kind of failure happened, and the caller (an outbox with backoff) decides when to try again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

_TOKEN_PHRASES = ("invalid token", "the token is not valid")


class IntacctError(Exception):
    """Any failure talking to Intacct; carries what Intacct said, when it said anything."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        error_id: str | None = None,
        support_id: str | None = None,
        details: tuple[dict[str, Any], ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.error_id = error_id
        self.support_id = support_id
        self.details = details

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.error_id:
            parts.append(f"errorId={self.error_id}")
        if self.support_id:
            parts.append(f"supportId={self.support_id}")
        return " ".join(parts)


class IntacctRetryable(IntacctError):
    """Worth trying again later (429, 5xx, timeouts, connection errors); same Idempotency-Key."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class IntacctOutcomeUnknown(IntacctRetryable):
    """The request was sent but its answer was lost (read timeout, connection reset, 5xx): a
    write may or may not have been applied. Re-read before doing anything else."""


class IntacctNotFound(IntacctError):
    """The object does not exist (404)."""


class IntacctConflict(IntacctError):
    """409: e.g. the Idempotency-Key was already used with a different request."""


class IntacctRejected(IntacctError):
    """A business refusal (400/422 and other 4xx), e.g. the invoice is already posted."""


class IntacctAuthError(IntacctError):
    """The credentials were refused, at the token endpoint or (after one refresh) by the API."""


class IntacctForbidden(IntacctAuthError):
    """403: the credentials work but lack a permission (e.g. a sender not authorised for the
    company). A configuration fault a person fixes, not a refusal of this invoice."""


def load_json(content: bytes) -> Any:
    """Parse a JSON body with every non-integer number as Decimal, never float."""
    return json.loads(content, parse_float=Decimal)


def ia_error(body: Any) -> Mapping[str, Any]:
    """The `ia::error` object of an error-response body, or {} when there is none."""
    if not isinstance(body, Mapping):
        return {}
    result = body.get("ia::result")
    if isinstance(result, Mapping):
        error = result.get("ia::error")
        if isinstance(error, Mapping):
            return error
    error = body.get("ia::error")  # tolerated: an error object not wrapped in ia::result
    return error if isinstance(error, Mapping) else {}


def is_token_rejection(response: httpx.Response) -> bool:
    """401, or a 400 whose message says the token is invalid: fetch a new token, retry once."""
    if response.status_code == 401:
        return True
    if response.status_code != 400:
        return False
    text = response.text.lower()
    return any(phrase in text for phrase in _TOKEN_PHRASES)


def retry_after_seconds(value: str | None, now: Callable[[], datetime]) -> float | None:
    """Read a Retry-After header: delta-seconds or an HTTP date (measured from the clock)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now()).total_seconds())


def error_from_response(
    response: httpx.Response, *, what: str, now: Callable[[], datetime]
) -> IntacctError:
    """Classify a non-2xx API response into the matching IntacctError subclass."""
    status = response.status_code
    try:
        body = load_json(response.content) if response.content else None
    except ValueError:
        body = None
    error = ia_error(body)
    raw_details = error.get("details")
    details = (
        tuple(d for d in raw_details if isinstance(d, dict))
        if isinstance(raw_details, list)
        else ()
    )
    fields: dict[str, Any] = {
        "status": status,
        "code": _text(error.get("code")),
        "error_id": _text(error.get("errorId")),
        "support_id": _text(error.get("supportId")),
        "details": details,
    }
    message = _text(error.get("message")) or f"{what}: HTTP {status} {response.reason_phrase}"
    retry_after = retry_after_seconds(response.headers.get("Retry-After"), now)
    if status >= 500:  # the server had the request: it may have acted before failing
        return IntacctOutcomeUnknown(message, retry_after=retry_after, **fields)
    if status == 429 or status == 408:
        return IntacctRetryable(message, retry_after=retry_after, **fields)
    if status == 404:
        return IntacctNotFound(message, **fields)
    if status == 409:
        return IntacctConflict(message, **fields)
    if status == 401:
        return IntacctAuthError(message, **fields)
    if status == 403:
        return IntacctForbidden(message, **fields)
    return IntacctRejected(message, **fields)


def error_from_transport(exc: httpx.TransportError, *, what: str) -> IntacctRetryable:
    """A timeout or connection failure: retryable. Unless the request never left (no
    connection), its outcome is unknown: a timed-out or cut-off write may have been applied."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    message = f"{what} {kind}: {type(exc).__name__}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return IntacctRetryable(message)
    return IntacctOutcomeUnknown(message)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
