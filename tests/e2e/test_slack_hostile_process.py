"""A hostile, oversized billing event through a running `countersign serve`: the card reaches
the Slack emulator (its own Block Kit rules) accepted, escaped, and the outbox comes to rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import wait_for
from tests.e2e.hostile import Target, event, target

CUSTOMER = "<!channel> Smith & <Sons> Zürich 株式会社 🧾"


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Target]:
    """`countersign serve` on each backend, with the emulators."""
    with target(database_url, tmp_path) as running:
        yield running


def test_a_hostile_oversized_event_posts_an_escaped_card_slack_accepts(served: Target) -> None:
    """3,000-character reason, 30 long figures, `<!channel>` in the name: one card, ok, escaped."""
    hostile = event(
        "hostile-1",
        customer={"id": "C-EVIL", "name": CUSTOMER},
        reason=("<!here> Because & <https://evil.example|click> " * 70)[:3000],
        details={f"figure_{n}_<&>": "9" * 150 + " <!everyone>" for n in range(30)},
    )
    assert served.send(hostile).status_code == 202
    card = wait_for(lambda: served.slack.messages("C0BILLING"), timeout=30, what="the card")[0]
    served.wait_at_rest()
    posts = served.slack.calls("chat.postMessage")
    assert posts
    assert all(call.status == 200 for call in posts)
    for call in posts:
        sent = json.dumps({k: call.args.get(k) for k in ("text", "blocks")}, ensure_ascii=False)
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<https://"):
            assert raw not in sent, raw
    shown = json.dumps(card.blocks, ensure_ascii=False)
    assert "&lt;!channel&gt; Smith &amp; &lt;Sons&gt;" in shown
    assert "more in Details" in shown
    assert "&lt;!channel&gt;" in card.text
