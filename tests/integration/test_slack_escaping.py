"""Nothing external reaches Slack unescaped: hostile names, reasons and Intacct errors through
every message kind SlackChat sends, as the Slack emulator received them."""

from __future__ import annotations

import json

from slack_sdk import WebClient

from app.flows.ports import DecisionLine, ExceptionCard
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.chat import SlackChat
from app.slack.mrkdwn import escape, escape_keeping_mentions
from app.slack.render import BlockRenderer

CUSTOMER = "<!channel> Smith & <Sons>"
REASON = "<!here> pay <https://evil.example|here> & now"
INTACCT_ERROR = "BL01001973 <!everyone> Invoice & <b>locked</b>"


def hostile_card(**changes: object) -> ExceptionCard:
    base: dict[str, object] = {
        "exception_id": 9,
        "label": "BX-000009",
        "type_label": "Credit memo",
        "customer": CUSTOMER,
        "invoice": "INV-<9>",
        "amount": "USD 10.00",
        "figures": (("<!channel>", CUSTOMER),),
        "reason": REASON,
        "requester": CUSTOMER,
        "route": "<!subteam^S1>",
        "state": "Waiting for approval",
        "step_text": "Step 1 of 1",
        "approvers": ("U0FINMGR1", "<!channel>@example.com"),
        "decisions": (DecisionLine("U0FINMGR2", "reject", "2026-12-01 10:00 UTC", REASON),),
        "note": f"Intacct refused: {INTACCT_ERROR}",
    }
    base.update(changes)
    return ExceptionCard(**base)  # type: ignore[arg-type]


def test_every_message_kind_arrives_escaped(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """Card, card update, DM card, thread note, channel notice, DM text and ephemeral refusal:
    no raw `<!channel>`/`<!here>`/`<!everyone>` or link in any text or block Slack received."""
    chat = SlackChat(slack_client, BlockRenderer())
    ts = chat.post_card("C0BILLING", hostile_card())
    chat.update_card("C0BILLING", ts, hostile_card(open=False))
    chat.dm_card("U0FINMGR1", f"Reminder about {CUSTOMER}", hostile_card())
    chat.post_thread("C0BILLING", ts, f"Release failed: {INTACCT_ERROR} (asked <@U0FINMGR1>)")
    chat.post_text("C0BILLING", f"BX-000009 for {CUSTOMER} was auto-approved: {REASON}")
    chat.notify_user("U0REQUEST1", f"Rejected by policy: {REASON} — {CUSTOMER}")
    chat.tell_user("C0BILLING", "U0FINMGR1", f"Already decided for {CUSTOMER}")
    sent = [
        call
        for call in slack_emulator.calls()
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral")
    ]
    assert len(sent) == 7
    assert all(call.status == 200 for call in sent)
    for call in sent:
        body = json.dumps({k: call.args.get(k) for k in ("text", "blocks")}, ensure_ascii=False)
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<!subteam", "<https://"):
            assert raw not in body, (call.method, raw, body[:300])
        assert "&lt;!" in body, call.method
    thread = slack_emulator.thread("C0BILLING", ts)
    assert "<@U0FINMGR1>" in thread[0].text  # Countersign's own mention still mentions
    assert escape(INTACCT_ERROR) in thread[0].text


def test_escape_follows_slacks_escaping_text_rules() -> None:
    """&, < and > become &amp; &lt; &gt; (& first, so nothing is escaped twice)."""
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape("&lt;") == "&amp;lt;"
    assert escape_keeping_mentions("<@U0ANA1> <!channel> <@W0BEN1>") == (
        "<@U0ANA1> &lt;!channel&gt; <@W0BEN1>"
    )
    assert escape_keeping_mentions("<@U0ANA1|ana>") == "&lt;@U0ANA1|ana&gt;"
