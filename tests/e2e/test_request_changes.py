"""Request changes, resubmit and an invoice changed after approval, through a running
`countersign serve` against the Slack and Intacct emulators (separate servers), driven over
HTTP as Slack and the billing system would. One server for the module; each test uses its own
exception and invoice, and ends with the outbox at rest and no timer overdue."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.sandbox.slack_emulator.models import PostedMessage
from app.slack.ids import CHANGES_NOTE_ACTION, ActionId, BlockId, CallbackId
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow, TimerRow
from tests.e2e.harness import (
    COUNTERSIGN,
    assert_at_rest,
    process_env,
    serve_process,
    wait_for,
)

POLICIES = Path(__file__).parent / "policies_changes"
SECRET, HOOK_SECRET = "changes-signing-secret-not-real", "changes-webhook-secret-not-real"
REQUESTER = "U0REQUEST1"
_numbers = count(1)


@dataclass
class Served:
    url: str
    slack: SlackEmulator
    intacct: IntacctEmulator
    db: Database
    database_url: str
    delivery: SlackDelivery
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))
    invoices: dict[str, str] = field(default_factory=dict)

    def send(self, event: dict[str, Any]) -> httpx.Response:
        body = json.dumps(event).encode()
        return self.http.post(
            f"{self.url}/billing-events",
            content=body,
            headers=webhook.signed_headers(HOOK_SECRET, int(time.time()), body),
        )

    def open_exception(
        self, type_: str = "non_standard_discount", *, intacct_total: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        """A two-line draft invoice in Intacct (or one line of `intacct_total`) and a signed
        event about it, claiming USD 1500.00: (label, event)."""
        n = next(_numbers)
        key = f"INV-CHG-{n}"
        lines = [
            {"item": "PLATFORM", "amount": "1000.00", "memo": "Platform, Dec 2026"},
            {"item": "SEATS", "amount": "500.00", "memo": "10 seats"},
        ]
        self.intacct.add_invoice(
            key, number=key, customer_id="C-ACME", customer_name="Acme", currency="USD",
            amount=intacct_total or "1500.00", lines=None if intacct_total else lines,
        )  # fmt: skip
        event = {
            "event_id": f"chg-{n}",
            "source": "crm",
            "type": type_,
            "occurred_at": "2026-11-23T10:00:00-05:00",
            "requested_by": {"slack_user_id": REQUESTER},
            "customer": {"id": "C-ACME", "name": "Acme"},
            "invoice": {"key": key, "number": key, "currency": "USD", "amount": "1500.00"},
            "details": {"discount_pct": "30"},
            "reason": "Renewal",
        }
        answer = self.send(event)
        assert answer.status_code == 202, answer.text
        label = str(answer.json()["exception"])
        self.invoices[label] = key
        return label, event

    def row(self, label: str) -> ExceptionRow:
        with self.db.transaction() as session:
            found = session.get(ExceptionRow, _id(label))
            assert found is not None
            session.expunge(found)
            return found

    def snapshot_taken(self, label: str) -> ExceptionRow:
        return wait_for(
            lambda: (row := self.row(label)).invoice_snapshot is not None and row,
            timeout=15,
            what=f"the Intacct snapshot of {label}",
        )

    def card(self, label: str, *, has: str | None = None) -> PostedMessage:
        """The card of `label` in C0BILLING, once its blocks contain `has` (if given)."""

        def find() -> PostedMessage | None:
            for message in self.slack.messages("C0BILLING"):
                if label in message.text and (
                    has is None or has in json.dumps(message.blocks, ensure_ascii=False)
                ):
                    return message
            return None

        return wait_for(find, timeout=15, what=f"the card of {label} showing {has!r}")

    def click(self, message: PostedMessage, user: str, action: str) -> None:
        answer = self.delivery.click(message.channel, message.ts, action, user)
        assert answer.status_code == 200

    def audit(self, label: str, action: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            rows = session.exec(
                select(AuditEntryRow)
                .where(AuditEntryRow.exception_id == _id(label), AuditEntryRow.action == action)
                .order_by(col(AuditEntryRow.seq))
            ).all()
            return [row.detail for row in rows]

    def pending_timers(self, label: str) -> list[TimerRow]:
        with self.db.transaction() as session:
            return list(
                session.exec(
                    select(TimerRow).where(
                        TimerRow.exception_id == _id(label), TimerRow.state == "pending"
                    )
                ).all()
            )

    def released(self, label: str) -> None:
        key = self.invoices[label]
        wait_for(lambda: self.intacct.submissions(key) == 1, timeout=20, what=f"{key} posted")
        wait_for(lambda: self.row(label).state == "released", timeout=10, what="released")


def _id(label: str) -> int:
    return int(label.removeprefix("BX-"))


def action_ids(message: PostedMessage) -> list[str]:
    return [
        str(element["action_id"])
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The emulators here, `countersign serve` in its own process, on one SQLite file."""
    folder = tmp_path_factory.mktemp("changes")
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
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
            db = Database(env["DATABASE_URL"])
            served = Served(url, slack, intacct, db, env["DATABASE_URL"], delivery)
            yield served
            delivery.close()
            served.http.close()
            db.dispose()
    finally:
        slack.stop()
        intacct.stop()


