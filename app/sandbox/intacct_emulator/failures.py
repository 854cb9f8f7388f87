"""Failures queued by tests: a 429, a 5xx, a 403, a 422, a business refusal, a stalled answer,
or a request that is applied and whose answer is then lost.

Statuses follow Sage's REST error-handling guide
(developer.sage.com/intacct/docs/developer-portal/guides/error-handling: 400, 401, 403, 404,
405, 409, 422, 429 and 5xx); the AR spec itself declares only 400 (AR@954849). The codes and
errorIds of the injected bodies are the emulator's guesses in the error-response shape.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal, get_args

from app.sandbox.intacct_emulator.records import Reply, ia_error, oauth_error

Operation = Literal["token", "get", "submit", "query"]
FailureKind = Literal[
    "429",
    "500",
    "503",
    "403",
    "422",
    "timeout",
    "business",
    "timeout_after_commit",
    "drop_after_commit",
    "500_after_commit",
]
AFTER_COMMIT: frozenset[str] = frozenset(
    {"timeout_after_commit", "drop_after_commit", "500_after_commit"}
)


@dataclass(frozen=True)
class Failure:
    """One queued failure.

    timeout: stall `delay` seconds, then answer 504 without applying the request.
    timeout_after_commit: apply the request, stall `delay` seconds, then answer normally.
    drop_after_commit: apply the request, then close the connection without any answer.
    500_after_commit: apply the request, then answer 500 as if it had failed.
    403: "not authorised" (e.g. a sender or user without the permission); nothing applied.
    422: a business validation refusal of this request; nothing applied.
    """

    kind: FailureKind
    retry_after: int = 1
    delay: float = 2.0

    @property
    def applies_request(self) -> bool:
        return self.kind in AFTER_COMMIT


class FailureQueue:
    """Per-operation FIFO of failures; each matching request consumes one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # None is a pass: let one matching request through untouched (see `after`).
        self._queues: dict[str, deque[Failure | None]] = {op: deque() for op in get_args(Operation)}

    def add(
        self,
        operation: Operation,
        kind: FailureKind,
        *,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 2.0,
        after: int = 0,
    ) -> None:
        """Queue `times` failures, behind `after` requests that pass untouched."""
        if operation not in self._queues:
            raise ValueError(f"operation must be one of {sorted(self._queues)}, not {operation!r}")
        if kind not in get_args(FailureKind):
            raise ValueError(f"kind must be one of {get_args(FailureKind)}, not {kind!r}")
        if times < 1 or retry_after < 0 or delay < 0 or after < 0:
            raise ValueError("times must be >= 1; retry_after, delay and after must be >= 0")
        with self._lock:
            self._queues[operation].extend([None] * after)
            for _ in range(times):
                self._queues[operation].append(Failure(kind, retry_after, delay))

    def pending(self) -> dict[str, list[str]]:
        """The queued failure kinds per operation, in order ("pass" for a let-through)."""
        with self._lock:
            return {
                op: [f.kind if f is not None else "pass" for f in queue]
                for op, queue in self._queues.items()
            }

    def take(self, operation: Operation) -> Failure | None:
        with self._lock:
            queue = self._queues[operation]
            return queue.popleft() if queue else None


def injected_reply(operation: Operation, failure: Failure, key: str | None) -> Reply:
    """The answer for a failure that does not apply the request, or for 500_after_commit."""
    retry = {"Retry-After": str(failure.retry_after)}
    if operation == "token":
        return _token_reply(failure, retry)
    if failure.kind == "429":
        message = f"Rate limit exceeded; retry after {failure.retry_after} seconds"
        return ia_error(429, "rateLimitExceeded", message, "REST-1429", headers=retry)
    if failure.kind == "503":
        message = "The service is temporarily unavailable"
        return ia_error(503, "serviceUnavailable", message, "REST-1503", headers=retry)
    if failure.kind in ("500", "500_after_commit"):
        return ia_error(500, "internalServerError", "An internal error occurred", "REST-1500")
    if failure.kind == "timeout":
        return ia_error(504, "gatewayTimeout", "The request timed out", "REST-1504")
    if failure.kind == "403":
        message = "The sender is not authorized to access this company"
        return ia_error(403, "forbidden", message, "REST-1403")
    if failure.kind == "422":
        message = f"{f'Invoice {key}' if key else 'The request'} cannot be processed as sent"
        return ia_error(422, "unprocessableEntity", message, "REST-1422")
    what = f"Invoice {key}" if key else "The request"
    message = f"{what} could not be processed: the accounting period is closed"
    return ia_error(400, "invalidRequest", message, "BL01001973")


def _token_reply(failure: Failure, retry: dict[str, str]) -> Reply:
    if failure.kind == "429":
        return Reply(429, {"error": "rate_limited"}, retry)
    # RFC 6749 §5.2 error codes; temporarily_unavailable is RFC 6749 §4.1.2.1's.
    if failure.kind in ("500", "503", "500_after_commit"):
        headers = retry if failure.kind == "503" else {}
        status = 503 if failure.kind == "503" else 500
        return Reply(status, {"error": "temporarily_unavailable"}, headers)
    if failure.kind == "timeout":
        return Reply(504, {"error": "temporarily_unavailable"})
    if failure.kind == "403":
        return oauth_error(403, "unauthorized_client", "The client may not use this grant")
    return oauth_error(400, "invalid_request", "The token request was refused")
