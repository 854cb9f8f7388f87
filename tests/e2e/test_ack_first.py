"""Ack first, always, through a running `countersign serve`: every listener answers Slack at
once while its work (directory lookups, decisions, replies) is slow; refusals go through the
interaction's response_url; Home is published on app_home_opened; a retried event is processed
once. Each test leaves the outbox at rest and no timer overdue."""

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
from ruamel.yaml import YAML

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery, new_event_id
from app.sandbox.slack_emulator import SlackEmulator
from app.sandbox.slack_emulator.models import DEFAULT_USERS, EmulatedUser, PostedMessage
from app.slack.ids import REJECT_REASON_ACTION, ActionId, BlockId
from app.store.tables import DecisionRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    assert_at_rest,
    process_env,
    rows,
    serve_process,
    wait_for,
)

MANIFEST = Path(__file__).parents[2] / "manifest.yml"
# People nobody has looked up yet: the directory caches an answer, and these tests need the
# (slowed) users.info call to happen during the request under test.
STRANGERS = tuple(
    EmulatedUser(f"U0STRANGER{n}", f"stranger.{n}", f"stranger.{n}@example.com", f"S {n}")
    for n in range(1, 6)
)
FAST_ACK = 1.0  # seconds; Slack's deadline is 3
_numbers = count(1)


@dataclass
class Served:
    url: str
    env: dict[str, str]
    slack: SlackEmulator
    intacct: IntacctEmulator
    delivery: SlackDelivery
    http: httpx.Client

    def open_exception(self) -> str:
        """A usage anomaly (catch-all route: either finance manager, quorum 1); its label."""
        n = next(_numbers)
        key = f"INV-ACK-{n}"
        self.intacct.add_invoice(
            key, number=key, customer_id="C-ACME", customer_name="Acme", currency="USD",
            amount="10.00",
        )  # fmt: skip
        event = {
            "event_id": f"ack-{n}",
            "source": "crm",
            "type": "usage_anomaly",
            "occurred_at": "2026-11-23T10:00:00-05:00",
            "customer": {"id": "C-ACME", "name": "Acme"},
            "invoice": {"key": key, "number": key, "currency": "USD", "amount": "10.00"},
            "details": {},
        }
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

    def timed(self, send: Any) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        answer = send()
        return answer, time.perf_counter() - started

    def replies(self, text: str) -> list[dict[str, Any]]:
        return [p for p in self.slack.response_url_posts() if text in str(p.get("text"))]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The emulators here, `countersign serve` in its own process, on one SQLite file."""
    folder = tmp_path_factory.mktemp("ack")
    slack = SlackEmulator(users=(*DEFAULT_USERS, *STRANGERS)).start()
    intacct = IntacctEmulator().start()
    env = process_env(
        folder,
        slack,
        intacct,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        COUNTERSIGN_POLICIES=POLICIES,
        OUTBOX_POLL_SECONDS="0.2",
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


@pytest.fixture(autouse=True)
def at_rest(served: Served) -> Iterator[None]:
    """Slack fast again after each test; the database at rest."""
    yield
    served.slack.slow_down(0)
    served.slack.slow_down(0, "users.info")
    served.slack.slow_down(0, "chat.postEphemeral")
    assert_at_rest(served.env["DATABASE_URL"])


def test_approve_is_acked_before_the_slow_lookup_and_then_recorded(served: Served) -> None:
    """Approve with users.info taking 1.5 s: the ack comes in under 1 s, the decision after."""
    label = served.open_exception()
    card = served.card(label)
    served.slack.slow_down(1.5, "users.info")
    answer, took = served.timed(
        lambda: served.delivery.click(card.channel, card.ts, ActionId.APPROVE, "U0FINMGR1")
    )
    _acked_fast(answer, took)
    exception_id = int(label.removeprefix("BX-"))
    recorded = wait_for(
        lambda: [d for d in rows(served.env["DATABASE_URL"], DecisionRow)
                 if d.exception_id == exception_id],
        timeout=15,
        what="the decision recorded",
    )  # fmt: skip
    assert (recorded[0].approver, recorded[0].outcome) == ("U0FINMGR1", "approve")


def test_refusal_goes_through_the_response_url(served: Served) -> None:
    """An outsider's click is refused through response_url, never chat.postEphemeral."""
    label = served.open_exception()
    card = served.card(label)
    served.slack.slow_down(2.5, "chat.postEphemeral")
    posts_before = len(served.slack.calls("chat.postEphemeral"))
    answer, took = served.timed(
        lambda: served.delivery.click(card.channel, card.ts, ActionId.APPROVE, "U0OUTSIDER")
    )
    _acked_fast(answer, took)
    reply = wait_for(lambda: served.replies("not an approver"), what="a response_url reply")[-1]
    assert (reply["response_type"], reply["replace_original"]) == ("ephemeral", False)
    outsider = [e for e in served.slack.ephemerals("U0OUTSIDER") if "not an approver" in e.text]
    assert outsider, "the emulator shows the reply to the outsider only"
    assert len(served.slack.calls("chat.postEphemeral")) == posts_before


def _acked_fast(answer: httpx.Response, took: float) -> None:
    assert answer.status_code == 200, answer.text
    assert took < FAST_ACK, f"the ack took {took:.2f} s"