def test_fingerprint_taken_from_intacct_covers_the_lines(served: Served) -> None:
    """After intake the exception holds Intacct's lines and a v2 fingerprint; it releases."""
    label, _ = served.open_exception("credit_request")
    row = served.snapshot_taken(label)
    assert row.invoice_fingerprint.startswith("v2:")
    assert row.invoice_snapshot is not None
    assert [line["item"] for line in row.invoice_snapshot["lines"]] == ["PLATFORM", "SEATS"]
    (taken,) = served.audit(label, "invoice.snapshot_taken")
    assert taken["fingerprint"] == row.invoice_fingerprint
    served.click(served.card(label), "U0FINMGR1", ActionId.APPROVE)
    served.released(label)
    (released,) = served.audit(label, "invoice.released")
    assert released["fingerprint"] == row.invoice_fingerprint
    assert_at_rest(served.database_url)


def ask_for_changes(
    served: Served, label: str, user: str, note: str, *, step: int = 1
) -> httpx.Response:
    """Click Request changes on the card of `label` (once it asks for `step`) as `user`, type
    `note`, submit the modal."""
    before = len(served.slack.opened_views())
    card = served.card(label, has=f"Step {step} of ")
    served.click(card, user, ActionId.REQUEST_CHANGES)
    views = wait_for(lambda: served.slack.opened_views()[before:], what="the request-changes modal")
    (view,) = views
    assert view["callback_id"] == CallbackId.CHANGES_MODAL
    return served.delivery.submit_view(
        view["id"], user, {BlockId.CHANGES_NOTE: {CHANGES_NOTE_ACTION: note}}
    )


def requester_dm(served: Served, label: str) -> PostedMessage:
    """The requester's DM about `label` that carries the Resubmit button."""
    channel = served.slack.dm_channel(REQUESTER)

    def find() -> PostedMessage | None:
        for message in served.slack.messages(channel):
            if label in message.text and ActionId.RESUBMIT in action_ids(message):
                return message
        return None

    return wait_for(find, timeout=15, what=f"the requester's DM about {label}")


