"""A parked outbox job is visible and recoverable in a running `countersign serve`: a notice in
the admin channel, the metrics, and `countersign outbox list|retry|cancel`; a read-only
`outbox list` never creates a database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_emulator import SlackEmulator
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, WEBHOOK_SECRET, process_env, serve_process, wait_for

EVENT = {
    "event_id": "evt-outbox-1",
    "source": "salesforce",
    "type": "non_standard_discount",
    "occurred_at": "2026-11-23T10:00:00Z",
    "requested_by": {"slack_user_id": "U0REQUEST1"},
    "customer": {"id": "C-ACME", "name": "Acme Corp"},
    "invoice": {"key": "INV-KEY-O1", "number": "INV-O1", "currency": "USD", "amount": "700.00"},
    "details": {"discount_pct": "25"},
}


def _outbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, "outbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _metric(url: str, sample: str) -> float:
    """The value of one sample (name with its labels) at /metrics; 0 when absent."""
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_parked_card_is_announced_listed_counted_and_retried(tmp_path: Path) -> None:
    """Slack refuses the card for good: the job is parked, #admin is told, /metrics counts it,
    `outbox list` shows it; `outbox retry` posts the card; `cancel` of a done job exits 1."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    policy = folder / "routes.yml"
    policy.write_text(
        policy.read_text().replace("version: 1\n", "version: 1\nadmin_channel: C0ADMIN\n", 1)
    )
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=str(folder),
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OUTBOX_POLL_SECONDS="0.2",
    )
    try:
        with serve_process(env) as url:
            slack.fail("chat.postMessage", "channel_not_found")
            body = json.dumps(EVENT).encode()
            headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
            answer = httpx.post(f"{url}/billing-events", content=body, headers=headers)
            assert answer.status_code == 202, answer.text

            notice = wait_for(lambda: slack.messages("C0ADMIN"), what="the admin notice")[0]
            assert "slack.post_card for BX-000001" in notice.text
            assert "channel_not_found" in notice.text
            assert "countersign outbox retry 1" in notice.text
            assert slack.messages("C0BILLING") == []
            assert _metric(url, 'countersign_outbox_parked_total{kind="slack.post_card"}') == 1
            wait_for(
                lambda: _metric(url, 'countersign_outbox_jobs{state="dead"}') == 1,
                what="the dead-jobs gauge",
            )

            listed = _outbox(env, "list")
            assert listed.returncode == 0, listed.stderr
            header, row = listed.stdout.strip().splitlines()
            assert header.split()[:5] == ["id", "kind", "state", "tries", "exception"]
            assert row.split()[:5] == ["1", "slack.post_card", "dead", "1", "BX-000001"]
            assert "needs a person: Slack cannot find channel C0BILLING" in row

            retried = _outbox(env, "retry", "1")
            assert retried.returncode == 0, retried.stderr
            assert retried.stdout.strip() == (
                "outbox job 1 (slack.post_card) was dead; pending again"
            )
            card = wait_for(lambda: slack.messages("C0BILLING"), what="the card after retry")
            assert "BX-000001" in str(card[0].blocks)
            wait_for(lambda: _outbox(env, "list").stdout.strip() == "no open outbox jobs")

            done = _outbox(env, "cancel", "1")
            assert done.returncode == 1
            assert done.stderr.strip() == (
                "countersign: outbox job 1 (slack.post_card) is already done"
            )
            missing = _outbox(env, "retry", "999")
            assert missing.returncode == 1
            assert missing.stderr.strip() == "countersign: there is no outbox job 999"
    finally:
        slack.stop()
        intacct.stop()


def test_outbox_list_without_a_database_says_so_and_creates_none(tmp_path: Path) -> None:
    """`outbox list` on a missing SQLite file: exit 2, one line naming `db upgrade`, no file."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    answer = _outbox(env, "list")
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr
    (line,) = answer.stderr.strip().splitlines()
    assert "countersign db upgrade" in line
    assert not (tmp_path / "none.db").exists()


def test_outbox_cancel_retires_a_waiting_job(tmp_path: Path) -> None:
    """A card post waiting on a rate-limited Slack can be cancelled; it is then at rest."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=POLICIES,
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OUTBOX_POLL_SECONDS="0.2",
    )
    try:
        with serve_process(env) as url:
            slack.rate_limit("chat.postMessage", times=100, retry_after=30)
            body = json.dumps(EVENT).encode()
            headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
            assert httpx.post(f"{url}/billing-events", content=body, headers=headers).is_success
            wait_for(lambda: "ratelimited" in _outbox(env, "list").stdout, what="the job to wait")
            cancelled = _outbox(env, "cancel", "1")
            assert cancelled.returncode == 0, cancelled.stderr
            assert cancelled.stdout.strip() == (
                "outbox job 1 (slack.post_card) cancelled (it was pending)"
            )
            assert _outbox(env, "list").stdout.strip() == "no open outbox jobs"
            listed = _outbox(env, "list", "--state", "cancelled").stdout
            assert "slack.post_card" in listed
    finally:
        slack.stop()
        intacct.stop()


ESCALATES_AT_ONCE = """\
version: 1
groups:
  finance_managers: [U0FINMGR1]
  cfo: [U0CFO1]
defaults:
  channel: C0BILLING
  calendar: none
routes:
  - name: catch-all
    steps:
      - approvers: [group:finance_managers]
        escalate_after: 1s
        escalate_to: [group:cfo]
"""


def test_card_refresh_waits_for_a_late_card_and_follows_it(tmp_path: Path) -> None:
    """The card post is rate-limited past an escalation: the escalation's card refresh and
    thread note wait for the post, then follow it; the outbox comes to rest."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "routes.yml").write_text(ESCALATES_AT_ONCE)
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=str(tmp_path / "policies"),
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OUTBOX_POLL_SECONDS="0.2",
        TIMER_SWEEP_SECONDS="0.2",
    )
    try:
        with serve_process(env) as url:
            slack.rate_limit("chat.postMessage", times=1, retry_after=4)
            body = json.dumps(EVENT).encode()
            headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
            assert httpx.post(f"{url}/billing-events", content=body, headers=headers).is_success
            wait_for(
                lambda: "waiting for the card" in _outbox(env, "list").stdout,
                what="the refresh to wait for the card",
            )
            card = wait_for(lambda: slack.messages("C0BILLING"), timeout=15, what="the card")[0]
            wait_for(
                lambda: any(
                    "Escalation level 1" in m.text for m in slack.thread("C0BILLING", card.ts)
                ),
                what="the escalation note in the card's thread",
            )
            wait_for(
                lambda: "U0CFO1" in str(slack.message("C0BILLING", card.ts).blocks),
                what="the refreshed card",
            )
    finally:
        slack.stop()
        intacct.stop()
