"""/metrics of `countersign serve`, scraped over HTTP after an event was approved and released
and another left open: the control's counters and the database-derived gauges."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import SIGNING_SECRET, WEBHOOK_SECRET
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId
from app.store.tables import ExceptionRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import assert_at_rest, process_env, rows, serve_process, wait_for
from tests.e2e.test_walking_skeleton import discount_event


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _event(n: int) -> dict[str, Any]:
    invoice = {"key": f"INV-M{n}", "number": f"M{n}", "currency": "USD", "amount": "900.00"}
    return discount_event(f"evt-metrics-{n}", invoice=invoice)


def test_metrics_show_decisions_releases_and_what_is_open(tmp_path: Path) -> None:
    """After one approval (released) and one exception left open, /metrics shows 1 decision
    (approve, catch-all), 1 time-to-decision observation, 1 release, 1 open exception on
    catch-all with its age, and no outbox depth left."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    try:
        for n in (1, 2):
            intacct.add_invoice(
                f"INV-M{n}", number=f"M{n}", customer_id="C-ACME", customer_name="Acme Corp",
                currency="USD", amount="900.00",
            )  # fmt: skip
        env = process_env(
            tmp_path, slack, intacct, COUNTERSIGN_POLICIES=POLICIES, OUTBOX_POLL_SECONDS="0.2"
        )
        url_db = env["DATABASE_URL"]
        with serve_process(env) as url, httpx.Client(timeout=10) as http:
            for n in (1, 2):
                body = json.dumps(_event(n)).encode()
                headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
                assert http.post(f"{url}/billing-events", content=body, headers=headers).is_success
            card = wait_for(
                lambda: next((m for m in slack.messages("C0BILLING") if "BX-000001" in m.text), 0),
                timeout=20,
                what="the card of BX-000001",
            )
            with SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
            ) as delivery:
                delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
            wait_for(
                lambda: [r for r in rows(url_db, ExceptionRow) if r.state == "released"],
                timeout=30,
                what="the release",
            )
            assert_at_rest(url_db)
            scraped = http.get(f"{url}/metrics")
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
    finally:
        slack.stop()
        intacct.stop()
    if os.environ.get("COUNTERSIGN_METRICS_SAMPLE"):  # how the README's sample was taken
        Path(os.environ["COUNTERSIGN_METRICS_SAMPLE"]).write_text(scraped.text)
    found = _samples(scraped.text)
    route = (("outcome", "approve"), ("route", "catch-all"))
    assert found[("countersign_decisions_total", route)] == 1
    assert found[("countersign_time_to_decision_seconds_count", route)] == 1
    assert found[("countersign_releases_total", (("outcome", "released"),))] == 1
    assert found[("countersign_open_exceptions", (("route", "catch-all"),))] == 1
    assert found[("countersign_oldest_open_exception_seconds", (("route", "catch-all"),))] > 0
    assert not [key for key in found if key[0] == "countersign_outbox_depth"]  # all done
