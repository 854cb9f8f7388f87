"""What a request to /slack/events must be before Bolt sees it: small, signed, well-formed.

The signature is checked on the raw bytes first, so an unsigned request is never decoded,
parsed or logged; then the body must be UTF-8 and shaped as Bolt parses it (a JSON object, a
form, or a form whose `payload` field is a JSON object), so Bolt never raises on it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import traceback
import uuid
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

import structlog
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import Clock, SignatureVerifier

from app.domain import jsontext

log = structlog.get_logger("countersign.slack")

# Slack documents no request size; the largest are view submissions (a view is at most 250 kB)
# and clicks on long messages, URL-encoded. 1 MiB leaves room and bounds what we read.
MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 64  # Block Kit rich text nests, but not this deep
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}", re.ASCII)


class Refused(Exception):
    """Why a request was not accepted; `status` is the HTTP answer (401 or 400)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _RawBytesVerifier(SignatureVerifier):
    """slack_sdk's verifier (300 s window, constant-time compare), signing the raw bytes: the
    stock one decodes the body as UTF-8 first and raises on anything else."""

    def generate_signature(self, *, timestamp: str, body: str | bytes) -> str | None:
        raw = body if isinstance(body, bytes) else body.encode()
        base = b"v0:" + timestamp.encode() + b":" + raw
        return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()


class _At(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raise Refused(401) unless `body` carries a valid Slack signature made within 300 s."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        raise Refused(401, "missing or malformed X-Slack-Request-Timestamp or X-Slack-Signature")
    verifier = _RawBytesVerifier(secret, clock=_At(now))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        raise Refused(401, "invalid or stale Slack signature")


def decode(body: bytes, content_type: str | None) -> str:
    """The body as text Bolt can parse; Refused(400) when it is not UTF-8 or not well-formed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    if not text:
        return text
    if content_type == "application/json" or text.startswith("{"):
        _json_object(text, "the body")
    elif "payload" in text:  # Bolt decodes the form's `payload` field as JSON
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is not None:
            _json_object(payload, "the payload field")
    return text


def _json_object(text: str, what: str) -> None:
    try:
        jsontext.check_bounds(text, max_depth=MAX_DEPTH)
        document = json.loads(text)
    except ValueError:  # JsonRefused, JSONDecodeError and int-conversion limits alike
        raise Refused(400, f"{what} is not valid JSON") from None
    if not isinstance(document, dict):
        raise Refused(400, f"{what} is not a JSON object")


def dispatch(
    bolt: App, text: str, query: str, headers: dict[str, str | Sequence[str]]
) -> BoltResponse:
    """Hand a verified, well-formed request to Bolt. Bolt reads payload fields without checking
    their types (a view without "type", a team that is a number): a payload Bolt cannot read
    is a 400, logged with an id, never an exception. Listener errors are Bolt's (@app.error)."""
    try:
        response: BoltResponse = bolt.dispatch(BoltRequest(body=text, query=query, headers=headers))
    except Exception as error:
        error_id = uuid.uuid4().hex[:12]
        log.warning("slack.unreadable_payload", error_id=error_id, error=repr(error)[:200])
        return BoltResponse(status=400, body=f"malformed Slack request (error id {error_id})")
    return response


_SHAPE_ERRORS = (AttributeError, IndexError, KeyError, TypeError, ValueError)


def unreadable_by_bolt(error: Exception) -> bool:
    """True when Bolt's own code tripped over the payload's shape (a field of an unexpected
    type in its middleware or matchers): the request is malformed, not our failure."""
    if not isinstance(error, _SHAPE_ERRORS):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and f"{os.sep}slack_bolt{os.sep}" in frames[-1].filename