def test_request_changes_then_resubmit_restarts_and_posts_once(served: Served) -> None:
    """Changes asked at step 2: requester DM'd, card shows it, timers stop; the fixed invoice
    is resubmitted from the DM, approval restarts at step 1 and the invoice is posted once."""
    label, _ = served.open_exception()
    served.snapshot_taken(label)
    first_fingerprint = served.row(label).invoice_fingerprint
    served.click(served.card(label), "U0FINMGR1", ActionId.APPROVE)
    wait_for(lambda: served.row(label).current_step == 1, what="step 2")
    answer = ask_for_changes(served, label, "U0CFO1", "Split the seats line per team", step=2)
    assert answer.status_code == 200
    assert not answer.content or b"errors" not in answer.content
    card = served.card(label, has="Split the seats line per team")
    assert action_ids(card) == []
    text = json.dumps(card.blocks, ensure_ascii=False)
    assert "<@U0CFO1> asked for changes at " in text
    assert "Changes requested" in text
    row = served.row(label)
    assert row.state == "changes_requested"
    assert served.pending_timers(label) == []
    (asked,) = served.audit(label, "changes.requested")
    assert (asked["step"], asked["note"]) == (1, "Split the seats line per team")
    dm = requester_dm(served, label)
    intro = dm.blocks[0]["text"]["text"]
    assert intro.startswith("<@U0CFO1> asked for changes on ")
    assert "Split the seats line per team" in intro

    served.intacct.edit_invoice(
        served.invoices[label],
        lines=[
            {"item": "PLATFORM", "amount": "1000.00"},
            {"item": "SEATS", "amount": "300.00", "memo": "team A"},
            {"item": "SEATS", "amount": "200.00", "memo": "team B"},
        ],
    )
    served.click(dm, REQUESTER, ActionId.RESUBMIT)
    wait_for(lambda: served.row(label).state == "open", timeout=15, what="the resubmission")
    row = served.row(label)
    assert row.current_step == 0
    assert row.change_request is None
    assert row.invoice_fingerprint.startswith("v2:")
    assert row.invoice_fingerprint != first_fingerprint
    (resumed,) = served.audit(label, "exception.resubmitted")
    assert (resumed["on_resubmit"], resumed["decisions_set_aside"]) == ("restart", 1)
    assert {timer.kind for timer in served.pending_timers(label)} == {"remind"}
    assert len(served.audit(label, "decision.recorded")) == 1  # the old approval is kept

    served.click(served.card(label, has="Step 1 of "), "U0FINMGR2", ActionId.APPROVE)
    wait_for(lambda: served.row(label).current_step == 1, what="step 2 again")
    served.click(served.card(label, has="Step 2 of "), "U0CFO1", ActionId.APPROVE)
    served.released(label)
    (released,) = served.audit(label, "invoice.released")
    assert released["fingerprint"] == row.invoice_fingerprint
    assert served.intacct.submissions(served.invoices[label]) == 1
    assert_at_rest(served.database_url)


def test_only_an_approver_of_the_current_step_may_ask(served: Served) -> None:
    """An outsider and the requester are refused inside the modal; nothing changes."""
    label, _ = served.open_exception()
    for user in ("U0OUTSIDER", REQUESTER, "U0CFO1"):
        answer = ask_for_changes(served, label, user, "Please change it")
        assert answer.json()["response_action"] == "errors"
    assert served.row(label).state == "open"
    assert len(served.audit(label, "changes.refused")) == 3
    assert served.audit(label, "changes.requested") == []
    assert_at_rest(served.database_url)


def test_only_the_requester_may_resubmit(served: Served) -> None:
    """Someone else pressing Resubmit is refused and audited; the request stays open."""
    label, _ = served.open_exception()
    served.snapshot_taken(label)
    ask_for_changes(served, label, "U0FINMGR1", "Wrong customer contact")
    dm = requester_dm(served, label)
    served.click(dm, "U0FINMGR2", ActionId.RESUBMIT)
    (refused,) = wait_for(
        lambda: served.audit(label, "changes.resubmit_refused"), what="the refusal"
    )
    assert refused["why"] == f"Only the requester of {label} can resubmit it."
    assert served.row(label).state == "changes_requested"
    assert_at_rest(served.database_url)


def test_corrected_event_that_supersedes_continues_the_exception(served: Served) -> None:
    """A new event naming the earlier one resubmits it: same exception, new figures, the
    invoice re-read; approval restarts and the invoice is posted once."""
    label, event = served.open_exception()
    served.snapshot_taken(label)
    ask_for_changes(served, label, "U0FINMGR1", "Discount must be 25%, not 30%")
    wait_for(lambda: served.row(label).state == "changes_requested", what="changes requested")
    served.intacct.set_amount(served.invoices[label], "1600.00")
    corrected = event | {
        "event_id": f"{event['event_id']}-v2",
        "details": {"discount_pct": "25"},
        "invoice": event["invoice"] | {"amount": "1600.00"},
        "supersedes": {"source": event["source"], "event_id": event["event_id"]},
    }
    answer = served.send(corrected)
    assert answer.status_code == 202, answer.text
    assert answer.json()["exception"] == label
    assert served.send(corrected).json()["status"] == "duplicate"
    wait_for(lambda: served.row(label).state == "open", timeout=15, what="the resubmission")
    row = served.row(label)
    assert (row.details, str(row.amount), row.current_step) == (
        {"discount_pct": "25"},
        "1600.00",
        0,
    )
    (superseded,) = served.audit(label, "event.superseded")
    assert superseded["supersedes"] == {"source": "crm", "event_id": event["event_id"]}
    (resumed,) = served.audit(label, "exception.resubmitted")
    assert resumed["via"] == "event:webhook"
    served.click(served.card(label, has="Step 1 of "), "U0FINMGR2", ActionId.APPROVE)
    served.click(served.card(label, has="Step 2 of "), "U0CFO1", ActionId.APPROVE)
    served.released(label)
    assert served.intacct.invoice(served.invoices[label])["totalTxnAmount"] == "1600.00"
    assert_at_rest(served.database_url)


