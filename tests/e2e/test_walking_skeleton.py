"""One billing event becomes an approved, released invoice — over real HTTP, on real parts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.sandbox.slack_delivery import SlackDelivery
from app.slack.ids import ActionId, BlockId, CallbackId
from tests.e2e.harness import SIGNING_SECRET, Stack, wait_for

INVOICE = "INV-KEY-2001"


def discount_event(event_id: str = "evt-2001", pct: str = "25", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": "salesforce",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00-05:00",
        "requested_by": {"slack_user_id": "U0REQUEST1"},
        "customer": {"id": "C-ACME", "name": "Acme <Corp> & Sons", "tier": "enterprise"},
        "invoice": {"key": INVOICE, "number": "INV-2001", "currency": "USD", "amount": "48250.00"},
        "details": {"discount_pct": pct, "list_amount": "64333.33"},
        "reason": "Multi-year renewal; *match* competitor",
    } | extra


def seed_invoice(stack: Stack, amount: str = "48250.00") -> None:
    stack.intacct.add_invoice(
        INVOICE,
        number="INV-2001",
        customer_id="C-ACME",
        customer_name="Acme Corp",
        currency="USD",
        amount=amount,
    )


def buttons(message: Any) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_event_to_card_to_approval_to_posted_invoice(stack: Stack, database_url: str) -> None:
    """A signed event yields a card; an approver's click posts the invoice once; audit verifies."""
    seed_invoice(stack)
    answer = stack.send_event(discount_event())
    assert answer.status_code == 202, answer.text
    assert answer.json()["exception"] == "BX-000001"
    card = stack.card()
    text = str(card.blocks)
    for shown in (
        "BX-000001",
        "Acme &lt;Corp&gt; &amp; Sons",
        "USD 48,250.00",
        "INV-2001",
        "discount_pct: 25",
        "<@U0REQUEST1>",
        "Multi-year renewal",
        "catch-all",
    ):
        assert shown in text, shown
    assert buttons(card) == [
        ActionId.APPROVE,
        ActionId.REJECT,
        ActionId.REQUEST_CHANGES,
        ActionId.DETAILS,
    ]

    click = stack.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
    assert click.status_code == 200

    wait_for(lambda: stack.intacct.submissions(INVOICE) == 1, what="the invoice to be posted")
    assert stack.intacct.invoice(INVOICE)["state"] == "posted"
    updated = wait_for(
        lambda: (
            (m := stack.slack.message("C0BILLING", card.ts)) and "released" in str(m.blocks) and m
        ),
        what="the card to show the release",
    )
    assert buttons(updated) == []
    assert "<@U0FINMGR1> approved" in str(updated.blocks)
    submits = stack.intacct.requests("/submit")
    assert submits[0].headers.get("Idempotency-Key", "").startswith("countersign-BX-000001-")

    result = CliRunner().invoke(cli, ["audit", "verify"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert "audit chain intact" in result.output


def test_unauthorized_click_is_refused_ephemerally(stack: Stack) -> None:
    """A click by someone who is not an approver changes nothing and tells them why, privately."""
    seed_invoice(stack)
    stack.send_event(discount_event())
    card = stack.card()
    stack.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0OUTSIDER")
    notice = wait_for(lambda: stack.slack.ephemerals("U0OUTSIDER"), what="an ephemeral refusal")
    assert "not an approver" in notice[0].text
    assert buttons(stack.slack.message("C0BILLING", card.ts)) == [
        ActionId.APPROVE,
        ActionId.REJECT,
        ActionId.REQUEST_CHANGES,
        ActionId.DETAILS,
    ]
    assert stack.intacct.submissions(INVOICE) == 0


def test_forged_and_stale_webhooks_are_refused(stack: Stack) -> None:
    """A wrong signature or a timestamp 10 minutes old gets 401 and creates nothing."""
    assert stack.send_event(discount_event(), secret="forged").status_code == 401
    assert stack.send_event(discount_event(), skew=-600).status_code == 401
    assert stack.slack.messages("C0BILLING") == []


@pytest.mark.parametrize(("secret", "skew"), [("not-the-secret", 0), (SIGNING_SECRET, -600)])
def test_forged_or_stale_slack_click_is_refused(stack: Stack, secret: str, skew: int) -> None:
    """A click signed with the wrong secret, or 10 minutes old, gets 401 and decides nothing."""
    seed_invoice(stack)
    stack.send_event(discount_event())
    card = stack.card()
    with SlackDelivery(
        app_url=stack.delivery.app_url,
        signing_secret=secret,
        emulator_url=stack.slack.url,
        clock=lambda: time.time() + skew,
    ) as forger:
        response = forger.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
    assert response.status_code == 401
    assert stack.intacct.submissions(INVOICE) == 0


def test_duplicate_event_returns_the_same_exception(stack: Stack) -> None:
    """Sending the same (source, event_id) twice answers 200 with the first exception, one card."""
    seed_invoice(stack)
    first = stack.send_event(discount_event())
    second = stack.send_event(discount_event())
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["exception"] == second.json()["exception"]
    stack.card()
    assert len(stack.slack.messages("C0BILLING")) == 1


def test_double_click_and_simultaneous_approvers_post_once(stack: Stack) -> None:
    """The same click delivered twice plus a second approver at once post the invoice once."""
    seed_invoice(stack)
    stack.send_event(discount_event())
    card = stack.card()
    from concurrent.futures import ThreadPoolExecutor

    clickers = ["U0FINMGR1", "U0FINMGR1", "U0FINMGR2"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(
            pool.map(
                lambda user: stack.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, user),
                clickers,
            )
        )
    wait_for(lambda: stack.intacct.submissions(INVOICE) == 1, what="the invoice to be posted")
    wait_for(
        lambda: "released" in str(stack.slack.message("C0BILLING", card.ts).blocks),
        what="the card to show the release",
    )
    assert stack.intacct.submissions(INVOICE) == 1
    assert len(stack.intacct.requests("/submit")) == 1


def test_reject_with_reason_keeps_invoice_held(stack: Stack) -> None:
    """Reject opens a modal; the reason is recorded on the card and nothing is posted."""
    seed_invoice(stack)
    stack.send_event(discount_event())
    card = stack.card()
    stack.delivery.click("C0BILLING", card.ts, ActionId.REJECT, "U0FINMGR2")
    view = wait_for(lambda: stack.slack.opened_views(), what="the reject modal")[-1]
    assert view["callback_id"] == CallbackId.REJECT_MODAL
    answer = stack.delivery.submit_view(
        view["id"], "U0FINMGR2", {BlockId.REJECT_REASON: {"cs_reject_reason_input": "Too deep"}}
    )
    assert answer.status_code == 200
    rejected = wait_for(
        lambda: (
            "Too deep" in str(stack.slack.message("C0BILLING", card.ts).blocks)
            and stack.slack.message("C0BILLING", card.ts)
        ),
        what="the card to show the rejection",
    )
    assert buttons(rejected) == []
    assert stack.intacct.submissions(INVOICE) == 0


def test_changed_invoice_is_not_posted_but_asked_again(stack: Stack) -> None:
    """If the invoice total changed after the card went out, approval does not post it: by
    default (on_invoice_change: reapprove) the card asks for approval again."""
    seed_invoice(stack)
    stack.send_event(discount_event())
    card = stack.card()
    stack.snapshot_taken()
    stack.intacct.set_amount(INVOICE, "99999.00")
    stack.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
    wait_for(lambda: stack.slack.thread("C0BILLING", card.ts), what="a thread note")
    assert "needs approval again" in stack.slack.thread("C0BILLING", card.ts)[-1].text
    wait_for(
        lambda: "approve it again" in str(stack.slack.message("C0BILLING", card.ts).blocks),
        what="the card to ask again",
    )
    assert stack.intacct.submissions(INVOICE) == 0


def test_slack_rate_limit_delays_the_card_without_losing_it(stack: Stack) -> None:
    """A 429 from Slack on the first post delays the card; it still arrives, once."""
    seed_invoice(stack)
    stack.slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    stack.send_event(discount_event())
    stack.card()
    assert len(stack.slack.messages("C0BILLING")) == 1
    statuses = [c.status for c in stack.slack.calls("chat.postMessage")]
    assert statuses[0] == 429


def test_intacct_outage_is_retried_and_posts_once(stack: Stack) -> None:
    """A 503 then an ambiguous timeout from Intacct still end with the invoice posted once."""
    seed_invoice(stack)
    stack.intacct.fail_next("submit", "503", times=1, retry_after=0)
    stack.send_event(discount_event())
    card = stack.card()
    stack.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
    wait_for(lambda: stack.intacct.submissions(INVOICE) == 1, timeout=20, what="the release")
    wait_for(
        lambda: "released" in str(stack.slack.message("C0BILLING", card.ts).blocks),
        timeout=20,
        what="the card to show the release",
    )
    assert stack.intacct.submissions(INVOICE) == 1


def test_auto_approved_event_posts_without_a_card(stack: Stack) -> None:
    """A route with auto_approve releases the invoice with no card, only a notice in the channel."""
    seed_invoice(stack)
    answer = stack.send_event(discount_event(pct="3"))
    assert answer.json()["state"] == "approved"
    wait_for(lambda: stack.intacct.submissions(INVOICE) == 1, what="the auto release")
    (notice,) = stack.card() and stack.slack.messages("C0BILLING")
    assert "approved automatically by route small-discount-auto" in notice.text
    assert buttons(notice) == []


def test_invalid_event_is_kept_and_answered_422(stack: Stack) -> None:
    """An invalid event gets 422 with field errors and is stored as rejected, not dropped."""
    bad = discount_event()
    bad["invoice"] = {"key": INVOICE, "currency": "usd", "amount": 12}
    answer = stack.send_event(bad)
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"invoice.currency", "invoice.amount"} <= fields
    from sqlmodel import select

    from app.store.tables import RejectedEventRow

    with stack.runtime.db.transaction() as session:
        (kept,) = session.exec(select(RejectedEventRow)).all()
    assert kept.event_id == "evt-2001"


def test_batch_gives_each_event_its_own_result(stack: Stack) -> None:
    """A batch answers per event: created, repeat and invalid side by side."""
    seed_invoice(stack)
    good = discount_event("evt-b1")
    bad = discount_event("evt-b2", type="refund")
    answer = stack.send_event({"events": [good, good, bad]})
    assert answer.status_code == 200
    assert [r["http_status"] for r in answer.json()["results"]] == [202, 200, 422]


def test_health_and_readiness(stack: Stack) -> None:
    """/healthz answers 200; /readyz reports the database and the loaded policy."""
    assert stack.http.get(f"{stack.url}/healthz").status_code == 200
    ready = stack.http.get(f"{stack.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    assert len(ready.json()["policies"]) == 64


def test_too_many_events_or_too_many_bytes_is_413(stack: Stack) -> None:
    """A batch of 1,001 events, or a body over 10 MiB, is refused with 413 and creates nothing."""
    batch = {"events": [discount_event(f"evt-{n}") for n in range(1001)]}
    assert stack.send_event(batch).status_code == 413
    huge = discount_event(reason="x" * 100) | {"details": {"blob": "y" * (11 * 1024 * 1024)}}
    assert stack.send_event(huge).status_code == 413
    assert stack.http.get(f"{stack.url}/readyz").status_code == 200
    assert stack.slack.messages("C0BILLING") == []


def test_routing_decision_is_audited_with_why(stack: Stack) -> None:
    """The opening audit entry names the route, why it matched and the policy's content hash."""
    seed_invoice(stack)
    stack.send_event(discount_event(pct="45"))
    from sqlmodel import select

    from app.store.tables import AuditEntryRow, ExceptionRow

    with stack.runtime.db.transaction() as session:
        opened = session.exec(
            select(AuditEntryRow).where(AuditEntryRow.action == "exception.opened")
        ).one()
        row = session.exec(select(ExceptionRow)).one()
    assert opened.detail["route"] == row.route_name == "huge-discount"
    assert "discount_pct" in opened.detail["why"]
    assert (
        opened.detail["policy_hash"]
        == row.policy_hash
        == stack.runtime.policies.current().content_hash
    )
