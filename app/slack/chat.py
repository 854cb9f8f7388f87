"""ChatPort on Slack's Web API. Maps Slack's failures so the outbox knows whether to wait
(Paced: our pacing or a 429's Retry-After; RetryLater: an outage), to park the job and tell an
admin (NeedsAttention: a revoked token, a missing scope, a channel the bot is not in, with what
to do), or to give up (DeliveryFailed: bad blocks, an unknown message), and tells
apart OutcomeUnknown: the request may have been applied though its answer was lost (a timeout,
a dropped connection, a 5xx, `internal_error`/`fatal_error`, which Slack documents as "some
aspect of the operation may have succeeded").

Cards carry message metadata naming their exception (chat.postMessage `metadata`, docs.slack.dev
/messaging/message-metadata), so `find_cards` can find a card whose post answer was lost with
conversations.history `include_all_metadata=true` (needs the `channels:history` scope, and
`groups:history` for private channels)."""

from __future__ import annotations

import contextlib
import copy
import functools
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.error import URLError

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from app.flows.home import HomeQueue
from app.flows.policy_cards import PolicyChangeCard
from app.flows.ports import (
    DeliveryFailed,
    ExceptionCard,
    NeedsAttention,
    OutcomeUnknown,
    Paced,
    RetryLater,
)
from app.slack.home_view import home_view
from app.slack.ids import CARD_METADATA_TYPE, POLICY_CARD_METADATA_TYPE
from app.slack.mrkdwn import escape_keeping_mentions
from app.slack.pacing import Pacer
from app.slack.render import BlockRenderer

T = TypeVar("T")
_NOT_APPLIED = {"ratelimited", "rate_limited", "service_unavailable", "request_timeout"}
_MAYBE_APPLIED = {"internal_error", "fatal_error"}
IN_FLIGHT_WAIT = 1.0  # seconds a call waits for the one before it in the same channel
HISTORY_PAGE = 200  # conversations.history: "no more than 200 results at a time" is advised
REINSTALL = "reinstall Countersign to the workspace and set SLACK_BOT_TOKEN to its new bot token"
# Errors only a person can fix (FACTS.md section 3; the "Errors" of docs.slack.dev/reference/
# methods/chat.postMessage): the job is parked and an admin told what to do.
_PERSON_MUST_FIX: dict[str, Callable[[str, Any], str]] = {
    "invalid_auth": lambda where, _: f"Slack refused the bot token (invalid_auth): {REINSTALL}",
    "token_revoked": lambda where, _: f"the bot token was revoked (token_revoked): {REINSTALL}",
    "account_inactive": lambda where, _: (
        f"the bot's account is inactive (account_inactive): {REINSTALL}"
    ),
    "missing_scope": lambda where, answer: (
        f"the app lacks the {answer.get('needed') or 'needed'} scope (missing_scope; it has"
        f" {answer.get('provided') or 'none'}): add the {answer.get('needed') or 'needed'}"
        " scope to the app and reinstall it"
    ),
    "not_in_channel": lambda where, _: (
        f"Countersign is not in {where} (not_in_channel): invite @Countersign to {where}"
    ),
    "is_archived": lambda where, _: (
        f"{where} is archived (is_archived): unarchive it, or route to another channel"
    ),
    "channel_not_found": lambda where, _: (
        f"Slack cannot find {where} (channel_not_found): correct the channel in the"
        " policy, or invite @Countersign if it is private"
    ),
}


def slack_call(call: Callable[[], T], where: str | None = None) -> T:
    """Run one Web API call, translating its failure for the outbox (`where`: the channel)."""
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
        if code in _PERSON_MUST_FIX:
            reason = _PERSON_MUST_FIX[code](_named(where), error.response)
            raise NeedsAttention(reason, code=code) from None
        raise DeliveryFailed(f"Slack refused: {code or status}") from None
    except (SlackClientError, OSError) as error:
        if _never_sent(error):
            raise RetryLater(f"Slack unreachable: {type(error).__name__}") from None
        raise OutcomeUnknown(f"Slack's answer was lost: {type(error).__name__}") from None


