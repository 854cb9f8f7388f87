"""Fixtures for the Slack emulator and delivery tests: a running emulator, a signed receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator

SLACK_SIGNING_SECRET = "sandbox-signing-secret-not-real"


class SlackMonotonic:
    """A monotonic clock that only moves when a test says so (trigger and response_url expiry)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ReceivedRequest:
    """One request the receiver got: headers, raw body, parsed body, and the verdict."""

    headers: dict[str, str]
    body: bytes
    parsed: dict[str, Any]
    valid: bool


@dataclass
class SlackReceiver:
    """A stand-in app: verifies Slack signatures with slack_sdk and records what arrived."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer next, then 200
    no_retry: bool = False  # add `X-Slack-No-Retry: 1` to a failed answer

    @property
    def last(self) -> ReceivedRequest:
        return self.requests[-1]


def _parse(body: bytes, content_type: str) -> dict[str, Any]:
    """Parse as Bolt does: JSON, else the form's `payload` field as JSON, else the plain form."""
    text = body.decode()
    if content_type.startswith("application/json") or text.startswith("{"):
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    form = {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}
    if "payload" in form:
        payload: dict[str, Any] = json.loads(form["payload"])
        return payload
    return form


def _receiver_handler(receiver: SlackReceiver) -> type[BaseHTTPRequestHandler]:
    verifier = SignatureVerifier(SLACK_SIGNING_SECRET)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            valid = verifier.is_valid_request(body, headers)
            parsed = _parse(body, self.headers.get("Content-Type") or "")
            receiver.requests.append(ReceivedRequest(headers, body, parsed, valid))
            answer = b"" if valid else b'{"error": "invalid request"}'
            status = (receiver.answers.pop(0) if receiver.answers else 200) if valid else 401
            self.send_response(status)
            if status >= 300 and receiver.no_retry:
                self.send_header("X-Slack-No-Retry", "1")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    return Handler


@pytest.fixture
def slack_monotonic() -> SlackMonotonic:
    return SlackMonotonic()


@pytest.fixture
def slack_emulator(slack_monotonic: SlackMonotonic) -> Iterator[SlackEmulator]:
    with SlackEmulator(monotonic=slack_monotonic) as emulator:
        yield emulator


@pytest.fixture
def slack_client(slack_emulator: SlackEmulator) -> WebClient:
    return WebClient(token=slack_emulator.bot_token, base_url=slack_emulator.api_url)


@pytest.fixture
def slack_receiver() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(receiver))
    server.daemon_threads = False
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def slack_delivery(
    slack_emulator: SlackEmulator, slack_receiver: SlackReceiver
) -> Iterator[SlackDelivery]:
    with SlackDelivery(
        app_url=slack_receiver.url,
        signing_secret=SLACK_SIGNING_SECRET,
        emulator_url=slack_emulator.url,
    ) as delivery:
        yield delivery


__all__ = [
    "SLACK_SIGNING_SECRET",
    "SlackMonotonic",
    "SlackReceiver",
    "slack_client",
    "slack_delivery",
    "slack_emulator",
    "slack_monotonic",
    "slack_receiver",
]
