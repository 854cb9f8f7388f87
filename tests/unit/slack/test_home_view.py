"""The Home view rendered from a queue: empty states, escaping, overdue marks, Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.flows.home import DecidedItem, HomeQueue, RequestItem, WaitingItem
from app.flows.queue import QueueLine
from app.slack import blockkit
from app.slack.home_view import home_text, home_view
from app.slack.ids import ActionId
from app.slack.render import BlockRenderer

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _line(n: int, customer: str = "Acme") -> QueueLine:
    return QueueLine(f"BX-{n:06d}", "usage_anomaly", customer, "$1.00", "open", "r", ("U0A",))


def _waiting(n: int, due: datetime | None = None, customer: str = "Acme") -> WaitingItem:
    overdue = due is not None and due <= NOW
    return WaitingItem(n, _line(n, customer), 0, 0, "Step 1 of 1", NOW, due, overdue)


def test_an_empty_queue_says_so_in_every_section() -> None:
    """No work: each section has its own clear empty state and the view is valid."""
    view = home_view(BlockRenderer(), HomeQueue("U0A"), NOW)
    shown = json.dumps(view)
    assert "Nothing is waiting for your decision" in shown
    assert "You are not standing in for anyone right now" in shown
    assert "You have no requests" in shown
    assert "You have not decided anything yet" in shown
    assert blockkit.check_view(view) == []


def test_waiting_items_carry_the_card_buttons_and_overdue_marks() -> None:
    """Each waiting item has Approve, Reject and Details with the card's value; overdue shown."""
    late = _waiting(1, NOW - timedelta(hours=1), customer="<!channel> & Sons")
    queue = HomeQueue("U0A", waiting=(late, _waiting(2, NOW + timedelta(hours=1))))
    view = home_view(BlockRenderer(), queue, NOW)
    actions = [b for b in view["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [
        ActionId.APPROVE,
        ActionId.REJECT,
        ActionId.DETAILS,
    ]
    assert actions[0]["elements"][0]["value"] == "1:0:0"
    shown = json.dumps(view)
    assert "(2, 1 overdue)" in shown
    assert "*overdue* since 2026-12-01 14:00 UTC" in shown
    assert "<!channel>" not in shown
    assert "&amp; Sons" in shown


def test_a_full_queue_stays_within_the_home_limit() -> None:
    """20 waiting, 5 delegated, 8 requests, 8 decided and more: under 100 blocks, "N more"."""
    waiting = tuple(_waiting(n) for n in range(1, 21))
    queue = HomeQueue(
        "U0A",
        waiting=waiting,
        waiting_more=180,
        as_delegate=waiting[:5],
        requests=tuple(RequestItem(_line(n), "Step 1 of 1", NOW) for n in range(8)),
        decided=tuple(DecidedItem(_line(n), "approve", NOW) for n in range(8)),
    )
    view = home_view(BlockRenderer(), queue, NOW)
    assert len(view["blocks"]) <= blockkit.MAX_VIEW_BLOCKS
    assert blockkit.check_view(view) == []
    assert any("180 more — use `/billing-exceptions mine`" in line for line in home_text(view))
