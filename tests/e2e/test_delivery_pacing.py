"""Delivery at Slack's pace through a running `countersign serve`: a 429's Retry-After holds
that channel's posts for exactly its duration while other channels go on (and the cards that
waited it out go one slot apart after it), and an error a person must fix (the bot not in the
channel) parks the job, tells #admin, shows in /readyz, and `countersign outbox retry`
delivers it once fixed."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_emulator import SlackEmulator
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, WEBHOOK_SECRET, process_env, serve_process, wait_for


def _event(n: int, *, dispute: bool) -> dict[str, Any]:
    kind = "invoice_dispute" if dispute else "non_standard_discount"
    return {
        "event_id": f"evt-pace-{n}",
        "source": "salesforce",
        "type": kind,
        "occurred_at": "2026-11-23T10:00:00Z",
        "requested_by": {"slack_user_id": "U0REQUEST1"},
        "customer": {"id": f"C-{n}", "name": f"Customer {n}"},
        "invoice": {
            "key": f"INV-KEY-P{n}",
            "number": f"INV-P{n}",
            "currency": "USD",
            "amount": "700.00",
        },
        "details": {} if dispute else {"discount_pct": "25"},
    }


def _send(url: str, event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
    answer = httpx.post(f"{url}/billing-events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text


def _cards(slack: SlackEmulator, channel: str) -> list[Any]:
    return [m for m in slack.messages(channel) if m.blocks and not m.thread_ts]


def _policies(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    policy = folder / "routes.yml"
    policy.write_text(
        policy.read_text().replace("version: 1\n", "version: 1\nadmin_channel: C0ADMIN\n", 1)
    )
    return folder


def test_retry_after_holds_that_channel_exactly_while_others_flow(tmp_path: Path) -> None:
    """429 + Retry-After 1 s on #billing: no post there until it passes, resumed within 0.6 s
    after (the poll is 5 s), #ar-disputes posts meanwhile, every card posted once, at rest."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=str(_policies(tmp_path)),
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OUTBOX_POLL_SECONDS="5",
        SLACK_RATE_SCALE="1",
    )
    count = 8
    try:
        with serve_process(env) as url:
            slack.throttle("chat.postMessage", every=2, retry_after=1, channel="C0BILLING")
            for n in range(count):
                _send(url, _event(n, dispute=False))
                _send(url, _event(100 + n, dispute=True))
            wait_for(
                lambda: (
                    len(_cards(slack, "C0BILLING")) == count
                    and len(_cards(slack, "C0ARDISPUTES")) == count
                ),
                timeout=30,
                what="every card",
            )
            assert slack.calls_under_retry_after() == []
            posts = slack.calls("chat.postMessage")
            billing = [c for c in posts if c.args.get("channel") == "C0BILLING"]
            refused = [c for c in billing if c.status == 429]
            assert refused, "the emulator never answered 429"
            other_during_pause = 0
            for limited in refused:
                after = [c for c in billing if c.at > limited.at]
                if not after:
                    continue
                gap = after[0].at - limited.at
                assert gap >= timedelta(seconds=0.95), f"called {gap} after a 429"
                assert gap < timedelta(seconds=1.6), f"idle {gap} after Retry-After 1 s"
                window_end = limited.at + timedelta(seconds=1)
                other_during_pause += sum(
                    1
                    for c in posts
                    if c.args.get("channel") == "C0ARDISPUTES" and limited.at < c.at < window_end
                )
            assert other_during_pause > 0, "no other channel was served during a pause"
            for channel in ("C0BILLING", "C0ARDISPUTES"):
                texts = [card.text for card in _cards(slack, channel)]  # each names its BX-
                assert len(set(texts)) == len(texts) == count, texts
    finally:
        slack.stop()
        intacct.stop()


def test_cards_waiting_out_a_retry_after_go_one_slot_apart_after_it(tmp_path: Path) -> None:
    """Cards queued in a channel during a 429's Retry-After go one a second after it, not in a
    burst at its end (into the next 429): after the first 429 no two posts there are within
    half a second, none goes under Retry-After, every card goes once."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=str(_policies(tmp_path)),
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SLACK_RATE_SCALE="1",
    )
    count = 8
    try:
        with serve_process(env) as url:
            slack.throttle("chat.postMessage", every=3, retry_after=1, channel="C0BILLING")
            for n in range(count):
                _send(url, _event(n, dispute=False))
            wait_for(
                lambda: len(_cards(slack, "C0BILLING")) == count, timeout=40, what="every card"
            )
            assert slack.calls_under_retry_after() == []
            billing = [
                c for c in slack.calls("chat.postMessage") if c.args.get("channel") == "C0BILLING"
            ]
            first_429 = next(i for i, c in enumerate(billing) if c.status == 429)
            after = billing[first_429 + 1 :]
            gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(after)]
            assert len(after) >= 4, billing
            assert min(gaps) >= 0.5, f"a burst after the pause: gaps {gaps}"
            texts = [card.text for card in _cards(slack, "C0BILLING")]
            assert len(set(texts)) == len(texts) == count, texts
    finally:
        slack.stop()
        intacct.stop()


def _outbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, "outbox", *args], env=env, capture_output=True, text=True, timeout=60
    )


def _metric(url: str, sample: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_not_in_channel_parks_the_card_tells_admin_and_retry_delivers(tmp_path: Path) -> None:
    """The bot is not in #billing: the card is parked, #admin is told to invite @Countersign,
    /readyz (still 200) names it, the metric counts it; after the invite `outbox retry` posts
    the card once and /readyz is clear again."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=str(_policies(tmp_path)),
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OUTBOX_POLL_SECONDS="0.2",
    )
    try:
        with serve_process(env) as url:
            slack.revoke_scope("chat:write.public")
            slack.remove_bot("C0BILLING")
            _send(url, _event(1, dispute=False))
            notice = wait_for(lambda: slack.messages("C0ADMIN"), what="the admin notice")[0]
            assert "invite @Countersign to channel C0BILLING" in notice.text
            assert "countersign outbox retry 1" in notice.text
            ready = httpx.get(f"{url}/readyz", timeout=5)
            assert ready.status_code == 200
            assert "not_in_channel" in ready.json()["slack_delivery"]
            assert "countersign outbox retry 1" in ready.json()["slack_delivery"]
            assert _metric(url, 'countersign_needs_attention_total{error="not_in_channel"}') == 1
            assert _cards(slack, "C0BILLING") == []

            slack.invite_bot("C0BILLING")
            retried = _outbox(env, "retry", "1")
            assert retried.returncode == 0, retried.stderr
            wait_for(lambda: _cards(slack, "C0BILLING"), what="the card after the invite")
            wait_for(
                lambda: httpx.get(f"{url}/readyz", timeout=5).json()["slack_delivery"] == "ok",
                what="/readyz clear",
            )
            assert len(_cards(slack, "C0BILLING")) == 1
    finally:
        slack.stop()
        intacct.stop()
