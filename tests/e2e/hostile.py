"""A `countersign serve` process under attack: its URL, its database, its log, and senders that
sign (or do not sign) what they send, as the billing system and Slack would."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import select

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import SIGNING_SECRET, WEBHOOK_SECRET
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.store.db import Database
from app.store.tables import BillingEventRow, OutboxRow, RejectedEventRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import process_env, serve_logged, wait_for

INVOICE = "INV-HOSTILE"


@dataclass
class Target:
    url: str
    db: Database
    slack: SlackEmulator
    delivery: SlackDelivery
    http: httpx.Client
    log: Path
    pid: int

    def post_signed(self, body: bytes, *, stamp: int | None = None) -> httpx.Response:
        """POST raw bytes to /billing-events, signed as the billing system signs."""
        stamp = int(time.time()) if stamp is None else stamp
        headers = webhook.signed_headers(WEBHOOK_SECRET, stamp, body)
        return self.http.post(f"{self.url}/billing-events", content=body, headers=headers)

    def send(self, document: Any) -> httpx.Response:
        return self.post_signed(json.dumps(document).encode())

    def counts(self) -> tuple[int, int]:
        """(billing_event rows, rejected_event rows)."""
        with self.db.transaction() as session:
            accepted = session.exec(select(func.count()).select_from(BillingEventRow)).one()
            rejected = session.exec(select(func.count()).select_from(RejectedEventRow)).one()
        return int(accepted), int(rejected)

    def rejected(self) -> list[RejectedEventRow]:
        with self.db.transaction() as session:
            rows = list(session.exec(select(RejectedEventRow).order_by(RejectedEventRow.id)))
            session.expunge_all()
        return rows

    def wait_at_rest(self) -> None:
        """Every outbox row delivered: nothing pending, retrying or dead."""

        def idle() -> bool:
            with self.db.transaction() as session:
                states = set(session.exec(select(OutboxRow.state)))
            return states <= {"done"}

        wait_for(idle, timeout=60, what="the outbox at rest")


def event(event_id: str = "evt-h-1", **changes: Any) -> dict[str, Any]:
    """A valid billing event (routes to the catch-all: one card in C0BILLING)."""
    return {
        "event_id": event_id,
        "source": "fuzz",
        "type": "credit_request",
        "occurred_at": "2026-11-23T10:00:00Z",
        "customer": {"id": "C-ACME", "name": "Acme Corp"},
        "invoice": {"key": INVOICE, "currency": "USD", "amount": "120.00"},
        "details": {},
    } | changes


@contextmanager
def target(database_url: str, folder: Path) -> Iterator[Target]:
    """Emulators in this process, `countersign serve` in its own on `database_url`."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        folder, slack, intacct, DATABASE_URL=database_url, COUNTERSIGN_POLICIES=POLICIES
    )
    db = Database(database_url)
    log = folder / "serve.log"
    try:
        with (
            serve_logged(env, log) as (url, process),
            SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
            ) as delivery,
            httpx.Client(timeout=60) as http,
        ):
            yield Target(url, db, slack, delivery, http, log, process.pid)
    finally:
        db.dispose()
        slack.stop()
        intacct.stop()
