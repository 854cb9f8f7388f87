"""ChatPort on Slack's Web API. Maps Slack's failures to RetryLater / DeliveryFailed so the
outbox knows whether to wait (429, outage) or give up (unknown channel, bad blocks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from app.flows.ports import DeliveryFailed, ExceptionCard, RetryLater
from app.slack.render import BlockRenderer

T = TypeVar("T")
_RETRYABLE = {
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def slack_call(call: Callable[[], T]) -> T:
    """Run one Web API call, translating its failure for the outbox."""
    try:
        return call()
    except SlackApiError as error:
        status = error.response.status_code
        code = str(error.response.get("error", ""))
        if status == 429 or status >= 500 or code in _RETRYABLE:
            retry_after = error.response.headers.get("Retry-After") or error.response.headers.get(
                "retry-after"
            )
            raise RetryLater(f"Slack said {code or status}", after=_seconds(retry_after)) from None
        raise DeliveryFailed(f"Slack refused: {code or status}") from None
    except (SlackClientError, OSError) as error:
        raise RetryLater(f"Slack unreachable: {type(error).__name__}") from None


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class SlackChat:
    def __init__(self, client: WebClient, renderer: BlockRenderer) -> None:
        self._client, self._renderer = client, renderer

    def post_card(self, channel: str, card: ExceptionCard) -> str:
        text, blocks = self._renderer.card(card)
        response = slack_call(
            lambda: self._client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        )
        return str(response["ts"])

    def update_card(self, channel: str, ts: str, card: ExceptionCard) -> None:
        text, blocks = self._renderer.card(card)
        slack_call(
            lambda: self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        )

    def post_thread(self, channel: str, ts: str, text: str) -> None:
        slack_call(lambda: self._client.chat_postMessage(channel=channel, thread_ts=ts, text=text))

    def post_text(self, channel: str, text: str) -> None:
        slack_call(lambda: self._client.chat_postMessage(channel=channel, text=text))

    def tell_user(self, channel: str, user: str, text: str) -> None:
        slack_call(lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text))

    def notify_user(self, user: str, text: str) -> None:
        channel = self._dm_channel(user)
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
