"""The App Home "my queue" through a running `countersign serve`: published on app_home_opened
with what waits for the person (oldest first, overdue marked, the card's buttons), their
requests and their recent decisions; refreshed through the outbox after a decision, for the
approver and the requester, with no app_home_opened. Each test ends at rest."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.sandbox.slack_emulator.models import PostedMessage
from app.slack.ids import ActionId
from tests.e2e.harness import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    assert_at_rest,
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The emulators here, `countersign serve` in its own process, on one SQLite file."""
    folder = tmp_path_factory.mktemp("home")
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


def _buttons(view: dict[str, Any], label_value: str) -> list[str]:
    """The action ids of the actions block whose buttons carry `label_value`."""
    for block in view["blocks"]:
        if block["type"] == "actions" and block["elements"][0].get("value") == label_value:
            return [e["action_id"] for e in block["elements"]]
    return []


def test_home_is_published_on_app_home_opened(served: Served) -> None:
    """app_home_opened publishes the queue: oldest first, the overdue one marked, each with
    Approve, Reject and Details carrying the card's value; empty sections say so."""
    first = served.open_exception()
    served.card(first)
    dispute = served.open_exception("invoice_dispute", details={"disputed_amount": "200.00"})
    served.card(dispute)
    answer = served.delivery.app_home_opened("U0FINMGR1")
    assert answer.status_code == 200
    shown = served.home("U0FINMGR1", first)
    assert "Waiting for you" in shown
    assert "You are not standing in for anyone right now" in shown
    assert "You have no requests" in shown
    assert dispute not in shown  # billing ops' step, not a finance manager's
    view = served.slack.home_view("U0FINMGR1")
    assert view is not None
    card_value = served.card(first).blocks[-1]["elements"][0]["value"]
    assert _buttons(view, card_value) == [ActionId.APPROVE, ActionId.REJECT, ActionId.DETAILS]
    served.delivery.app_home_opened("U0BILLOPS1")
    ops = served.home("U0BILLOPS1", dispute, absent=first)
    assert "*Waiting for you* (1" in ops
    time.sleep(1.5)  # the dispute's escalation (1 s) is due: the next visit marks it
    served.delivery.app_home_opened("U0BILLOPS1")
    late = served.home("U0BILLOPS1", "*overdue* since")
    assert "(1, 1 overdue)" in late
    served.delivery.app_home_opened("U0OUTSIDER")
    empty = served.home("U0OUTSIDER", "Nothing is waiting for your decision")
    assert "You have not decided anything yet" in empty
    assert_at_rest(served.env["DATABASE_URL"])


def test_home_is_refreshed_after_a_decision(served: Served) -> None:
    """After an approval the approver's and the requester's Homes are republished through the
    outbox (no app_home_opened): it leaves "waiting", shows under "decided by you", the next
    step's approver sees it waiting and the requester sees where it stands."""
    label = served.open_exception(requester="U0BILLOPS1")
    card = served.card(label)
    served.delivery.app_home_opened("U0FINMGR2")
    served.home("U0FINMGR2", label)
    assert_at_rest(served.env["DATABASE_URL"])
    published = len(served.slack.calls("views.publish"))
    click = served.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR2")
    assert click.status_code == 200
    after = served.home("U0FINMGR2", "you approved it")
    decided = after.split("Decided by you recently", 1)[1]
    assert label in decided
    waiting = after.split("Waiting for you as a delegate", 1)[0]
    assert label not in waiting
    served.home("U0CFO1", label)  # step 2 waits for the CFO: published without a visit
    requester = served.home("U0BILLOPS1", "Step 2 of 2")
    assert label in requester.split("Your requests", 1)[1]
    assert_at_rest(served.env["DATABASE_URL"])
    assert len(served.slack.calls("views.publish")) > published
