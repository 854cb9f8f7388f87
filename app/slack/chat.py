"""ChatPort on Slack's Web API. Maps Slack's failures to RetryLater / DeliveryFailed so the
outbox knows whether to wait (429, outage) or give up (unknown channel, bad blocks), and tells
apart OutcomeUnknown: the request may have been applied though its answer was lost (a timeout,
a dropped connection, a 5xx, `internal_error`/`fatal_error`, which Slack documents as "some
aspect of the operation may have succeeded").

Cards carry message metadata naming their exception (chat.postMessage `metadata`, docs.slack.dev
/messaging/message-metadata), so `find_cards` can find a card whose post answer was lost with
conversations.history `include_all_metadata=true` (needs the `channels:history` scope, and
`groups:history` for private channels)."""

from __future__ import annotations

import copy
import functools
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from app.flows.ports import DeliveryFailed, ExceptionCard, OutcomeUnknown, RetryLater
from app.slack.ids import CARD_METADATA_TYPE
from app.slack.mrkdwn import escape_keeping_mentions
from app.slack.render import BlockRenderer

T = TypeVar("T")
_NOT_APPLIED = {"ratelimited", "rate_limited", "service_unavailable", "request_timeout"}
_MAYBE_APPLIED = {"internal_error", "fatal_error"}
HISTORY_PAGE = 200  # conversations.history: "no more than 200 results at a time" is advised


def slack_call(call: Callable[[], T]) -> T:
    """Run one Web API call, translating its failure for the outbox."""
    try:
        return call()
    except SlackApiError as error:
        status = error.response.status_code
        code = str(error.response.get("error", ""))
        retry_after = _seconds(
            error.response.headers.get("Retry-After") or error.response.headers.get("retry-after")
        )
        if status >= 500 or code in _MAYBE_APPLIED:
            raise OutcomeUnknown(f"Slack said {code or status}", after=retry_after) from None
        if status == 429 or code in _NOT_APPLIED:
            raise RetryLater(f"Slack said {code or status}", after=retry_after) from None
        raise DeliveryFailed(f"Slack refused: {code or status}") from None
    except (SlackClientError, OSError) as error:
        if _never_sent(error):
            raise RetryLater(f"Slack unreachable: {type(error).__name__}") from None
        raise OutcomeUnknown(f"Slack's answer was lost: {type(error).__name__}") from None


def _never_sent(error: Exception) -> bool:
    """True when the request cannot have reached Slack: no connection was ever made."""
    reason = error.reason if isinstance(error, URLError) else error
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def card_metadata(exception_id: int) -> dict[str, Any]:
    """The message metadata that marks a card as the card of one exception."""
    return {"event_type": CARD_METADATA_TYPE, "event_payload": {"exception_id": exception_id}}


def _is_card_of(message: dict[str, Any], exception_id: int) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == CARD_METADATA_TYPE
        and payload.get("exception_id") == exception_id
        and bool(message.get("ts"))
    )


def _ts_key(ts: str) -> tuple[int, ...]:
    return tuple(int(part) for part in ts.split("."))


class SlackChat:
    def __init__(self, client: WebClient, renderer: BlockRenderer) -> None:
        # slack_sdk re-sends a request whose connection dropped (ConnectionErrorRetryHandler):
        # a re-sent chat.postMessage posts twice, unseen. Only the outbox retries here, and it
        # looks for the first post before trying again.
        self._client = copy.copy(client)
        self._client.retry_handlers = []
        self._renderer = renderer

    def post_card(self, channel: str, card: ExceptionCard) -> str:
        text, blocks = self._renderer.card(card)
        metadata = card_metadata(card.exception_id)
        response = slack_call(
            lambda: self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata
            )
        )
        return str(response["ts"])

    def find_cards(self, channel: str, exception_id: int, since: datetime) -> list[str]:
        found: list[str] = []
        cursor: str | None = None
        while True:
            page = self._history_page(
                functools.partial(
                    self._client.conversations_history,
                    channel=channel,
                    oldest=f"{since.timestamp():.6f}",
                    inclusive=True,
                    include_all_metadata=True,
                    limit=HISTORY_PAGE,
                    cursor=cursor,
                )
            )
            for message in page.get("messages") or []:
                if _is_card_of(message, exception_id):
                    found.append(str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                return sorted(found, key=_ts_key)

    @staticmethod
    def _history_page(call: Callable[[], Any]) -> Any:
        try:
            return slack_call(call)
        except DeliveryFailed as refusal:
            raise DeliveryFailed(
                f"{refusal}: cannot look for an earlier card whose answer was lost; invite"
                " Countersign to the channel and grant channels:history (groups:history if"
                " private)"
            ) from None

    def delete_card(self, channel: str, ts: str) -> None:
        try:
            slack_call(lambda: self._client.chat_delete(channel=channel, ts=ts))
        except DeliveryFailed as refusal:
            if "message_not_found" not in str(refusal):
                raise

    def update_card(self, channel: str, ts: str, card: ExceptionCard) -> None:
        text, blocks = self._renderer.card(card)
        metadata = card_metadata(card.exception_id)  # kept on the card whatever chat.update does
        slack_call(
            lambda: self._client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, metadata=metadata
            )
        )

    def post_thread(self, channel: str, ts: str, text: str) -> None:
        text = escape_keeping_mentions(text)
        slack_call(lambda: self._client.chat_postMessage(channel=channel, thread_ts=ts, text=text))

    def post_text(self, channel: str, text: str) -> None:
        text = escape_keeping_mentions(text)
        slack_call(lambda: self._client.chat_postMessage(channel=channel, text=text))

    def tell_user(self, channel: str, user: str, text: str) -> None:
        text = escape_keeping_mentions(text)
        slack_call(lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text))

    def notify_user(self, user: str, text: str) -> None:
        channel = self._dm_channel(user)
        text = escape_keeping_mentions(text)
        slack_call(lambda: self._client.chat_postMessage(channel=channel, text=text))

    def dm_card(self, user: str, intro: str, card: ExceptionCard) -> None:
        text, blocks = self._renderer.card(card, intro=intro)
        channel = self._dm_channel(user)
        slack_call(lambda: self._client.chat_postMessage(channel=channel, text=text, blocks=blocks))

    def _dm_channel(self, user: str) -> str:
        """The DM channel with a person named by Slack id or by e-mail address."""
        if "@" in user:
            found = slack_call(lambda: self._client.users_lookupByEmail(email=user))
            user = str(found["user"]["id"])
        opened = slack_call(lambda: self._client.conversations_open(users=user))
        return str(opened["channel"]["id"])
