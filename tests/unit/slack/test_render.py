"""The approval card: rendered from blocks/, escaped, within Block Kit limits."""

from __future__ import annotations

import json

from app.domain.approval import CardRef
from app.flows.policy_cards import PolicyChangeCard
from app.flows.ports import ChangesLine, DecisionLine, ExceptionCard
from app.slack import blockkit
from app.slack.ids import ActionId, CallbackId
from app.slack.render import BlockRenderer


def card(**changes: object) -> ExceptionCard:
    base: dict[str, object] = {
        "exception_id": 7,
        "label": "BX-000007",
        "type_label": "Non-standard discount",
        "customer": "Acme <script> & Co",
        "invoice": "INV-7",
        "amount": "USD 1,234.50",
        "figures": (("discount_pct", "25"),),
        "reason": "Because *reasons*",
        "requester": "U0REQUEST1",
        "route": "big-discount",
        "state": "Waiting for approval",
        "step_text": "Step 1 of 2: 1 of 2 approvers must approve",
        "approvers": ("U0FINMGR1", "fin.two@example.com"),
    }
    base.update(changes)
    return ExceptionCard(**base)  # type: ignore[arg-type]


def test_open_card_has_buttons_carrying_the_exception_step_and_version() -> None:
    """An open card ends with Approve, Reject, Request changes and Details, each carrying
    exception:step:version."""
    _, blocks = BlockRenderer().card(card(step=1, version=3))
    actions = blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        ActionId.APPROVE,
        ActionId.REJECT,
        ActionId.REQUEST_CHANGES,
        ActionId.DETAILS,
    ]
    assert {e["value"] for e in actions["elements"]} == {"7:1:3"}


def test_changes_requested_card_shows_who_asked_and_only_the_requester_copy_resubmits() -> None:
    """While changes are requested the card names who asked what and when, and has no Approve
    or Reject; the requester's copy has one Resubmit button."""
    asked = ChangesLine("U0CFO1", "2026-12-02 09:00 UTC", "Split <seats>")
    _, blocks = BlockRenderer().card(card(open=False, changes=asked))
    text = json.dumps(blocks)
    assert "<@U0CFO1> asked for changes at 2026-12-02 09:00 UTC: Split &lt;seats&gt;" in text
    assert all(block["type"] != "actions" for block in blocks)
    _, mine = BlockRenderer().card(card(open=False, changes=asked, resubmit=True), intro="Fix")
    assert [e["action_id"] for e in mine[-1]["elements"]] == [ActionId.RESUBMIT]


def test_changes_modal_asks_for_a_note_of_three_characters() -> None:
    """The Request changes modal carries the card it was opened from and needs 3+ characters."""
    view = BlockRenderer().changes_modal(CardRef(7, 1, 3), "BX-000007")
    assert view["callback_id"] == CallbackId.CHANGES_MODAL
    assert view["private_metadata"] == "7:1:3"
    (field,) = view["blocks"]
    assert field["element"]["min_length"] == 3


def test_user_text_is_escaped_and_mentions_are_not() -> None:
    """Customer text is mrkdwn-escaped; approver ids become mentions, e-mails stay text."""
    _, blocks = BlockRenderer().card(card())
    text = json.dumps(blocks)
    assert "Acme &lt;script&gt; &amp; Co" in text
    assert "<@U0FINMGR1>" in text and "fin.two@example.com" in text  # noqa: PT018


def test_decided_card_has_no_buttons_and_says_who() -> None:
    """A closed card shows the decision line and no actions block."""
    decided = card(
        open=False, decisions=(DecisionLine("U0FINMGR1", "approve", "2026-11-23 14:00 UTC"),)
    )
    _, blocks = BlockRenderer().card(decided)
    assert all(b["type"] != "actions" for b in blocks)
    assert "<@U0FINMGR1> approved at 2026-11-23 14:00 UTC" in json.dumps(blocks)


def test_huge_values_are_truncated_to_fit() -> None:
    """A 10,000-character reason and 30 figures still give a card Slack accepts."""
    big = card(reason="x" * 10_000, figures=tuple((f"f{n}", "1") for n in range(30)))
    _, blocks = BlockRenderer().card(big)
    assert blockkit.check_message(blocks) == []
    assert blocks[-1]["type"] == "actions"


def test_template_injection_is_inert() -> None:
    """Jinja syntax and JSON quotes in values come out as literal text."""
    sneaky = card(customer='{{ 7*7 }}", "type": "divider')
    _, blocks = BlockRenderer().card(sneaky)
    assert '{{ 7*7 }}\\", \\"type\\": \\"divider' in json.dumps(blocks)
    assert [b["type"] for b in blocks].count("divider") == 0


def _policy_card(diff: str, open_: bool = True) -> PolicyChangeCard:
    return PolicyChangeCard(
        version_id=3,
        proposed="b" * 64,
        in_force="a" * 64,
        loaded_by="host-1/4242",
        loaded_at="2026-12-02 00:40:00 UTC",
        files=("routes.yml",),
        diff=diff,
        approvers=("U0CTRL1", "cfo@example.com"),
        state="Waiting for approval",
        open=open_,
    )


def test_policy_card_fits_a_huge_diff_and_points_at_the_full_one() -> None:
    """A diff of thousands of lines is cut to Slack's limits with the count left out and the
    `policies diff` command for the rest; <, > and & in it are escaped."""
    diff = "".join(f"+  - name: route-{n} <&>\n" for n in range(5000))
    text, blocks = BlockRenderer().policy_card(_policy_card(diff))
    assert blockkit.check_message(blocks) == []
    shown = json.dumps(blocks)
    assert "more lines, see the full diff" in shown
    assert "countersign policies diff aaaaaaaaaaaa bbbbbbbbbbbb" in shown
    assert "&lt;&amp;&gt;" in shown
    assert "<&>" not in shown
    assert "bbbbbbbbbbbb" in text
    values = [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert values == ["3", "3"]


def test_decided_policy_card_has_no_buttons() -> None:
    """Once decided, the card shows the outcome and offers no buttons."""
    _, blocks = BlockRenderer().policy_card(_policy_card("-a\n+b\n", open_=False))
    assert [b for b in blocks if b["type"] == "actions"] == []
    assert ActionId.POLICY_APPROVE not in json.dumps(blocks)
