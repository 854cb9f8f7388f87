"""Slack as it really is, against a running `countersign serve`: Events API retries with the
same event_id, Enterprise Grid (W…) members, public and private channel membership, and new
block_ids on every iteration of a card."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import (
    COUNTERSIGN,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    TcpProxy,
    process_env,
    serve_process,
    wait_for,
)

GRID_USER = "W0GRIDCTRL"


def _event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-platform-{n}",
        "source": "salesforce",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00Z",
        "requested_by": {"slack_user_id": "U0REQUEST1"},
        "customer": {"id": f"C-{n}", "name": f"Customer {n}"},
        "invoice": {
            "key": f"INV-KEY-S{n}",
            "number": f"INV-S{n}",
            "currency": "USD",
            "amount": "700.00",
        },
        "details": {"discount_pct": "25"},
    } | extra


def _send(url: str, event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
    answer = httpx.post(f"{url}/billing-events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text


def _cards(slack: SlackEmulator, channel: str) -> list[Any]:
    return [m for m in slack.messages(channel) if m.blocks and not m.thread_ts]


def _policies(tmp_path: Path, approvers: str = "group:finance_managers") -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    policy = folder / "routes.yml"
    text = policy.read_text().replace("version: 1\n", "version: 1\nadmin_channel: C0ADMIN\n", 1)
    text = text.replace(
        "steps: [{approvers: [group:finance_managers], quorum: 1}]",
        f"steps: [{{approvers: [{approvers}], quorum: 1}}]",
    )
    policy.write_text(text)
    return folder


def _env(
    tmp_path: Path, slack: SlackEmulator, intacct: IntacctEmulator, policies: Path
) -> dict[str, str]:
    return process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=str(policies),
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


def _block_ids(blocks: Any) -> set[str]:
    listed = json.loads(blocks) if isinstance(blocks, str) else blocks
    return {block["block_id"] for block in listed if "block_id" in block}


def test_a_slow_answer_is_retried_with_the_same_event_id_and_handled_once(
    tmp_path: Path,
) -> None:
    """An app_home_opened answered after Slack's 3 s is retried (X-Slack-Retry-Num 1, same
    event_id), answered 2xx, and the Home is published once."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = _env(tmp_path, slack, intacct, _policies(tmp_path))
    try:
        with serve_process(env) as url:
            proxy = TcpProxy(("127.0.0.1", int(env["PORT"]))).open()
            try:
                proxy.hold_answers(1, seconds=3.5)
                with SlackDelivery(
                    app_url=f"http://127.0.0.1:{proxy.port}/slack/events",
                    signing_secret=SIGNING_SECRET,
                    emulator_url=slack.url,
                ) as delivery:
                    attempts = delivery.deliver_event(
                        delivery.app_home_event("U0FINMGR1"), retry_delays=(0.0, 0.2, 0.2)
                    )
            finally:
                proxy.close()
            assert [(a.retry_num, a.failure) for a in attempts] == [
                (None, "http_timeout"),
                (1, None),
            ]
            assert attempts[1].status == 200
            wait_for(lambda: slack.home_view("U0FINMGR1"), what="the Home view")
            time.sleep(0.5)
            assert len(slack.calls("views.publish")) == 1
            assert url
    finally:
        slack.stop()
        intacct.stop()


def test_a_grid_member_listed_by_email_approves_and_each_card_iteration_has_new_block_ids(
    tmp_path: Path,
) -> None:
    """An approver whose Slack id starts with W (Enterprise Grid), listed by e-mail, approves;
    the invoice posts once, and the card's update carries block_ids its post did not."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    intacct.add_invoice(
        "INV-KEY-S1",
        number="INV-S1",
        customer_id="C-1",
        customer_name="C",
        currency="USD",
        amount="700.00",
    )
    folder = _policies(tmp_path, approvers="grid.controller@example.com")
    env = _env(tmp_path, slack, intacct, folder)
    try:
        with serve_process(env) as url:
            _send(url, _event(1))
            card = wait_for(lambda: _cards(slack, "C0BILLING"), what="the card")[0]
            assert "grid.controller@example.com" in json.dumps(card.blocks)
            with SlackDelivery(
                app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
            ) as delivery:
                assert delivery.click("C0BILLING", card.ts, ActionId.APPROVE, GRID_USER).is_success
            wait_for(lambda: intacct.submissions("INV-KEY-S1") == 1, what="the invoice posted")
            updated = wait_for(
                lambda: (m := slack.message("C0BILLING", card.ts)) and "released" in str(m.blocks),
                what="the card to show the release",
            )
            assert updated
            assert f"<@{GRID_USER}> approved" in str(slack.message("C0BILLING", card.ts).blocks)
            iterations = [
                _block_ids(call.args["blocks"])
                for call in slack.calls()
                if call.method in ("chat.postMessage", "chat.update")
                and call.status == 200
                and "INV-S1" in json.dumps(call.args.get("blocks", ""))
            ]
            assert len(iterations) >= 2, iterations
            assert all(iterations), iterations
            for earlier, later in itertools.pairwise(iterations):
                assert earlier.isdisjoint(later), (earlier, later)
    finally:
        slack.stop()
        intacct.stop()


def test_public_channels_take_chat_write_public_and_private_ones_need_the_bot(
    tmp_path: Path,
) -> None:
    """The bot out of a public channel still posts there (chat:write.public); out of a private
    one the card is parked (channel_not_found), #admin is told, and nothing is posted there."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = _env(tmp_path, slack, intacct, _policies(tmp_path))
    try:
        with serve_process(env) as url:
            slack.remove_bot("C0BILLING")
            _send(url, _event(2))
            wait_for(lambda: _cards(slack, "C0BILLING"), what="the card in the public channel")
            slack.make_private("C0ARDISPUTES")
            slack.remove_bot("C0ARDISPUTES")
            _send(url, _event(3, type="invoice_dispute", details={}))
            notice = wait_for(lambda: slack.messages("C0ADMIN"), what="the admin notice")[0]
            assert "C0ARDISPUTES" in notice.text
            assert "channel_not_found" in json.dumps(httpx.get(f"{url}/readyz", timeout=5).json())
            assert _cards(slack, "C0ARDISPUTES") == []
            job = re.search(r"countersign outbox retry (\d+)", notice.text)
            assert job, notice.text
            slack.invite_bot("C0ARDISPUTES")
            retried = subprocess.run(
                [COUNTERSIGN, "outbox", "retry", job.group(1)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert retried.returncode == 0, retried.stderr
            wait_for(lambda: _cards(slack, "C0ARDISPUTES"), what="the card once the bot is in")
    finally:
        slack.stop()
        intacct.stop()