def test_superseding_an_unknown_or_open_event_is_refused(served: Served) -> None:
    """`supersedes` naming no stored event, or one not waiting for changes, is rejected (422)."""
    label, event = served.open_exception()
    unknown = event | {
        "event_id": "chg-orphan",
        "supersedes": {"source": "crm", "event_id": "never-sent"},
    }
    refused = served.send(unknown)
    assert refused.status_code == 422
    assert "does not hold" in refused.text
    still_open = event | {
        "event_id": f"{event['event_id']}-early",
        "supersedes": {"source": "crm", "event_id": event["event_id"]},
    }
    refused = served.send(still_open)
    assert refused.status_code == 422
    assert "only an exception whose changes were requested" in refused.text
    assert served.row(label).state == "open"
    assert_at_rest(served.database_url)


def test_continue_resumes_at_the_step_that_asked(served: Served) -> None:
    """With on_resubmit: continue, step 1's approval stands and the resubmission returns to
    step 2, which approves; posted once."""
    label, _ = served.open_exception("mid_cycle_amendment")
    served.snapshot_taken(label)
    served.click(served.card(label), "U0FINMGR1", ActionId.APPROVE)
    ask_for_changes(served, label, "U0CFO1", "Prorate from the 15th", step=2)
    served.click(requester_dm(served, label), REQUESTER, ActionId.RESUBMIT)
    wait_for(lambda: served.row(label).state == "open", timeout=15, what="the resubmission")
    (resumed,) = served.audit(label, "exception.resubmitted")
    assert (resumed["on_resubmit"], resumed["step"], resumed["decisions_set_aside"]) == (
        "continue",
        1,
        0,
    )
    served.click(served.card(label, has="Step 2 of "), "U0CFO1", ActionId.APPROVE)
    served.released(label)
    assert_at_rest(served.database_url)


def test_invoice_lines_edited_after_approval_are_approved_again(served: Served) -> None:
    """Lines changed in Intacct (same total) after approval: nothing is posted, the card shows
    approved vs now and asks step 1 again; once approved again it is posted with the new
    fingerprint."""
    label, _ = served.open_exception()
    approved = served.snapshot_taken(label).invoice_fingerprint
    served.click(served.card(label), "U0FINMGR1", ActionId.APPROVE)
    served.intacct.edit_invoice(
        served.invoices[label],
        lines=[
            {"item": "PLATFORM", "amount": "1200.00", "memo": "Platform, Dec 2026"},
            {"item": "SEATS", "amount": "300.00", "memo": "6 seats"},
        ],
    )
    served.click(served.card(label, has="Step 2 of "), "U0CFO1", ActionId.APPROVE)
    card = served.card(label, has="approve it again")
    text = json.dumps(card.blocks, ensure_ascii=False)
    assert "line 1: 1 · PLATFORM · 1000.00 (Platform, Dec 2026) → 1 · PLATFORM · 1200.00" in text
    assert "Step 1 of 2" in text
    assert served.intacct.submissions(served.invoices[label]) == 0
    row = served.row(label)
    assert (row.state, row.current_step) == ("open", 0)
    assert row.invoice_fingerprint not in (approved, "")
    (changed,) = served.audit(label, "invoice.changed_after_approval")
    assert (changed["on_invoice_change"], changed["approved_fingerprint"]) == (
        "reapprove",
        approved,
    )
    assert len(served.audit(label, "decision.recorded")) == 2  # both kept in the audit
    served.click(card, "U0FINMGR1", ActionId.APPROVE)
    served.click(served.card(label, has="Step 2 of "), "U0CFO1", ActionId.APPROVE)
    served.released(label)
    (released,) = served.audit(label, "invoice.released")
    assert released["fingerprint"] == row.invoice_fingerprint
    assert served.intacct.submissions(served.invoices[label]) == 1
    assert_at_rest(served.database_url)


