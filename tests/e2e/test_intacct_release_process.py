"""`countersign serve` as a real process: a submit whose answer Intacct never sends still ends
released, confirmed by re-reading the invoice, with exactly one post."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from sqlmodel import select

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import SIGNING_SECRET, WEBHOOK_SECRET
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import assert_at_rest, process_env, serve_process, wait_for
from tests.e2e.test_walking_skeleton import INVOICE, discount_event


def _released(db_file: Path) -> tuple[str, list[dict[str, object]]] | None:
    database = Database(f"sqlite:///{db_file}")
    try:
        with database.transaction() as session:
            state = session.exec(select(ExceptionRow.state)).first()
            rows = session.exec(
                select(AuditEntryRow).where(AuditEntryRow.action == "invoice.released")
            ).all()
            details = [row.detail for row in rows]
    finally:
        database.dispose()
    return (state, details) if state == "released" else None


def test_lost_submit_answer_is_released_once_through_serve(tmp_path: Path) -> None:
    """Intacct posts the invoice but drops the answer: serve re-reads, releases, posts once."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    try:
        intacct.add_invoice(
            INVOICE, number="INV-2001", customer_id="C-ACME", customer_name="Acme Corp",
            currency="USD", amount="48250.00",
        )  # fmt: skip
        intacct.fail_next("submit", "drop_after_commit")
        env = process_env(tmp_path, slack, intacct, COUNTERSIGN_POLICIES=POLICIES)
        env["OUTBOX_POLL_SECONDS"] = "0.2"
        with serve_process(env) as url, httpx.Client(timeout=10) as http:
            body = json.dumps(discount_event()).encode()
            headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
            answer = http.post(f"{url}/billing-events", content=body, headers=headers)
            assert answer.status_code == 202, answer.text
            card = wait_for(lambda: slack.messages("C0BILLING"), timeout=20, what="the card")[-1]
            with SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
            ) as delivery:
                clicked = delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
            assert clicked.status_code == 200
            db_file = tmp_path / "countersign.db"
            state, released = wait_for(lambda: _released(db_file), timeout=30, what="release")
            wait_for(
                lambda: "released" in str(slack.message("C0BILLING", card.ts).blocks),
                timeout=20,
                what="the card to show the release",
            )
            assert_at_rest(f"sqlite:///{db_file}")
        assert state == "released"
        assert [d["confirmed_after_lost_response"] for d in released] == [True]
        assert intacct.submissions(INVOICE) == 1
        assert len(intacct.requests("/invoice/submit")) == 1
        assert intacct.invoice(INVOICE)["state"] == "posted"
    finally:
        slack.stop()
        intacct.stop()