def _named(channel: str | None) -> str:
    """How a person finds the channel: its #name as configured, or its id."""
    if not channel:
        return "the channel"
    return channel if channel.startswith("#") else f"channel {channel}"


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
    """Every call goes through the shared Pacer: one without a slot now raises Paced (the job
    comes back at its slot); a 429 pauses the method (and channel) for its Retry-After; one
    call of a method (per channel, for chat.postMessage/update) is in flight at a time."""

    def __init__(
        self, client: WebClient, renderer: BlockRenderer, pacer: Pacer | None = None
    ) -> None:
        # slack_sdk re-sends a request whose connection dropped (ConnectionErrorRetryHandler):
        # a re-sent chat.postMessage posts twice, unseen. Only the outbox retries here, and it
        # looks for the first post before trying again.
        self._client = copy.copy(client)
        self._client.retry_handlers = []
        self._renderer = renderer
        self.pacer = pacer or Pacer()
        self._dms: dict[str, str] = {}

    def _slot(self, method: str, channel: str | None) -> None:
        wait = self.pacer.acquire(method, channel)
        if wait > 0:
            raise Paced(f"{method} paced to Slack's rate limit", after=wait)

    def _call(
        self, method: str, channel: str | None, call: Callable[[], T], *, paced: bool = False
    ) -> T:
        """One Web API call: take its slot (unless `paced`: taken already), run it, and on a
        429 pause the method (and channel) for exactly Retry-After."""
        in_flight = self.pacer.one_at_a_time(method, channel)
        if not in_flight.acquire(timeout=IN_FLIGHT_WAIT):  # a slow call there: others go on
            raise Paced(f"{method} busy with a slow call", after=IN_FLIGHT_WAIT)
        with contextlib.ExitStack() as held:
            held.callback(in_flight.release)
            if not paced:
                self._slot(method, channel)
            elif left := self.pacer.paused_for(method, channel):  # a 429 came since the slot
                raise Paced(f"{method} paused by Slack's Retry-After", after=left)
            try:
                return slack_call(call, channel)
            except OutcomeUnknown:
                raise
            except RetryLater as wait:
                if wait.after is not None and not isinstance(wait, NeedsAttention):
                    self.pacer.pause(method, channel, wait.after)
                    raise Paced(str(wait), after=wait.after, refused=True) from None
                raise

    def card_slot(self, channel: str) -> None:
        self._slot("chat.postMessage", channel)

    def post_card(self, channel: str, card: ExceptionCard) -> str:
        text, blocks = self._renderer.card(card)
        metadata = card_metadata(card.exception_id)
        response = self._call(
            "chat.postMessage",
            channel,
            lambda: self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata
            ),
            paced=True,
        )
        return str(response["ts"])

    def find_cards(self, channel: str, exception_id: int, since: datetime) -> list[str]:
        found: list[str] = []
        cursor: str | None = None
        while True:
            page = self._history_page(
                channel,
                functools.partial(
                    self._client.conversations_history,
                    channel=channel,
                    oldest=f"{since.timestamp():.6f}",
                    inclusive=True,
                    include_all_metadata=True,
                    limit=HISTORY_PAGE,
                    cursor=cursor,
                ),
            )
            for message in page.get("messages") or []:
                if _is_card_of(message, exception_id):
                    found.append(str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                return sorted(found, key=_ts_key)

    def _history_page(self, channel: str, call: Callable[[], Any]) -> Any:
        try:
            return self._call("conversations.history", channel, call)
        except DeliveryFailed as refusal:
            raise DeliveryFailed(
                f"{refusal}: cannot look for an earlier card whose answer was lost; invite"
                " Countersign to the channel and grant channels:history (groups:history if"
                " private)"
            ) from None

    def delete_card(self, channel: str, ts: str) -> None:
        try:
            self._call(
                "chat.delete", channel, lambda: self._client.chat_delete(channel=channel, ts=ts)
            )
        except DeliveryFailed as refusal:
            if "message_not_found" not in str(refusal):
                raise

    def update_card(self, channel: str, ts: str, card: ExceptionCard) -> None:
        text, blocks = self._renderer.card(card)
        metadata = card_metadata(card.exception_id)  # kept on the card whatever chat.update does
        self._call(
            "chat.update",
            channel,
            lambda: self._client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, metadata=metadata
            ),
        )

    def post_policy_card(self, channel: str, card: PolicyChangeCard) -> str:
        text, blocks = self._renderer.policy_card(card)
        metadata = {
            "event_type": POLICY_CARD_METADATA_TYPE,
            "event_payload": {"version": card.version_id},
        }
        response = self._call(
            "chat.postMessage",
            channel,
            lambda: self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata
            ),
        )
        return str(response["ts"])

    def update_policy_card(self, channel: str, ts: str, card: PolicyChangeCard) -> None:
        text, blocks = self._renderer.policy_card(card)
        self._call(
            "chat.update",
            channel,
            lambda: self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
        )

    def publish_home(self, user: str, queue: HomeQueue, now: datetime) -> None:
        """views.publish the person's Home showing `queue` (HomePort)."""
        view = home_view(self._renderer, queue, now)
        self._call(
            "views.publish", None, lambda: self._client.views_publish(user_id=user, view=view)
        )

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """views.open a modal (the trigger lives 3 s: no pacing wait here); its view id."""
        response = slack_call(lambda: self._client.views_open(trigger_id=trigger_id, view=view))
        return str(response["view"]["id"])

    def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        """views.update an open modal in place."""
        self._call(
            "views.update", None, lambda: self._client.views_update(view_id=view_id, view=view)
        )

    def post_thread(self, channel: str, ts: str, text: str) -> None:
        self._post(channel, text, thread_ts=ts)

    def post_text(self, channel: str, text: str) -> None:
        self._post(channel, text)

    def _post(self, channel: str, text: str, **extra: Any) -> None:
        text = escape_keeping_mentions(text)  # external text (names, Intacct's errors) inside
        self._call(
            "chat.postMessage",
            channel,
            lambda: self._client.chat_postMessage(channel=channel, text=text, **extra),
        )

    def tell_user(self, channel: str, user: str, text: str) -> None:
        # an answer to a click, sent by the listener itself: never held back by the pacer
        text = escape_keeping_mentions(text)
        slack_call(
            lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text), channel
        )

    def notify_user(self, user: str, text: str) -> None:
        self._post(self._dm_channel(user), text)

    def dm_card(self, user: str, intro: str, card: ExceptionCard) -> None:
        text, blocks = self._renderer.card(card, intro=intro)
        self._post(self._dm_channel(user), text, blocks=blocks)

    def respond(self, response_url: str, text: str) -> None:
        """An ephemeral reply to the person who clicked or typed, through the interaction's
        response_url (FACTS.md: valid 30 minutes, 5 uses; reaches people who are not members
        of the channel, where chat.postEphemeral fails with user_not_in_channel). One httpx
        client for every reply keeps its connections open; slack_sdk's WebClient opens a new
        one per call (urllib)."""
        text = escape_keeping_mentions(text)
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        try:
            answer = _replies().post(response_url, json=body)
        except httpx.TransportError as error:
            raise RetryLater(f"response_url unreachable: {type(error).__name__}") from None
        if answer.status_code == 429 or answer.status_code >= 500:
            raise RetryLater(f"response_url answered {answer.status_code}")
        if answer.status_code >= 400:
            raise DeliveryFailed(f"response_url refused: {answer.status_code} {answer.text[:80]}")

    def _dm_channel(self, user: str) -> str:
        """The DM channel with a person named by Slack id or by e-mail address."""
        if "@" in user:
            found = self._call(
                "users.lookupByEmail", None, lambda: self._client.users_lookupByEmail(email=user)
            )
            user = str(found["user"]["id"])
        if (known := self._dms.get(user)) is not None:
            return known  # a DM's id never changes: conversations.open once per person
        opened = self._call(
            "conversations.open", None, lambda: self._client.conversations_open(users=user)
        )
        self._dms[user] = str(opened["channel"]["id"])
        return self._dms[user]


_REPLIES: httpx.Client | None = None
_REPLIES_LOCK = threading.Lock()
REPLY_TIMEOUT = 5.0


def _replies() -> httpx.Client:
    """The process's one client for response_url posts (thread-safe, keeps connections)."""
    global _REPLIES
    with _REPLIES_LOCK:
        if _REPLIES is None:
            _REPLIES = httpx.Client(timeout=REPLY_TIMEOUT)
        return _REPLIES
