"""Quorum across groups, delegation and reassignment, through a running `countersign serve`.

One server per database for the module (each test opens its own exceptions), driven over HTTP
with Slack-signed clicks and slash commands against the Slack and Intacct emulators, each test
ending with the outbox at rest and no timer overdue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import col, select

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.sandbox.slack_emulator.models import PostedMessage
from app.slack.ids import ActionId
from app.store.db import Database
from app.store.tables import AuditEntryRow, DecisionRow, DelegationRow, ExceptionRow
from tests.databases import scratch_postgres
from tests.e2e.harness import assert_at_rest, process_env, serve_process, wait_for

POLICIES = Path(__file__).parent / "policies_delegation"
SECRET, HOOK_SECRET = "deleg-signing-secret-not-real", "deleg-webhook-secret-not-real"
_numbers = count(1)


@dataclass
class Served:
    url: str
    database_url: str
    slack: SlackEmulator
    intacct: IntacctEmulator
    db: Database
    delivery: SlackDelivery
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))
    invoices: dict[str, str] = field(default_factory=dict)

    def open_exception(self, type_: str, requested_by: str | None = None) -> str:
        """Send a signed event of `type_` on a fresh draft invoice; return its BX label."""
        n = next(_numbers)
        key = f"INV-DELEG-{n}-{time.monotonic_ns()}"
        self.intacct.add_invoice(
            key,
            number=key,
            customer_id="C-ACME",
            customer_name="Acme",
            currency="USD",
            amount="1000.00",
        )
        event: dict[str, Any] = {
            "event_id": f"deleg-{key}",
            "source": "crm",
            "type": type_,
            "occurred_at": "2026-11-23T10:00:00-05:00",
            "customer": {"id": "C-ACME", "name": "Acme"},
            "invoice": {"key": key, "number": key, "currency": "USD", "amount": "1000.00"},
            "details": {"discount_pct": "45"},
        }
        if requested_by:
            event["requested_by"] = {"slack_user_id": requested_by}
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

    def card(self, label: str, contains: str = "") -> PostedMessage:
        """The latest version of the card of `label` once its text contains `contains`."""

        def find() -> PostedMessage | None:
            for message in self.slack.messages("C0BILLING"):
                text = card_text(message)
                if label in message.text and contains in text:
                    return message
            return None

        return wait_for(find, timeout=15, what=f"the card of {label} showing {contains!r}")

    def click(self, label: str, user: str) -> None:
        card = self.card(label)
        assert self.delivery.click(card.channel, card.ts, ActionId.APPROVE, user).status_code == 200

    def told(self, user: str, seen: int) -> str:
        """The first private reply `user` got after the `seen` they had before."""
        found = wait_for(lambda: self.slack.ephemerals(user)[seen:], what=f"a reply to {user}")
        return found[0].text

    def command(self, text: str, user: str) -> str:
        """Run `/billing-exceptions text` as `user`; the private answer, inside the ack or after."""
        seen = len(self.slack.ephemerals(user))
        answer = self.delivery.slash_command(text, user)
        assert answer.status_code == 200
        if answer.content and answer.headers.get("content-type", "").startswith("application/json"):
            quick = answer.json().get("text")
            if quick:
                return str(quick)
        if answer.text and not answer.text.startswith("{"):
            return answer.text
        return self.told(user, seen)

    def state(self, label: str) -> str:
        with self.db.transaction() as session:
            row = session.get(ExceptionRow, _id(label))
            assert row is not None
            return row.state

    def decisions(self, label: str) -> list[DecisionRow]:
        with self.db.transaction() as session:
            return list(
                session.exec(
                    select(DecisionRow)
                    .where(DecisionRow.exception_id == _id(label))
                    .order_by(col(DecisionRow.id))
                ).all()
            )

    def audit(self, action: str, label: str | None = None) -> list[AuditEntryRow]:
        with self.db.transaction() as session:
            query = select(AuditEntryRow).where(AuditEntryRow.action == action)
            if label is not None:
                query = query.where(AuditEntryRow.exception_id == _id(label))
            return list(session.exec(query.order_by(col(AuditEntryRow.seq))).all())

    def released(self, label: str) -> None:
        """Wait until Intacct has the invoice posted and Countersign has recorded the release
        (the state is written just after Intacct answers)."""
        key = self.invoices[label]
        wait_for(lambda: self.intacct.submissions(key) == 1, timeout=15, what=f"{key} posted")
        wait_for(lambda: self.state(label) == "released", timeout=15, what=f"{label} released")


def _id(label: str) -> int:
    return int(label.removeprefix("BX-"))


def card_text(message: PostedMessage) -> str:
    """Every text of a card's blocks, joined (what a person reads)."""
    return json.dumps(message.blocks, ensure_ascii=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The emulators here, `countersign serve` in its own process, on each database."""
    folder = tmp_path_factory.mktemp(f"deleg-{request.param}")
    with _database(request.param, folder) as database_url:
        slack = SlackEmulator().start()
        intacct = IntacctEmulator().start()
        env = process_env(
            folder,
            slack,
            intacct,
            DATABASE_URL=database_url,
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
                db = Database(database_url)
                yield Served(url, database_url, slack, intacct, db, delivery)
                delivery.close()
                db.dispose()
        finally:
            slack.stop()
            intacct.stop()


def _database(kind: str, folder: Path) -> Any:
    import contextlib
    import os

    if kind == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{folder / 'countersign.db'}")
    server = os.environ.get("COUNTERSIGN_TEST_PG_URL")
    if not server:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but COUNTERSIGN_TEST_PG_URL is unset")
        pytest.skip("COUNTERSIGN_TEST_PG_URL not set (make test sets it up)")
    return scratch_postgres(server, "cs_deleg")


def test_two_group_quorum_needs_a_different_person_for_each_group(served: Served) -> None:
    """A step needing one from billing ops and one from finance: the card says what is still
    needed, a person in both groups counts once, a second person completes it."""
    label = served.open_exception("credit_request")
    served.card(label, "still 1 more from billing_ops and 1 more from finance")
    served.click(label, "U0FINMGR2")  # in both groups: fills one seat only
    wait_for(lambda: len(served.decisions(label)) == 1, what="the first approval")
    served.card(label, "<@U0FINMGR2> approved")  # the card updated (its buttons' new version)
    assert served.state(label) == "open"
    seen = len(served.slack.ephemerals("U0FINMGR2"))
    served.click(label, "U0FINMGR2")
    # the answer to the first click may still arrive after `seen`: wait for the refusal itself
    wait_for(
        lambda: any(
            "already decided" in e.text for e in served.slack.ephemerals("U0FINMGR2")[seen:]
        ),
        what="U0FINMGR2 told they already decided",
    )
    served.click(label, "U0FINMGR1")  # finance only: U0FINMGR2 then counts for billing ops
    served.released(label)
    assert [d.approver for d in served.decisions(label)] == ["U0FINMGR2", "U0FINMGR1"]
    assert served.state(label) == "released"
    assert_at_rest(served.database_url)


def _until(days: int) -> str:
    """A date `days` from today in the policy's time zone (America/New_York)."""
    return (datetime.now(ZoneInfo("America/New_York")).date() + timedelta(days=days)).isoformat()


def _dms(served: Served, user: str) -> list[str]:
    return [m.text for m in served.slack.messages(served.slack.dm_channel(user))]


def test_a_delegate_decides_for_the_delegator_and_every_record_names_both(
    served: Served,
) -> None:
    """The CFO delegates to the controller: the card says so, the controller approves step 2,
    the decision, audit entry and card name "U0CTRL1 for U0CFO1"; `delegate off` ends it and
    the controller is refused again."""
    until = _until(3)
    said = served.command(f"delegate <@U0CTRL1|controller> until {until} at a conference", "U0CFO1")
    assert "decides your approvals" in said, said
    assert until in said
    created = served.audit("delegation.created")[-1]
    assert created.actor == "U0CFO1"
    assert created.detail["delegate"] == "U0CTRL1"
    assert created.detail["until"] == until
    assert created.detail["timezone"] == "America/New_York"
    wait_for(
        lambda: any("handed their Countersign approvals" in t for t in _dms(served, "U0CTRL1")),
        what="the delegate's DM",
    )
    label = served.open_exception("non_standard_discount")
    served.click(label, "U0FINMGR1")
    served.card(label, "<@U0CTRL1> decides for <@U0CFO1> until " + until)
    served.click(label, "U0CTRL1")
    served.released(label)
    step2 = served.decisions(label)[-1]
    assert (step2.approver, step2.on_behalf_of, step2.step) == ("U0CTRL1", "U0CFO1", 1)
    recorded = served.audit("decision.recorded", label)[-1]
    assert recorded.actor == "U0CTRL1 for U0CFO1"
    assert recorded.detail["on_behalf_of"] == "U0CFO1"
    served.card(label, "<@U0CTRL1> for <@U0CFO1> approved")
    ended = served.command("delegate off", "U0CFO1")
    assert "no longer decides for you" in ended, ended
    assert served.audit("delegation.revoked")[-1].detail["why"] == "delegate off"
    after = served.open_exception("non_standard_discount")
    served.click(after, "U0FINMGR1")
    served.card(after, "Step 2 of 2")
    seen = len(served.slack.ephemerals("U0CTRL1"))
    served.click(after, "U0CTRL1")
    assert "not an approver" in served.told("U0CTRL1", seen)
    served.click(after, "U0CFO1")
    served.released(after)
    assert_at_rest(served.database_url)


def test_a_delegation_past_its_end_date_no_longer_counts(served: Served) -> None:
    """Once the day named in `until` is over, the delegate is refused by the decision-time
    check (the delegation's dates are moved back a day in the database: a test cannot wait
    for midnight)."""
    served.command(f"delegate <@U0CTRL1> until {_until(0)}", "U0CFO1")
    label = served.open_exception("non_standard_discount")
    served.click(label, "U0FINMGR1")
    served.card(label, "<@U0CTRL1> decides for <@U0CFO1>")
    with served.db.transaction() as session:
        row = session.exec(
            select(DelegationRow).where(col(DelegationRow.revoked_at).is_(None))
        ).one()
        row.until = row.until - timedelta(days=1)
        row.ends_at = row.ends_at - timedelta(days=1)
        session.add(row)
    seen = len(served.slack.ephemerals("U0CTRL1"))
    served.click(label, "U0CTRL1")
    assert "not an approver" in served.told("U0CTRL1", seen)
    assert served.audit("decision.refused", label)[-1].actor == "U0CTRL1"
    assert len(served.decisions(label)) == 1
    assert "no active delegation" in served.command("delegate off", "U0CFO1")
    served.click(label, "U0CFO1")
    served.released(label)
    assert_at_rest(served.database_url)


def test_segregation_of_duties_holds_through_delegation(served: Served) -> None:
    """A delegate cannot approve what they requested, nor a second step of one exception
    (theirs or their delegator's), and the refusals are audited."""
    served.command(f"delegate <@U0FINMGR1> until {_until(2)}", "U0CFO1")
    # U0FINMGR1 decided step 1 (finance) themself: deciding step 2 for the CFO is refused.
    label = served.open_exception("non_standard_discount")
    served.click(label, "U0FINMGR1")
    served.card(label, "Step 2 of 2")
    seen = len(served.slack.ephemerals("U0FINMGR1"))
    served.click(label, "U0FINMGR1")
    assert "already decided step 1" in served.told("U0FINMGR1", seen)
    refused = served.audit("decision.refused", label)[-1]
    assert refused.detail["step"] == 1
    assert refused.actor == "U0FINMGR1 for U0CFO1"
    assert refused.detail["on_behalf_of"] == ["U0CFO1"]
    served.click(label, "U0CFO1")
    served.released(label)
    # The delegate requested the exception: they cannot approve it for anyone.
    mine = served.open_exception("non_standard_discount", requested_by="U0FINMGR1")
    served.click(mine, "U0FINMGR2")
    served.card(mine, "Step 2 of 2")
    seen = len(served.slack.ephemerals("U0FINMGR1"))
    served.click(mine, "U0FINMGR1")
    assert "You requested this exception" in served.told("U0FINMGR1", seen)
    assert len(served.decisions(mine)) == 1
    served.command("delegate off", "U0CFO1")
    served.click(mine, "U0CFO1")
    served.released(mine)
    assert_at_rest(served.database_url)


def test_an_admin_reassigns_a_pending_step_and_the_new_approver_decides(served: Served) -> None:
    """An admin moves step 1 from one finance manager to billing ops with a reason: audited,
    the card and thread updated, the new approver DM'd and able to approve; the old one is
    refused; a non-admin and a second-step reassignment to step 1's decider are refused."""
    label = served.open_exception("non_standard_discount")
    served.card(label, "Step 1 of 2")
    refused = served.command(f"reassign {label} <@U0FINMGR1> <@U0BILLOPS1> on leave", "U0FINMGR2")
    assert "Only Countersign admins" in refused, refused
    assert served.audit("step.reassign_refused", label)[-1].actor == "U0FINMGR2"
    done = served.command(
        f"reassign {label} <@U0FINMGR1|fin.one> <@U0BILLOPS1|ana> on leave this week", "U0CTRL1"
    )
    assert "now decides in place of" in done, done
    moved = served.audit("step.reassigned", label)[-1]
    assert moved.actor == "U0CTRL1"
    assert (moved.detail["from"], moved.detail["to"]) == ("U0FINMGR1", "U0BILLOPS1")
    assert moved.detail["reason"] == "on leave this week"
    card = served.card(label, "<@U0BILLOPS1>")
    assert "<@U0FINMGR1>" not in card_text(card).split("must approve")[1]
    wait_for(
        lambda: any("Reassigned to you" in t for t in _dms(served, "U0BILLOPS1")),
        what="the new approver's DM",
    )
    wait_for(
        lambda: any("reassigned from" in m.text for m in served.slack.thread("C0BILLING", card.ts)),
        what="the thread note",
    )
    seen = len(served.slack.ephemerals("U0FINMGR1"))
    served.click(label, "U0FINMGR1")
    assert "not an approver" in served.told("U0FINMGR1", seen)
    served.click(label, "U0BILLOPS1")
    served.card(label, "Step 2 of 2")
    again = served.command(f"reassign {label} <@U0CFO1> <@U0BILLOPS1> cover", "U0CTRL1")
    assert "took part in another step" in again, again
    served.click(label, "U0CFO1")
    served.released(label)
    assert [d.approver for d in served.decisions(label)] == ["U0BILLOPS1", "U0CFO1"]
    assert "does not exist" in served.command("reassign BX-999999 <@U0A1> <@U0B1> x y", "U0CTRL1")
    assert "Usage" in served.command("reassign BX-000001 <@U0A1>", "U0CTRL1")
    assert_at_rest(served.database_url)