def _button_values(message: PostedMessage) -> set[str]:
    return {
        str(element.get("value"))
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


def test_a_reapproved_exception_never_reuses_a_card_version_and_its_evidence_verifies(
    served: Served, tmp_path: Path
) -> None:
    """After the invoice changed and step 1 is asked again, the card's buttons carry a version
    never shown before (a first-round button cannot decide the new round); once released, the
    evidence packet lists the set-aside decisions beside the new ones and verifies."""
    label, _ = served.open_exception()
    served.snapshot_taken(label)
    first_round = _button_values(served.card(label))
    served.click(served.card(label), "U0FINMGR1", ActionId.APPROVE)
    served.intacct.edit_invoice(
        served.invoices[label], lines=[{"item": "PLATFORM", "amount": "1500.00", "memo": "x"}]
    )
    served.click(served.card(label, has="Step 2 of "), "U0CFO1", ActionId.APPROVE)
    again = served.card(label, has="approve it again")
    assert _button_values(again).isdisjoint(first_round)
    served.click(again, "U0FINMGR1", ActionId.APPROVE)
    served.click(served.card(label, has="Step 2 of "), "U0CFO1", ActionId.APPROVE)
    served.released(label)
    assert_at_rest(served.database_url)

    env = {**os.environ, "DATABASE_URL": served.database_url}
    out = tmp_path / "packet"
    written = subprocess.run(
        [COUNTERSIGN, "evidence", label, "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    packet = json.loads((out / "packet.json").read_text())
    kept = [(d["step"], d["slack_id"], d["set_aside"]) for d in packet["decisions"]]
    assert sorted(kept) == [
        (1, "U0FINMGR1", False),
        (1, "U0FINMGR1", True),
        (2, "U0CFO1", False),
        (2, "U0CFO1", True),
    ]
    verified = subprocess.run(
        [COUNTERSIGN, "evidence", "verify", str(out)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "evidence packet intact" in verified.stdout


def test_invoice_changed_after_approval_is_rejected_when_the_policy_says_so(
    served: Served,
) -> None:
    """on_invoice_change: reject: the exception is rejected, the card says what changed."""
    label, _ = served.open_exception("usage_anomaly")
    served.snapshot_taken(label)
    served.intacct.set_amount(served.invoices[label], "1750.00")
    served.click(served.card(label), "U0FINMGR1", ActionId.APPROVE)
    card = served.card(label, has="rejected by policy")
    assert "total USD 1500.00 → USD 1750.00" in json.dumps(card.blocks, ensure_ascii=False)
    assert action_ids(card) == []
    assert served.row(label).state == "rejected"
    assert served.intacct.submissions(served.invoices[label]) == 0
    assert_at_rest(served.database_url)


def test_invoice_changed_after_approval_is_only_reported_when_the_policy_says_so(
    served: Served,
) -> None:
    """on_invoice_change: report: the release is blocked and the card names the change."""
    label, _ = served.open_exception("credit_request")
    served.snapshot_taken(label)
    served.intacct.edit_invoice(served.invoices[label], due_date=date(2031, 1, 31))
    served.click(served.card(label), "U0FINMGR1", ActionId.APPROVE)
    card = served.card(label, has="due date")
    assert "2031-01-31" in json.dumps(card.blocks, ensure_ascii=False)
    assert served.row(label).state == "blocked"
    assert served.intacct.submissions(served.invoices[label]) == 0
    assert_at_rest(served.database_url)


def test_event_that_disagrees_with_intacct_is_flagged_at_once(served: Served) -> None:
    """An event claiming another total than Intacct holds: the card's thread says so before
    anyone approves, and the claim fingerprint stays (the release will find the difference)."""
    label, _ = served.open_exception("credit_request", intacct_total="1400.00")
    (mismatch,) = wait_for(
        lambda: served.audit(label, "invoice.snapshot_mismatch"), what="the mismatch"
    )
    assert "USD 1400.00" in mismatch["why"]
    card = served.card(label)
    thread = wait_for(lambda: served.slack.thread("C0BILLING", card.ts), what="a thread note")
    assert "is not what the event says" in thread[-1].text
    row = served.row(label)
    assert (row.invoice_snapshot, row.invoice_fingerprint.startswith("v2:")) == (None, False)
    assert_at_rest(served.database_url)
