"""`countersign evidence` as an auditor runs it, against `countersign serve` that took the event
over HTTP, showed the card in Slack, took the approval click and released the invoice."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import httpx

from app import webhook
from app.evidence.check import SUMS, sums_text
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import SIGNING_SECRET, WEBHOOK_SECRET
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId
from app.store.tables import ExceptionRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import (
    COUNTERSIGN,
    assert_at_rest,
    process_env,
    rows,
    serve_process,
    wait_for,
)
from tests.e2e.test_walking_skeleton import INVOICE, discount_event

ANCHOR_KEY = "test-anchor-key-not-a-real-secret"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, *args], env=env, capture_output=True, text=True, check=False, timeout=180
    )


def test_packet_of_an_approved_and_released_exception(tmp_path: Path) -> None:
    """After approve → posted, the packet holds the event's bytes and sha256, the card the
    approver saw, the decision with Slack id, e-mail and name, the invoice as approved and as
    released, every audit entry and the chain to a signed checkpoint; verify accepts it and
    catches an edited decision; an unknown id is one line, exit 1."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    anchors = tmp_path / "anchors.jsonl"
    try:
        intacct.add_invoice(
            INVOICE, number="INV-2001", customer_id="C-ACME", customer_name="Acme Corp",
            currency="USD", amount="48250.00",
        )  # fmt: skip
        env = process_env(
            tmp_path,
            slack,
            intacct,
            COUNTERSIGN_POLICIES=POLICIES,
            OUTBOX_POLL_SECONDS="0.2",
            AUDIT_ANCHOR_FILE=str(anchors),
            AUDIT_ANCHOR_KEY=ANCHOR_KEY,
        )
        url_db = env["DATABASE_URL"]
        body = json.dumps(discount_event()).encode()
        with serve_process(env) as url, httpx.Client(timeout=10) as http:
            headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
            answer = http.post(f"{url}/billing-events", content=body, headers=headers)
            assert answer.status_code == 202, answer.text
            card = wait_for(lambda: slack.messages("C0BILLING"), timeout=20, what="the card")[-1]
            with SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
            ) as delivery:
                clicked = delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1")
            assert clicked.status_code == 200
            wait_for(
                lambda: [r for r in rows(url_db, ExceptionRow) if r.state == "released"],
                timeout=30,
                what="the release",
            )
            assert_at_rest(url_db)
            anchored = _run(env, "audit", "anchor")
            assert anchored.returncode == 0, anchored.stderr

            out = tmp_path / "packet"
            written = _run(env, "evidence", "BX-000001", "--out", str(out))
            assert written.returncode == 0, written.stderr
            assert written.stdout.startswith(f"evidence packet for BX-000001 written to {out}")
            packet = json.loads((out / "packet.json").read_text())
            html = (out / "packet.html").read_text()
            assert (out / "packet.pdf").read_bytes().startswith(b"%PDF")

            missing = _run(env, "evidence", "BX-000999", "--out", str(tmp_path / "none"))
            assert_at_rest(url_db)
    finally:
        slack.stop()
        intacct.stop()

    assert missing.returncode == 1
    assert missing.stderr == "countersign: BX-000999: no such exception\n"
    assert not (tmp_path / "none").exists()

    assert packet["event"]["payload"] == body.decode()
    assert packet["event"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert packet["route"]["policy_note"] == "policy text not stored (only its hash is known)"
    (decision,) = packet["decisions"]
    assert decision["slack_id"] == "U0FINMGR1"
    assert decision["email"] == "fin.one@example.com"
    assert decision["name"] == "Finley One"
    assert decision["outcome"] == "approve"
    assert decision["on_behalf_of"] is None
    assert decision["decided_at"].endswith("+00:00")
    shown = packet["cards"][0]
    assert shown["action"] == "card.posted"
    assert shown["ts"] == card.ts
    assert "48,250.00" in shown["card"]["amount"]
    assert shown["card"]["open"] is True
    assert (
        packet["invoice"]["as_approved"]["fingerprint"]
        == (packet["invoice"]["as_approved"]["fingerprint_recomputed"])
    )
    released = packet["invoice"]["as_released"]
    assert released["outcome"] == "invoice.released"
    assert released["intacct_state"] == "posted"
    actions = [entry["action"] for entry in packet["audit"]["entries"]]
    assert actions[0] == "exception.opened"
    assert {"card.posted", "decision.recorded", "invoice.released"} <= set(actions)
    proof = packet["audit"]["proof"]
    assert proof["ends_at"]["kind"] == "checkpoint"
    assert proof["ends_at"]["seq"] >= packet["audit"]["entries"][-1]["seq"]
    assert "Evidence packet BX-000001" in html
    assert "fin.one@example.com" in html
    assert "Acme &lt;Corp&gt; &amp; Sons" in html  # escaped, never markup
    assert "<script" not in html
    assert "<link" not in html  # self-contained: no external stylesheet or asset

    checked = _run(env, "evidence", "verify", str(out))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("evidence packet intact: BX-000001, ")
    assert "to the checkpoint (signature checked)" in checked.stdout

    edited = json.loads((out / "packet.json").read_text())
    edited["decisions"][0]["email"] = "someone.else@example.com"
    (out / "packet.json").write_text(json.dumps(edited))
    broken = _run(env, "evidence", "verify", str(out))
    assert broken.returncode == 1
    assert (
        broken.stderr
        == f"countersign: evidence packet BROKEN: packet.json: its sha256 differs from {SUMS}\n"
    )
    (out / SUMS).write_text(sums_text(out, ["packet.json", "packet.html", "packet.pdf"]))
    resealed = _run(env, "evidence", "verify", str(out))
    assert resealed.returncode == 1
    assert "decision 1: its email is not what the audit recorded" in resealed.stderr
