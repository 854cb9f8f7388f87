"""The signed billing-event webhook: HMAC check, size limits, then intake.

Signature: X-Countersign-Signature: v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{raw body}")>,
with X-Countersign-Timestamp in unix seconds, at most 300 s away from now."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

MAX_SKEW_SECONDS = 300
MAX_BODY_BYTES = 10 * 1024 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v1=[0-9a-f]{64}", re.ASCII)


class SignatureError(Exception):
    """Why a request was not accepted as signed by the billing system."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = b"v1:" + str(timestamp).encode() + b":" + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers a billing system sends with `body` (for the sandbox and tests)."""
    return {
        "Content-Type": "application/json",
        "X-Countersign-Timestamp": str(timestamp),
        "X-Countersign-Signature": sign(secret, timestamp, body),
    }


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> None:
    """Raise SignatureError unless the body was signed with `secret` within the last 300 s."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Countersign-Timestamp or X-Countersign-Signature")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("X-Countersign-Timestamp must be unix seconds (ASCII digits)")
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise SignatureError("stale timestamp: more than 300 s from now")
    if not _SIGNATURE.fullmatch(signature):
        raise SignatureError("X-Countersign-Signature must be v1=<64 hex digits>")
    if not hmac.compare_digest(sign(secret, int(timestamp), body), signature):
        raise SignatureError("signature does not match")
