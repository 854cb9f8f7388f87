"""`countersign serve` with SLACK_APP_TOKEN set takes Slack's requests over Socket Mode: a click
arriving in a WebSocket envelope is acknowledged and decides, exactly as over HTTP."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import WEBHOOK_SECRET
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, process_env, serve_process, wait_for
from tests.e2e.socket_mode_server import SocketModeServer

INVOICE = "INV-KEY-3001"


@dataclass
class SocketApp:
    url: str
    slack: SlackEmulator
    intacct: IntacctEmulator
    socket: SocketModeServer


@pytest.fixture
def socket_app(tmp_path: Path) -> Iterator[SocketApp]:
    """Countersign in its own process, with Slack reaching it only over Socket Mode."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    socket = SocketModeServer().start()
    slack.enable_socket_mode(socket.url)
    intacct.add_invoice(
        INVOICE,
        number="INV-3001",
        customer_id="C-1",
        customer_name="Acme",
        currency="USD",
        amount="900.00",
    )
    env = process_env(
        tmp_path,
        slack,
        intacct,
        SLACK_APP_TOKEN=slack.app_token,
        COUNTERSIGN_POLICIES=POLICIES,
        OUTBOX_POLL_SECONDS="0.2",
    )
    try:
        with serve_process(env) as url:
            socket.wait_for_app(timeout=30)
            yield SocketApp(url, slack, intacct, socket)
    finally:
        socket.stop()
        slack.stop()
        intacct.stop()


def _send(app: SocketApp, event: dict[str, object]) -> httpx.Response:
    body = json.dumps(event).encode()
    stamp = int(time.time())
    return httpx.post(
        f"{app.url}/billing-events",
        content=body,
        headers=webhook.signed_headers(WEBHOOK_SECRET, stamp, body),
        timeout=10,
    )


def test_click_over_socket_mode_is_acked_and_releases_the_invoice(socket_app: SocketApp) -> None:
    """An Approve click in a Socket Mode envelope is acked and posts the invoice once."""
    event = {
        "event_id": "evt-3001",
        "source": "metering",
        "type": "usage_anomaly",
        "occurred_at": "2026-11-23T10:00:00-05:00",
        "customer": {"id": "C-1", "name": "Acme"},
        "invoice": {"key": INVOICE, "number": "INV-3001", "currency": "USD", "amount": "900.00"},
    }
    assert _send(socket_app, event).status_code == 202
    (card,) = wait_for(lambda: socket_app.slack.messages("C0BILLING"), what="the card")
    with SlackDelivery(
        app_url=f"{socket_app.url}/slack/events",
        signing_secret="unused-in-socket-mode",
        emulator_url=socket_app.slack.url,
    ) as delivery:
        payload = delivery.click_payload("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
    ack = socket_app.socket.push("interactive", payload)
    assert set(ack) >= {"envelope_id"}
    wait_for(
        lambda: socket_app.intacct.submissions(INVOICE) == 1,
        timeout=20,
        what="the invoice to be posted",
    )
    assert socket_app.intacct.invoice(INVOICE)["state"] == "posted"
    updated = wait_for(
        lambda: (
            (m := socket_app.slack.message("C0BILLING", card.ts))
            and "released" in str(m.blocks)
            and m
        ),
        what="the card to show the release",
    )
    assert "<@U0FINMGR1> approved" in str(updated.blocks)


def test_socket_mode_refuses_a_bot_token_as_app_token() -> None:
    """apps.connections.open answers not_allowed_token_type to a bot token, as Slack does."""
    with SlackEmulator() as slack:
        answer = httpx.post(
            f"{slack.api_url}apps.connections.open",
            headers={"Authorization": f"Bearer {slack.bot_token}"},
            timeout=5,
        ).json()
        assert answer == {"ok": False, "error": "not_allowed_token_type"}
        enabled = httpx.post(
            f"{slack.api_url}apps.connections.open",
            headers={"Authorization": f"Bearer {slack.app_token}"},
            timeout=5,
        ).json()
        assert enabled == {"ok": False, "error": "socket_mode_not_enabled"}


def test_serve_with_a_wrong_app_token_stops_with_one_clear_line(tmp_path: Path) -> None:
    """A bot token in SLACK_APP_TOKEN stops `serve` with exit 2 and a line naming the setting."""
    with SlackEmulator() as slack, IntacctEmulator() as intacct:
        env = process_env(
            tmp_path, slack, intacct, SLACK_APP_TOKEN=slack.bot_token, COUNTERSIGN_POLICIES=POLICIES
        )
        subprocess.run([COUNTERSIGN, "db", "upgrade"], env=env, check=True, capture_output=True)
        answer = subprocess.run(
            [COUNTERSIGN, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert answer.returncode == 2
    assert "not_allowed_token_type" in answer.stderr
    assert "SLACK_APP_TOKEN" in answer.stderr
    assert "Traceback" not in answer.stderr
