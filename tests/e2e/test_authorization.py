"""Who may decide, through a running `countersign serve`: every authorization path a hostile or
confused person could take, driven over HTTP with Slack-signed requests against the emulators.

One server for the module (each test uses its own exception, and its own people where the
directory's cache matters); each test ends with the outbox at rest and no timer overdue. Not
here: a click from another team (the team-id check is another change), slash-command access
control (there is no `access:` section yet; the command's refusals are tested instead)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import col, select

from app import webhook
from app.clock import SystemClock
from app.flows.sweep import TimerSweep
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import FORM, SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.sandbox.slack_emulator.models import DEFAULT_USERS, EmulatedUser, PostedMessage
from app.slack.ids import REJECT_REASON_ACTION, ActionId, BlockId
from app.store.db import Database
from app.store.tables import AuditEntryRow, DecisionRow, OutboxRow, TimerRow
from tests.e2e.harness import process_env, serve_process, wait_for

POLICIES = Path(__file__).parent / "policies_authorization"
SECRET, HOOK_SECRET = "authz-signing-secret-not-real", "authz-webhook-secret-not-real"
PEOPLE = (
    EmulatedUser("U0SELF1", "self.one", "self.one@example.com", "Sela Self"),
    EmulatedUser("U0LIMITED1", "limited.one", "limited.one@example.com", "Lim One"),
    EmulatedUser("U0LIMITED2", "limited.two", "limited.two@example.com", "Lim Two"),
)
_numbers = count(1)


@dataclass
class Served:
    url: str
    slack: SlackEmulator
    intacct: IntacctEmulator
    db: Database
    delivery: SlackDelivery
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))
    invoices: dict[str, str] = field(default_factory=dict)

    def open_exception(self, type_: str, requested_by: dict[str, str] | None = None) -> str:
        """Send a signed event of `type_` (a fresh invoice each time); return its BX label."""
        n = next(_numbers)
        key = f"INV-AUTHZ-{n}"
        self.intacct.add_invoice(
            key,
            number=key,
            customer_id="C-ACME",
            customer_name="Acme",
            currency="USD",
            amount="1000.00",
        )
        event = {
            "event_id": f"authz-{n}",
            "source": "crm",
            "type": type_,
            "occurred_at": "2026-11-23T10:00:00-05:00",
            "customer": {"id": "C-ACME", "name": "Acme"},
            "invoice": {"key": key, "number": key, "currency": "USD", "amount": "1000.00"},
            "details": {"discount_pct": "45"},
        }
        if requested_by:
            event["requested_by"] = requested_by
        body = json.dumps(event).encode()
        answer = self.http.post(
            f"{self.url}/billing-events",
            content=body,
            headers=webhook.signed_headers(HOOK_SECRET, int(time.time()), body),
        )
        assert answer.status_code == 202, answer.text
        label = str(answer.json()["exception"])
        self.invoices[label] = key
        return label

    def released(self, label: str) -> None:
        """Wait until the invoice of `label` is posted in Intacct, once."""
        key = self.invoices[label]
        wait_for(lambda: self.intacct.submissions(key) == 1, timeout=15, what=f"{key} posted")

    def card(self, label: str, value: str | None = None, channel: str = "C0BILLING") -> Any:
        """The open card of `label` in `channel`, once its buttons carry `value` (if given)."""

        def find() -> PostedMessage | None:
            for message in self.slack.messages(channel):
                values = buttons(message)
                if label in message.text and values and (value is None or value in values):
                    return message
            return None

        return wait_for(find, what=f"the card of {label} carrying {value}")

    def click(self, card: Any, user: str, action: str = ActionId.APPROVE) -> httpx.Response:
        return self.delivery.click(card.channel, card.ts, action, user)

    def told(self, user: str, seen: int) -> str:
        """The first ephemeral message `user` got after the `seen` they had before."""
        found = wait_for(lambda: self.slack.ephemerals(user)[seen:], what=f"a reply to {user}")
        return found[0].text

    def decisions(self, label: str) -> list[DecisionRow]:
        with self.db.transaction() as session:
            return list(
                session.exec(
                    select(DecisionRow)
                    .where(DecisionRow.exception_id == _id(label))
                    .order_by(col(DecisionRow.id))
                ).all()
            )

    def audit(self, label: str, action: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            rows = session.exec(
                select(AuditEntryRow).where(
                    AuditEntryRow.exception_id == _id(label), AuditEntryRow.action == action
                )
            ).all()
            return [row.detail for row in rows]

    def at_rest(self) -> None:
        """Nothing pending or retrying in the outbox, and no timer overdue."""

        def quiet() -> bool:
            with self.db.transaction() as session:
                busy = session.exec(select(OutboxRow).where(col(OutboxRow.state) != "done")).first()
                overdue = session.exec(
                    select(TimerRow).where(
                        TimerRow.state == "pending", col(TimerRow.due_at) <= datetime.now(UTC)
                    )
                ).first()
            return busy is None and overdue is None

        wait_for(quiet, timeout=20, what="the outbox and timers to come to rest")


def _id(label: str) -> int:
    return int(label.removeprefix("BX-"))


def buttons(message: Any) -> list[str]:
    return [
        str(element.get("value"))
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The emulators here, `countersign serve` in its own process, on one SQLite file."""
    folder = tmp_path_factory.mktemp("authz")
    slack = SlackEmulator(users=(*DEFAULT_USERS, *PEOPLE)).start()
    intacct = IntacctEmulator().start()
    env = process_env(
        folder,
        slack,
        intacct,
        SLACK_SIGNING_SECRET=SECRET,
        BILLING_WEBHOOK_SECRET=HOOK_SECRET,
        COUNTERSIGN_POLICIES=str(POLICIES),
        OUTBOX_POLL_SECONDS="0.2",
        TIMER_SWEEP_SECONDS="0.5",
    )
    try:
        with serve_process(env) as url:
            delivery = SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SECRET, emulator_url=slack.url
            )
            served = Served(url, slack, intacct, Database(env["DATABASE_URL"]), delivery)
            yield served
            delivery.close()
            served.http.close()
    finally:
        slack.stop()
        intacct.stop()