def _open_reject_modal(served: Served, user: str) -> str:
    label = served.open_exception()
    card = served.card(label)
    opened = len(served.slack.opened_views())
    answer, took = served.timed(
        lambda: served.delivery.click(card.channel, card.ts, ActionId.REJECT, user)
    )
    _acked_fast(answer, took)
    views = wait_for(lambda: served.slack.opened_views()[opened:], what="the reject modal")
    return str(views[0]["id"])


def _reject(served: Served, view_id: str, user: str, reason: str) -> tuple[httpx.Response, float]:
    values = {BlockId.REJECT_REASON: {REJECT_REASON_ACTION: reason}}
    return served.timed(lambda: served.delivery.submit_view(view_id, user, values))


def test_a_too_short_reason_is_refused_inside_the_ack(served: Served) -> None:
    """A two-letter reason: the modal shows the error at once, nothing is looked up."""
    view_id = _open_reject_modal(served, "U0FINMGR2")
    served.slack.slow_down(2.5, "users.info")
    lookups = len(served.slack.calls("users.info"))
    answer, took = _reject(served, view_id, "U0FINMGR2", "no")
    assert took < FAST_ACK, took
    assert answer.json()["response_action"] == "errors"
    assert "say why" in answer.json()["errors"][BlockId.REJECT_REASON]
    assert len(served.slack.calls("users.info")) == lookups


def test_a_refused_rejection_shows_in_the_modal_within_the_deadline(served: Served) -> None:
    """users.info takes 1 s: the refusal still arrives inside the modal, well within 3 s."""
    view_id = _open_reject_modal(served, "U0STRANGER1")
    served.slack.slow_down(1.0, "users.info")
    answer, took = _reject(served, view_id, "U0STRANGER1", "not ours to refuse")
    assert 1.0 <= took < 2.8, took
    assert answer.json()["response_action"] == "errors"
    assert "not an approver" in answer.json()["errors"][BlockId.REJECT_REASON]


def test_a_late_refusal_closes_the_modal_and_follows_by_direct_message(served: Served) -> None:
    """users.info takes 4 s: the modal closes within the deadline; the refusal comes as a DM."""
    view_id = _open_reject_modal(served, "U0STRANGER2")
    served.slack.slow_down(4.0, "users.info")
    answer, took = _reject(served, view_id, "U0STRANGER2", "not ours to refuse")
    assert took < 2.8, took
    assert answer.status_code == 200, answer.text
    assert not answer.content, answer.text
    dm = served.slack.dm_channel("U0STRANGER2")
    notes = wait_for(
        lambda: [m for m in served.slack.messages(dm) if "could not be recorded" in m.text],
        timeout=15,
        what="the refusal by DM",
    )
    assert "approver" in notes[0].text or "directory" in notes[0].text.lower(), notes[0].text


def test_the_slash_command_acks_at_once_and_answers_through_the_response_url(
    served: Served,
) -> None:
    """`list` is acked empty and answered by response_url; `help` inside the ack."""
    label = served.open_exception()
    served.card(label)
    answer, took = served.timed(lambda: served.delivery.slash_command("list", "U0FINMGR1"))
    _acked_fast(answer, took)
    assert not answer.content, answer.text
    listed = wait_for(lambda: served.replies(label), what="the list by response_url")
    assert listed[-1]["response_type"] == "ephemeral"
    helped = served.delivery.slash_command("help", "U0FINMGR1")
    assert "billing exception queue" in helped.text


def test_home_opened_publishes_the_queue_and_a_retry_is_processed_once(served: Served) -> None:
    """app_home_opened → views.publish with the person's queue; the same event_id again
    (X-Slack-Retry-Num 1) is answered 200 and publishes nothing."""
    label = served.open_exception()
    served.card(label)
    assert_at_rest(served.env["DATABASE_URL"])  # the Home refresh queued by the card is done
    event_id = new_event_id()
    before = len(served.slack.calls("views.publish"))
    answer, took = served.timed(
        lambda: served.delivery.app_home_opened("U0FINMGR2", event_id=event_id)
    )
    _acked_fast(answer, took)
    home = wait_for(lambda: served.slack.home_view("U0FINMGR2"), what="the Home view")
    shown = json.dumps(home["blocks"])
    assert label in shown
    assert "your queue" in shown
    retry = served.delivery.app_home_opened("U0FINMGR2", event_id=event_id, retry_num=1)
    assert retry.status_code == 200
    time.sleep(0.5)
    assert len(served.slack.calls("views.publish")) == before + 1
    served.delivery.app_home_opened("U0OUTSIDER")
    empty = wait_for(lambda: served.slack.home_view("U0OUTSIDER"), what="an empty Home")
    assert "Nothing is waiting for you" in json.dumps(empty["blocks"])


def test_every_subscribed_event_is_answered_2xx(served: Served) -> None:
    """Each bot event manifest.yml subscribes to gets a 2xx answer (none is a 404)."""
    manifest = YAML(typ="safe").load(MANIFEST.read_text())
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert events
    for kind in events:
        answer = served.delivery.event({"type": kind, "user": "U0CFO1", "event_ts": "1.000001"})
        assert 200 <= answer.status_code < 300, (kind, answer.status_code, answer.text)
    wait_for(lambda: served.slack.home_view("U0CFO1"), what="the CFO's Home")
