"""Reconciliation with Intacct through the running process: `countersign serve` takes the events
over HTTP and the clicks from Slack; `countersign reconcile` (a process) and the weekly job
compare what was approved with what the Intacct emulator posted."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from app import webhook
from app.flows.reconcile import WEEKDAYS
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import SIGNING_SECRET, WEBHOOK_SECRET
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId, BlockId
from app.store.tables import AuditEntryRow, ExceptionRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import (
    COUNTERSIGN,
    assert_at_rest,
    process_env,
    rows,
    serve_process,
    wait_for,
)
from tests.e2e.test_walking_skeleton import discount_event


def _event(n: int) -> dict[str, Any]:
    invoice = {"key": f"INV-R{n}", "number": f"R{n}", "currency": "USD", "amount": "900.00"}
    return discount_event(f"evt-rec-{n}", invoice=invoice)


def _reconcile(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, "reconcile", *args], env=env, capture_output=True, text=True, check=False
    )


def _card_of(slack: SlackEmulator, label: str) -> Any:
    def find() -> Any:
        return next((m for m in slack.messages("C0BILLING") if label in m.text), None)

    return wait_for(find, timeout=20, what=f"the card of {label}")


def _policies(folder: Path) -> str:
    """The e2e policy with an admin channel, where the weekly summary goes."""
    text = (Path(POLICIES) / "routes.yml").read_text()
    (folder / "policies").mkdir()
    (folder / "policies" / "routes.yml").write_text(
        text.replace("version: 1\n", "version: 1\nadmin_channel: C0ADMIN\n", 1)
    )
    return str(folder / "policies")


def test_reconcile_clean_then_finds_an_invoice_posted_outside(tmp_path: Path) -> None:
    """Approved-and-posted, rejected and open exceptions reconcile clean (exit 0); once an
    invoice with an open exception is posted in Intacct by someone else, `reconcile` names the
    exception, the invoice and what differs (exit 1, text and JSON), and the weekly job posts
    that finding to the admin channel once, audited."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    today = datetime.now(UTC).date().isoformat()
    try:
        for n in (1, 2, 3):
            intacct.add_invoice(
                f"INV-R{n}", number=f"R{n}", customer_id="C-ACME", customer_name="Acme Corp",
                currency="USD", amount="900.00",
            )  # fmt: skip
        intacct.add_invoice(
            "INV-OTHER",
            number="O1",
            customer_id="C-X",
            customer_name="X",
            currency="USD",
            amount="5.00",
            state="posted",
        )  # fmt: skip  (posted, but no exception was ever raised on it: not a finding)
        env = process_env(
            tmp_path,
            slack,
            intacct,
            COUNTERSIGN_POLICIES=_policies(tmp_path),
            OUTBOX_POLL_SECONDS="0.2",
            RECONCILE_WEEKDAY="off",
        )
        url_db = env["DATABASE_URL"]
        with serve_process(env) as url, httpx.Client(timeout=10) as http:
            for n in (1, 2, 3):
                body = json.dumps(_event(n)).encode()
                headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
                answer = http.post(f"{url}/billing-events", content=body, headers=headers)
                assert answer.status_code == 202, answer.text
            with SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
            ) as delivery:
                approve = _card_of(slack, "BX-000001")
                delivery.click("C0BILLING", approve.ts, ActionId.APPROVE, "U0FINMGR1")
                reject = _card_of(slack, "BX-000002")
                delivery.click("C0BILLING", reject.ts, ActionId.REJECT, "U0FINMGR2")
                view = wait_for(lambda: slack.opened_views(), what="the reject modal")[-1]
                values = {BlockId.REJECT_REASON: {"cs_reject_reason_input": "Too deep"}}
                assert delivery.submit_view(view["id"], "U0FINMGR2", values).status_code == 200
            wait_for(
                lambda: (
                    sorted(r.state for r in rows(url_db, ExceptionRow))
                    == ["open", "rejected", "released"]
                ),
                timeout=30,
                what="released, rejected and open",
            )
            assert_at_rest(url_db)

            clean = _reconcile(env, "--since", today)
            assert clean.returncode == 0, clean.stderr
            assert clean.stdout.strip() == (
                f"Reconciliation with Intacct since {today} 00:00 UTC: 3 exceptions checked,"
                " 2 invoices posted in Intacct, no findings."
            )

            intacct.post_outside("INV-R3")  # someone posts the held draft in Intacct itself
            found = _reconcile(env, "--since", today)
            assert found.returncode == 1, found.stderr
            first, summary = found.stdout.strip().splitlines()
            assert first.startswith(
                "BX-000003 invoice INV-R3: posted in Intacct while the exception is still open:"
                " posted outside Countersign at "
            )
            assert summary.endswith("3 invoices posted in Intacct, 1 findings:")
            as_json = json.loads(_reconcile(env, "--since", today, "--format", "json").stdout)
            assert [(f["exception"], f["invoice_key"], f["kind"]) for f in as_json["findings"]] == [
                ("BX-000003", "INV-R3", "posted_outside")
            ]
            assert intacct.requests("/services/core/query")  # listed through the query service

        weekly = env | {
            "RECONCILE_WEEKDAY": WEEKDAYS[datetime.now(UTC).weekday()],
            "RECONCILE_HOUR": "0",
            "RECONCILE_CHECK_SECONDS": "0.5",
        }
        with serve_process(weekly):
            notices = wait_for(
                lambda: [m for m in slack.messages("C0ADMIN") if "Reconciliation" in m.text],
                timeout=30,
                what="the weekly summary in the admin channel",
            )
            time.sleep(2)  # several more checks run: the slot is reported once
            assert_at_rest(url_db)
        again = [m for m in slack.messages("C0ADMIN") if "Reconciliation" in m.text]
    finally:
        slack.stop()
        intacct.stop()
    assert len(again) == 1
    assert "1 findings:" in notices[0].text
    assert "BX-000003 invoice INV-R3: posted in Intacct while the exception is still open" in (
        notices[0].text
    )
    (reported,) = [e for e in rows(url_db, AuditEntryRow) if e.action == "reconcile.reported"]
    assert reported.detail["findings"][0]["kind"] == "posted_outside"
    assert reported.detail["channel"] == "C0ADMIN"