def test_outsider_click_is_refused(served: Served) -> None:
    """Someone on no step clicks Approve: refused privately, nothing recorded."""
    label = served.open_exception("non_standard_discount")
    card = served.card(label)
    seen = len(served.slack.ephemerals("U0OUTSIDER"))
    assert served.click(card, "U0OUTSIDER").status_code == 200
    assert "not an approver" in served.told("U0OUTSIDER", seen)
    assert served.decisions(label) == []
    assert served.audit(label, "decision.refused")[0]["refusal"] == "NotAuthorized"
    served.click(card, "U0FINMGR2")
    served.click(served.card(label, f"{_id(label)}:1:1"), "U0CFO1")
    served.at_rest()


def test_outsider_modal_submit_is_refused_in_the_modal(served: Served) -> None:
    """An outsider opens the reject modal and submits: the modal shows why; nothing recorded."""
    label = served.open_exception("non_standard_discount")
    card = served.card(label)
    before = len(served.slack.opened_views())
    served.click(card, "U0OUTSIDER", ActionId.REJECT)
    view = wait_for(lambda: served.slack.opened_views()[before:], what="the modal")[0]
    answer = served.delivery.submit_view(
        view["id"], "U0OUTSIDER", {BlockId.REJECT_REASON: {REJECT_REASON_ACTION: "not mine"}}
    )
    assert answer.status_code == 200
    assert answer.json()["response_action"] == "errors"
    assert "not an approver" in answer.json()["errors"][BlockId.REJECT_REASON]
    assert served.decisions(label) == []
    served.click(card, "U0FINMGR1", ActionId.REJECT)
    own = wait_for(lambda: served.slack.opened_views()[before + 1 :], what="the modal")[0]
    served.delivery.submit_view(
        own["id"], "U0FINMGR1", {BlockId.REJECT_REASON: {REJECT_REASON_ACTION: "too deep"}}
    )
    wait_for(lambda: served.decisions(label), what="the rejection")
    served.at_rest()


