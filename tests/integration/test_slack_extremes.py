"""Cards, DMs and modals at the extremes, delivered through SlackChat to the Slack emulator
(which checks them with its own Block Kit rules, not the app's)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk import WebClient
from structlog.testing import capture_logs

from app.domain.approval import CardRef
from app.flows.ports import DecisionLine, ExceptionCard
from app.sandbox.slack_emulator import SlackEmulator
from app.slack import blockkit
from app.slack.chat import SlackChat
from app.slack.render import BlockRenderer, people

HOSTILE = "<!channel> Smith & <Sons>"
UNICODE = "Zürich 株式会社 🧾 Ωmega"


def extreme_card(**changes: Any) -> ExceptionCard:
    base: dict[str, Any] = {
        "exception_id": 42,
        "label": "BX-000042",
        "type_label": "Non-standard discount",
        "customer": f"{HOSTILE} {UNICODE} " + "Ltd " * 200,
        "invoice": "INV-<42>&" + "9" * 500,
        "amount": "USD 1,234,567.89",
        "figures": tuple((f"figure_{n} <&>", "€ " + "1" * 2500) for n in range(30)),
        "reason": ("Because <&> " + UNICODE + " ") * 100,
        "requester": "sales.rep@example.com",
        "route": "big-discount " * 40,
        "state": "Waiting for approval",
        "step_text": "Step 1 of 2: 1 of 400 approvers must approve",
        "approvers": tuple(f"U0APPROVER{n:03d}" for n in range(200))
        + tuple(f"approver.{n}@example.com" for n in range(200)),
        "decisions": tuple(
            DecisionLine(f"U0DEC{n:04d}", "approve", "2026-12-01 10:00 UTC", "ok <&> " * 300)
            for n in range(5)
        ),
        "note": "Intacct said: <!here> BL01001973 & more " * 50,
    }
    base.update(changes)
    return ExceptionCard(**base)


@pytest.fixture
def chat(slack_client: WebClient) -> SlackChat:
    return SlackChat(slack_client, BlockRenderer())


def _blocks_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_an_extreme_card_is_accepted_by_slack(
    chat: SlackChat, slack_emulator: SlackEmulator
) -> None:
    """400 approvers, 30 long figures, 3,000-character reasons, unicode and <&> post as a card
    Slack accepts: approvers collapse, figures end with "more in Details", warnings logged."""
    with capture_logs() as logs:
        ts = chat.post_card("C0BILLING", extreme_card())
    posted = slack_emulator.message("C0BILLING", ts)
    text = _blocks_text(posted.blocks)
    context = next(b for b in posted.blocks if b["type"] == "context")
    assert len(context["elements"][0]["text"]) <= 3000
    assert "others" in context["elements"][0]["text"]
    assert "<@U0APPROVER000>" in context["elements"][0]["text"]
    assert "more in Details" in text
    assert UNICODE in text
    assert any(entry["event"] == "card.truncated" for entry in logs)
    _, rendered = BlockRenderer().card(extreme_card())
    assert blockkit.message_size(rendered) <= blockkit.MAX_MESSAGE_CHARS
    update = extreme_card(open=False, approvers=())
    chat.update_card("C0BILLING", ts, update)
    assert slack_emulator.message("C0BILLING", ts).blocks != posted.blocks


def test_an_extreme_reminder_dm_is_accepted(chat: SlackChat, slack_emulator: SlackEmulator) -> None:
    """A reminder DM of the extreme card, to a person named by e-mail, is delivered."""
    chat.dm_card("fin.one@example.com", f"Reminder {HOSTILE}: " + "waited " * 500, extreme_card())
    dm = slack_emulator.messages(slack_emulator.dm_channel("U0FINMGR1"))
    assert len(dm) == 1
    assert dm[0].blocks[0]["type"] == "section"


def test_the_reject_modal_opens_for_the_longest_label(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """The reason modal for an exception with an extreme label opens in Slack."""
    view = BlockRenderer().reject_modal(CardRef(42, 0, 0), "BX-" + "9" * 300 + " <&> " + UNICODE)
    opened = slack_client.views_open(trigger_id=slack_emulator.issue_trigger_id(), view=view)
    assert opened["ok"] is True
    assert len(opened["view"]["title"]["text"]) <= 24


def test_few_approvers_are_all_named() -> None:
    """A few approvers are listed in full, comma-separated; 185 collapse to a count."""
    assert people(("U0ANA1", "U0BEN1", "carol@example.com")) == (
        "<@U0ANA1>, <@U0BEN1>, carol@example.com"
    )
    assert people(("U0ANA1",)) == "<@U0ANA1>"
    many = people(tuple(f"U0P{n:05d}" for n in range(185)))
    assert many.endswith(" others")
    assert many.startswith("<@U0P00000>, <@U0P00001>")
