"""The Slack emulator's message metadata, conversations.history, chat.delete, and its lost-answer
and slow-Slack knobs, driven by the real slack_sdk WebClient."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.sandbox.slack_emulator import SlackEmulator

METADATA = {"event_type": "countersign_card", "event_payload": {"exception_id": 7}}


def test_metadata_is_stored_and_returned_only_when_asked(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """A message's metadata comes back from conversations.history with include_all_metadata."""
    posted = slack_client.chat_postMessage(channel="C0BILLING", text="card", metadata=METADATA)
    plain = slack_client.conversations_history(channel="C0BILLING")
    full = slack_client.conversations_history(channel="C0BILLING", include_all_metadata=True)
    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"] == METADATA
    assert full["messages"][0]["ts"] == posted["ts"]
    assert slack_emulator.message("C0BILLING", posted["ts"]).metadata == METADATA


def test_malformed_metadata_is_refused(slack_client: WebClient) -> None:
    """Metadata must be an object with a string event_type and an object event_payload."""
    with pytest.raises(SlackApiError) as refused:
        slack_client.chat_postMessage(channel="C0BILLING", text="x", metadata={"event_type": 1})
    assert refused.value.response["error"] == "invalid_metadata_schema"


def test_update_keeps_or_replaces_metadata(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """chat.update without metadata keeps it; with metadata replaces it."""
    ts = slack_client.chat_postMessage(channel="C0BILLING", text="a", metadata=METADATA)["ts"]
    slack_client.chat_update(channel="C0BILLING", ts=ts, text="b")
    assert slack_emulator.message("C0BILLING", ts).metadata == METADATA
    other = {"event_type": "other", "event_payload": {}}
    slack_client.chat_update(channel="C0BILLING", ts=ts, text="c", metadata=other)
    assert slack_emulator.message("C0BILLING", ts).metadata == other


def test_history_is_newest_first_without_replies_and_pages_by_cursor(
    slack_client: WebClient,
) -> None:
    """Newest first, thread replies left out, `limit` per page, cursor to the next page."""
    stamps = [
        slack_client.chat_postMessage(channel="C0BILLING", text=f"m{n}")["ts"] for n in range(5)
    ]
    slack_client.chat_postMessage(channel="C0BILLING", text="reply", thread_ts=stamps[0])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = slack_client.conversations_history(channel="C0BILLING", limit=2, cursor=cursor)
        pages += 1
        seen.extend(m["ts"] for m in page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            assert cursor == ""
            break
    assert seen == list(reversed(stamps))
    assert pages == 3


def test_history_oldest_and_latest_are_exclusive_unless_inclusive(
    slack_client: WebClient,
) -> None:
    """`oldest`/`latest` bound the range; `inclusive` includes messages at the bounds."""
    stamps = [
        slack_client.chat_postMessage(channel="C0BILLING", text=f"m{n}")["ts"] for n in range(4)
    ]

    def between(**bounds: object) -> list[str]:
        answer = slack_client.conversations_history(channel="C0BILLING", **bounds)
        return [m["ts"] for m in answer["messages"]]

    assert between(oldest=stamps[1], latest=stamps[3]) == [stamps[2]]
    assert between(oldest=stamps[1], latest=stamps[3], inclusive=True) == stamps[3:0:-1]
    assert between(oldest=str(Decimal(stamps[3]) + 1)) == []


def test_history_errors(slack_client: WebClient) -> None:
    """An unknown channel, a bad cursor and a bad timestamp are refused as Slack refuses them."""
    for channel, cursor, oldest, error in (
        ("C0NOPE", None, None, "channel_not_found"),
        ("C0BILLING", "bm90LWEtY3Vyc29y", None, "invalid_cursor"),
        ("C0BILLING", None, "yesterday", "invalid_ts_oldest"),
    ):
        with pytest.raises(SlackApiError) as refused:
            slack_client.conversations_history(channel=channel, cursor=cursor, oldest=oldest)
        assert refused.value.response["error"] == error


def test_chat_delete_removes_a_message_once(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """chat.delete removes the message; a second delete says message_not_found."""
    ts = slack_client.chat_postMessage(channel="C0BILLING", text="dup")["ts"]
    assert slack_client.chat_delete(channel="C0BILLING", ts=ts)["ts"] == ts
    assert slack_emulator.messages("C0BILLING") == []
    with pytest.raises(SlackApiError) as refused:
        slack_client.chat_delete(channel="C0BILLING", ts=ts)
    assert refused.value.response["error"] == "message_not_found"


def test_a_lost_answer_still_posts(slack_emulator: SlackEmulator) -> None:
    """lose_answer: the post is applied, but the client times out or is cut off."""
    client = WebClient(
        token=slack_emulator.bot_token,
        base_url=slack_emulator.api_url,
        timeout=1,
        retry_handlers=[],
    )
    slack_emulator.lose_answer("chat.postMessage", hold_seconds=2)
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel="C0BILLING", text="held")
    slack_emulator.lose_answer("chat.postMessage")
    with pytest.raises(ConnectionError):
        client.chat_postMessage(channel="C0BILLING", text="dropped")
    assert [m.text for m in slack_emulator.messages("C0BILLING")] == ["held", "dropped"]
    client.chat_postMessage(channel="C0BILLING", text="answered")  # the knob is used up


def test_slow_down_delays_each_call(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    """slow_down makes every call of the method take at least that long, until reset."""
    slack_emulator.slow_down(0.3, "chat.postMessage")
    started = time.monotonic()
    slack_client.chat_postMessage(channel="C0BILLING", text="slow")
    assert time.monotonic() - started >= 0.3
    slack_emulator.slow_down(0, "chat.postMessage")
    started = time.monotonic()
    slack_client.auth_test()
    assert time.monotonic() - started < 0.3