def _submit(served: Served, view: dict[str, Any], user: str, metadata: Any) -> httpx.Response:
    """Submit `view` as Slack would, but with `metadata` in place of its private_metadata."""
    payload = {
        "type": "view_submission",
        "team": {"id": served.delivery.team_id, "domain": "countersign-sandbox"},
        "user": {"id": user, "username": user.lower(), "name": user.lower()},
        "api_app_id": served.delivery.api_app_id,
        "token": "sandbox-verification-token",
        "trigger_id": served.slack.issue_trigger_id(),
        "view": {
            **view,
            "private_metadata": metadata,
            "state": {
                "values": {
                    BlockId.REJECT_REASON: {
                        REJECT_REASON_ACTION: {"type": "plain_text_input", "value": "forged!"}
                    }
                }
            },
        },
        "response_urls": [],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return served.delivery.send_raw(body, FORM)


@pytest.mark.parametrize(
    "metadata", ["DROP TABLE", "", "1:0", "99999999999999999999:0:0", "²", None, 12, "{id}:1:0"]
)
def test_forged_private_metadata_is_refused_never_500(served: Served, metadata: Any) -> None:
    """A reject modal submitted with private_metadata we never wrote: refused in the modal."""
    label = served.open_exception("non_standard_discount")
    card = served.card(label)
    before = len(served.slack.opened_views())
    served.click(card, "U0FINMGR1", ActionId.REJECT)
    view = wait_for(lambda: served.slack.opened_views()[before:], what="the modal")[0]
    if isinstance(metadata, str):
        metadata = metadata.replace("{id}", str(_id(label)))
    answer = _submit(served, view, "U0FINMGR1", metadata)
    assert answer.status_code == 200, answer.text
    assert answer.json()["response_action"] == "errors"
    assert served.decisions(label) == []
    served.click(card, "U0FINMGR2")
    served.click(served.card(label, f"{_id(label)}:1:1"), "U0CFO1")
    served.at_rest()


@pytest.mark.parametrize("value", ["abc", "1:0:0:0", "-1:0:0", "{id}:0:7", "{id}:5:0"])
def test_forged_button_value_is_refused_never_500(served: Served, value: str) -> None:
    """A signed click whose button value we never rendered: a private refusal, not a 500."""
    label = served.open_exception("non_standard_discount")
    card = served.card(label)
    payload = served.delivery.click_payload(card.channel, card.ts, ActionId.APPROVE, "U0FINMGR2")
    payload["actions"][0]["value"] = value.replace("{id}", str(_id(label)))
    seen = len(served.slack.ephemerals("U0FINMGR2"))
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert served.delivery.send_raw(body, FORM).status_code == 200
    told = served.told("U0FINMGR2", seen)
    assert "nothing was recorded" in told
    assert served.decisions(label) == []
    served.click(card, "U0FINMGR2")
    served.click(served.card(label, f"{_id(label)}:1:1"), "U0CFO1")
    served.at_rest()


def test_click_on_a_card_from_before_the_upgrade_refreshes_it(served: Served) -> None:
    """A button carrying only the exception id (a card posted by an older Countersign) is
    refused as out of date and the card is re-rendered with buttons naming step and version."""
    label = served.open_exception("non_standard_discount")
    card = served.card(label)
    updates = len(served.slack.calls("chat.update"))
    payload = served.delivery.click_payload(card.channel, card.ts, ActionId.APPROVE, "U0FINMGR2")
    payload["actions"][0]["value"] = str(_id(label))
    seen = len(served.slack.ephemerals("U0FINMGR2"))
    served.delivery.send_raw(urlencode({"payload": json.dumps(payload)}).encode(), FORM)
    assert "out of date and is being refreshed" in served.told("U0FINMGR2", seen)
    wait_for(lambda: len(served.slack.calls("chat.update")) > updates, what="the card refresh")
    assert served.decisions(label) == []
    served.click(card, "U0FINMGR2")
    served.click(served.card(label, f"{_id(label)}:1:1"), "U0CFO1")
    served.released(label)
    served.at_rest()


def test_step_two_approver_cannot_decide_step_one(served: Served) -> None:
    """The step-2 approver clicks while step 1 is current: refused; after step 1, accepted."""
    label = served.open_exception("non_standard_discount")
    card = served.card(label)
    seen = len(served.slack.ephemerals("U0CFO1"))
    served.click(card, "U0CFO1")
    assert "not an approver on the current step" in served.told("U0CFO1", seen)
    assert served.decisions(label) == []
    served.click(card, "U0FINMGR2")
    served.click(served.card(label, f"{_id(label)}:1:1"), "U0CFO1")
    served.released(label)
    assert [(d.step, d.approver) for d in served.decisions(label)] == [
        (0, "U0FINMGR2"),
        (1, "U0CFO1"),
    ]
    served.at_rest()


def test_one_person_on_two_steps_decides_only_one(served: Served) -> None:
    """U0FINMGR1, listed on both steps, approves step 1 and is then refused on step 2."""
    label = served.open_exception("non_standard_discount")
    served.click(served.card(label), "U0FINMGR1")
    step_two = served.card(label, f"{_id(label)}:1:1")
    seen = len(served.slack.ephemerals("U0FINMGR1"))
    served.click(step_two, "U0FINMGR1")
    told = served.told("U0FINMGR1", seen)
    assert "already decided step 1" in told and "different person" in told  # noqa: PT018
    assert len(served.decisions(label)) == 1
    served.click(step_two, "U0CFO1")
    served.released(label)
    served.at_rest()


def test_relaxed_policy_lets_one_person_decide_both_steps(served: Served) -> None:
    """On a route with one_person_one_step: false the same person approves both steps."""
    label = served.open_exception("usage_anomaly")
    served.click(served.card(label), "U0FINMGR1")
    served.click(served.card(label, f"{_id(label)}:1:1"), "U0FINMGR1")
    served.released(label)
    assert [d.step for d in served.decisions(label)] == [0, 1]
    served.at_rest()


def test_repeated_delivery_of_one_signed_click_counts_once(served: Served) -> None:
    """The same signed body delivered twice records one decision; the repeat is refused."""
    label = served.open_exception("non_standard_discount")
    card = served.card(label)
    payload = served.delivery.click_payload(card.channel, card.ts, ActionId.APPROVE, "U0FINMGR1")
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = int(time.time())
    signature = served.delivery.sign(body, stamp)
    seen = len(served.slack.ephemerals("U0FINMGR1"))
    first = served.delivery.send_raw(body, FORM, timestamp=stamp, signature=signature)
    wait_for(lambda: served.decisions(label), what="the first decision")
    second = served.delivery.send_raw(body, FORM, timestamp=stamp, signature=signature)
    assert (first.status_code, second.status_code) == (200, 200)
    assert "This card changed: step 1" in served.told("U0FINMGR1", seen)
    assert len(served.decisions(label)) == 1
    refused = served.audit(label, "decision.refused")
    assert refused[0]["refusal"] == "StaleCard"
    served.click(served.card(label, f"{_id(label)}:1:1"), "U0CFO1")
    served.released(label)
    served.at_rest()


def test_requester_by_id_is_refused(served: Served) -> None:
    """The requester, named by Slack id and listed as an approver, cannot approve."""
    label = served.open_exception("credit_request", {"slack_user_id": "U0FINMGR1"})
    card = served.card(label)
    seen = len(served.slack.ephemerals("U0FINMGR1"))
    served.click(card, "U0FINMGR1")
    assert "You requested this exception" in served.told("U0FINMGR1", seen)
    assert served.decisions(label) == []
    served.click(card, "U0FINMGR2")  # listed by e-mail: fin.two@example.com
    served.released(label)
    served.at_rest()


def test_requester_by_email_is_refused(served: Served) -> None:
    """The requester, named only by e-mail, is recognised from users.info and refused."""
    label = served.open_exception("credit_request", {"email": "self.one@example.com"})
    card = served.card(label)
    seen = len(served.slack.ephemerals("U0SELF1"))
    served.click(card, "U0SELF1")
    assert "You requested this exception" in served.told("U0SELF1", seen)
    assert served.decisions(label) == []
    served.click(card, "U0FINMGR1")
    served.released(label)
    served.at_rest()


def test_requester_while_users_info_is_ratelimited_is_refused(served: Served) -> None:
    """users.info answers 429 twice: the requester (known by e-mail) is refused, saying why;
    the failure is not cached, so the next click gets the real reason."""
    label = served.open_exception("credit_request", {"email": "limited.one@example.com"})
    card = served.card(label)
    served.slack.rate_limit("users.info", times=2, retry_after=1)
    seen = len(served.slack.ephemerals("U0LIMITED1"))
    served.click(card, "U0LIMITED1")
    told = served.told("U0LIMITED1", seen)
    assert "Could not confirm your identity with Slack right now (ratelimited)" in told
    assert served.decisions(label) == []
    refused = served.audit(label, "decision.refused")
    assert refused[0]["directory"] == "ratelimited"
    served.click(card, "U0LIMITED1")
    assert "You requested this exception" in served.told("U0LIMITED1", seen + 1)
    served.click(card, "U0FINMGR1")
    served.released(label)
    served.at_rest()


def test_approver_by_email_is_retried_through_one_429(served: Served) -> None:
    """One 429 on users.info is waited out and retried: the approver listed by e-mail approves."""
    label = served.open_exception("credit_request", {"slack_user_id": "U0FINMGR1"})
    card = served.card(label)
    served.slack.rate_limit("users.info", times=1, retry_after=1)
    served.click(card, "U0LIMITED2")
    served.released(label)
    assert [d.approver for d in served.decisions(label)] == ["U0LIMITED2"]
    statuses = [
        c.status for c in served.slack.calls("users.info") if c.args["user"] == "U0LIMITED2"
    ]
    assert statuses == [429, 200]
    served.at_rest()


def test_escalation_never_gives_one_person_two_steps(served: Served) -> None:
    """Step 1 escalates to U0CFO1 (step 2's approver) and U0CTRL1: only U0CTRL1 is asked, the
    skip is audited, U0CFO1 stays refused on step 1, and U0CTRL1 then cannot decide step 2."""
    label = served.open_exception("invoice_dispute")
    card = served.card(label)
    time.sleep(1.2)
    sweep = TimerSweep(served.db, SystemClock(), worker_id="test-second-instance")

    def escalated_now() -> list[dict[str, Any]]:
        sweep.sweep()  # as a second instance would; the server's own sweep may come first
        return served.audit(label, "timer.escalated")

    wait_for(escalated_now, what="the escalation")
    (escalated,) = served.audit(label, "timer.escalated")
    assert escalated["added"] == ["U0CTRL1"]
    assert escalated["skipped"][0]["who"] == "U0CFO1"
    assert "approver on step 2" in escalated["skipped"][0]["why"]
    dm = served.card(label, channel=served.slack.dm_channel("U0CTRL1"))
    assert served.slack.messages(served.slack.dm_channel("U0CFO1")) == []
    seen = len(served.slack.ephemerals("U0CFO1"))
    served.click(card, "U0CFO1")
    assert "not an approver on the current step" in served.told("U0CFO1", seen)
    served.click(dm, "U0CTRL1")
    step_two = served.card(label, f"{_id(label)}:1:1")
    seen = len(served.slack.ephemerals("U0CTRL1"))
    served.click(step_two, "U0CTRL1")
    assert "not an approver" in served.told("U0CTRL1", seen)
    served.click(step_two, "U0CFO1")
    served.released(label)
    assert [(d.step, d.approver) for d in served.decisions(label)] == [
        (0, "U0CTRL1"),
        (1, "U0CFO1"),
    ]
    served.at_rest()


def test_slash_command_refuses_what_it_cannot_answer(served: Served) -> None:
    """`/billing-exceptions` answers an absurd id and an unknown verb with one line, no 500,
    and offers no way to decide."""
    huge = served.delivery.slash_command("show 9999999999999999999999999", "U0OUTSIDER")
    assert huge.status_code == 200
    assert "does not exist" in huge.text
    verb = served.delivery.slash_command("approve BX-000001", "U0OUTSIDER")
    assert verb.status_code == 200
    assert "Unknown command" in verb.text
    served.at_rest()
