"""A running `countersign serve` for the App Home, Details and slash command tests: the
emulators in this process, the app in its own, the policy in policies_home/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.sandbox.slack_emulator.models import PostedMessage
from tests.e2e.harness import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    process_env,
    serve_process,
    wait_for,
)

POLICIES = str(Path(__file__).parent / "policies_home")
_numbers = count(1)


@dataclass
class Served:
    url: str
    env: dict[str, str]
    slack: SlackEmulator
    intacct: IntacctEmulator
    delivery: SlackDelivery
    http: httpx.Client

    def open_exception(
        self,
        kind: str = "usage_anomaly",
        *,
        requester: str | None = None,
        customer: tuple[str, str] = ("C-ACME", "Acme"),
        details: dict[str, Any] | None = None,
    ) -> str:
        """Send one signed billing event for a fresh draft invoice; the new exception's label."""
        n = next(_numbers)
        key = f"INV-HOME-{n}"
        self.intacct.add_invoice(
            key, number=key, customer_id=customer[0], customer_name=customer[1],
            currency="USD", amount="1200.00",
        )  # fmt: skip
        event: dict[str, Any] = {
            "event_id": f"home-{n}",
            "source": "crm",
            "type": kind,
            "occurred_at": "2026-11-23T10:00:00-05:00",
            "customer": {"id": customer[0], "name": customer[1]},
            "contract": {"id": "K-1", "number": "CT-2026-001"},
            "invoice": {"key": key, "number": key, "currency": "USD", "amount": "1200.00"},
            "details": details or {"usage_units": "1400", "expected_units": "1000"},
        }
        if requester:
            event["requested_by"] = {"slack_user_id": requester}
        body = json.dumps(event).encode()
        answer = self.http.post(
            f"{self.url}/billing-events",
            content=body,
            headers=webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body),
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["exception"])

    def card(self, label: str) -> PostedMessage:
        def find() -> PostedMessage | None:
            found = [m for m in self.slack.messages("C0BILLING") if label in m.text]
            return found[-1] if found else None

        return wait_for(find, what=f"the card of {label}")

    def home(self, user: str, having: str, *, absent: str | None = None) -> str:
        """The person's published Home once it contains `having` (and not `absent`)."""

        def probe() -> str | None:
            view = self.slack.home_view(user)
            shown = json.dumps(view["blocks"], ensure_ascii=False) if view else ""
            ok = having in shown and (absent is None or absent not in shown)
            return shown if ok else None

        return wait_for(probe, timeout=20, what=f"{user}'s Home showing {having!r}")


@contextmanager
def served_stack(folder: Path, **extra: str) -> Iterator[Served]:
    """The emulators here, `countersign serve` in its own process, on one SQLite file."""
    slack = SlackEmulator().start()
    intacct = IntacctEmulator().start()
    env = process_env(
        folder,
        slack,
        intacct,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        COUNTERSIGN_POLICIES=POLICIES,
        OUTBOX_POLL_SECONDS="0.2",
        TIMER_SWEEP_SECONDS="0.2",
        **extra,
    )
    try:
        with serve_process(env) as url:
            delivery = SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
            )
            with delivery, httpx.Client(timeout=10) as http:
                yield Served(url, env, slack, intacct, delivery, http)
    finally:
        slack.stop()
        intacct.stop()
