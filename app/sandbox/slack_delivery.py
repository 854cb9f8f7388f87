"""Deliver Slack-signed requests to the app, shaped exactly as Slack sends them (FACTS.md §1).

The client plays Slack's side of an interaction: it reads the message or view from the Slack
emulator over HTTP (so it works from another process), asks the emulator for a trigger_id and
a response_url, builds the payload, signs it with the signing secret, and POSTs it to the app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx

from app.sandbox.slack_emulator.escaping import escape_command_text

Json = dict[str, Any]

TEAM_DOMAIN = "countersign-sandbox"
VERIFICATION_TOKEN = "sandbox-verification-token"
BOT_USER_ID = "U0COUNTERSIGN"
FORM = "application/x-www-form-urlencoded"
EVENT_ACK_SECONDS = 3.0  # an Events API delivery not answered 2xx in 3 s has failed
EVENT_RETRY_DELAYS = (0.0, 60.0, 300.0)  # Slack retries 3 times: at once, +1 min, +5 min


@dataclass(frozen=True)
class EventAttempt:
    """One Events API delivery attempt: its retry number (None for the first), the HTTP status
    the app answered (None when it did not answer in time) and why it failed, if it did."""

    retry_num: int | None
    status: int | None
    failure: str | None


class SlackDelivery:
    """Sends signed slash commands, button clicks, view submissions and events to the app."""

    def __init__(
        self,
        *,
        app_url: str,
        signing_secret: str,
        emulator_url: str,
        team_id: str | None = None,
        api_app_id: str = "A0COUNTERSIGN",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_url = app_url
        self._team_id = team_id
        self.api_app_id = api_app_id
        self.clock = clock
        self._secret = signing_secret.encode()
        self._emulator_url = emulator_url if emulator_url.endswith("/") else emulator_url + "/"
        self._http = httpx.Client(timeout=timeout)
        self._directory: Json | None = None

    @property
    def team_id(self) -> str:
        """The team every payload names: the emulator's own unless another was given (to act
        as a different workspace)."""
        return self._team_id or str(self._directory_data()["team_id"])

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SlackDelivery:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- signing and sending -----------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int) -> str:
        """`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret."""
        base = b"v0:" + str(timestamp).encode() + b":" + body
        return "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()

    def send_raw(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """POST `body` to the app; signed now unless a forged timestamp or signature is given."""
        ts = int(self.clock()) if timestamp is None else timestamp
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": self.sign(body, ts) if signature is None else signature,
            **(headers or {}),
        }
        if timeout is None:
            return self._http.post(self.app_url, content=body, headers=sent)
        return self._http.post(self.app_url, content=body, headers=sent, timeout=timeout)

    def _send_payload(self, payload: Json) -> httpx.Response:
        """An interaction, sent once: Slack does not retry interactions (only Events API
        deliveries carry X-Slack-Retry-Num), it shows the user an error instead (FACTS.md §2)."""
        return self.send_raw(payload_body(payload), FORM)

    def signed_headers(self, body: bytes, content_type: str = FORM) -> dict[str, str]:
        """The headers Slack sends with `body`, signed now."""
        ts = int(self.clock())
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": self.sign(body, ts),
        }

    # --- interactions ------------------------------------------------------------------------

    def click(
        self,
        channel: str,
        ts: str,
        action_id: str,
        user_id: str,
    ) -> httpx.Response:
        """Click the button `action_id` on a posted message, as `user_id` (a block_actions POST)."""
        return self._send_payload(self.click_payload(channel, ts, action_id, user_id))

    def click_payload(self, channel: str, ts: str, action_id: str, user_id: str) -> Json:
        """The block_actions payload of that click (what Socket Mode carries in an envelope)."""
        message = self._emulator_get("_emulator/message", channel=channel, ts=ts)
        block_id, button = _find_button(message.get("blocks") or [], action_id)
        channel_id = str(message["channel"])
        action: Json = {
            "action_id": action_id,
            "block_id": block_id,
            "text": button.get("text", {"type": "plain_text", "text": "", "emoji": True}),
            "value": button.get("value", ""),
            "type": "button",
            "action_ts": self._slack_ts(),
        }
        if "style" in button:
            action["style"] = button["style"]
        bot_message: Json = {
            "type": "message",
            "ts": message["ts"],
            "text": message.get("text", ""),
            "user": message.get("user", BOT_USER_ID),
            "bot_id": message.get("bot_id"),
            "blocks": message.get("blocks") or [],
        }
        if message.get("thread_ts"):
            bot_message["thread_ts"] = message["thread_ts"]
        payload: Json = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "message": bot_message,
            "state": {"values": {}},
            "response_url": self._response_url(channel_id, user_id, str(message["ts"])),
            "actions": [action],
        }
        return payload

    def home_click(self, user_id: str, action_id: str, value: str | None = None) -> httpx.Response:
        """Click a button on the person's published Home tab (the one carrying `value`, or the
        first with `action_id`): a block_actions payload from a view, which carries the view
        and `container: {type: view}` and, unlike a message click, no response_url."""
        view = self._emulator_get("_emulator/views").get("home", {}).get(user_id)
        if view is None:
            raise LookupError(f"{user_id} has no Home published")
        found = [
            (block_id, e)
            for block_id, e in _elements(view.get("blocks") or [])
            if e.get("type") == "button"
            and e.get("action_id") == action_id
            and (value is None or e.get("value") == value)
        ]
        if not found:
            raise LookupError(f"no button {action_id!r} ({value!r}) on {user_id}'s Home")
        block_id, button = found[0]
        payload: Json = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id or "home" + uuid.uuid4().hex[:6],
                    "text": button.get("text", {}),
                    "value": button.get("value", ""),
                    "type": "button",
                    "action_ts": self._slack_ts(),
                }
            ],
        }
        return self._send_payload(payload)

    def submit_view(
        self, view_id: str, user_id: str, values: dict[str, dict[str, str]]
    ) -> httpx.Response:
        """Submit an opened modal; `values[block_id][action_id]` is the text typed into it."""
        return self._send_payload(self.view_submission_payload(view_id, user_id, values))

    def view_submission_payload(
        self, view_id: str, user_id: str, values: dict[str, dict[str, str]]
    ) -> Json:
        """The view_submission payload of that submission."""
        view = self._emulator_get("_emulator/view", id=view_id)
        inputs = set(_input_ids(view.get("blocks") or []))
        missing = [(b, a) for b, fields in values.items() for a in fields if (b, a) not in inputs]
        if missing:
            raise LookupError(f"view {view_id} has no input {missing}; it has {sorted(inputs)}")
        state = {
            block_id: {
                action_id: {"type": "plain_text_input", "value": text}
                for action_id, text in fields.items()
            }
            for block_id, fields in values.items()
        }
        payload: Json = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._trigger_id(),
            "view": {**view, "state": {"values": state}},
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return payload

    def slash_command(
        self,
        text: str,
        user_id: str,
        channel_id: str = "C0BILLING",
        command: str = "/billing-exceptions",
    ) -> httpx.Response:
        """Run a slash command: the form fields Slack posts, every one of them."""
        return self.send_raw(self.slash_command_body(text, user_id, channel_id, command), FORM)

    def slash_command_body(
        self,
        text: str,
        user_id: str,
        channel_id: str = "C0BILLING",
        command: str = "/billing-exceptions",
    ) -> bytes:
        """The form-encoded body of that slash command (a fresh response_url and trigger_id)."""
        user = self._user(user_id)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "enterprise_id": "",
            "enterprise_name": "",
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": user["username"],
            "command": command,
            # Countersign's command escapes users and channels (should_escape: true)
            "text": escape_command_text(
                text,
                {u["name"].lower(): u["id"] for u in self._directory_data()["users"]},
                {name.lower(): cid for cid, name in self._directory_data()["channels"].items()},
            ),
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel_id, user_id, None),
            "trigger_id": self._trigger_id(),
        }
        return urlencode(fields).encode()

    def app_home_opened(
        self, user_id: str, *, event_id: str | None = None, retry_num: int | None = None
    ) -> httpx.Response:
        """An `app_home_opened` event (Home tab) in its event_callback envelope, sent once."""
        return self.event(self.app_home_event(user_id), event_id=event_id, retry_num=retry_num)

    def app_home_event(self, user_id: str) -> Json:
        """The `app_home_opened` event of `user_id` opening the Home tab, with their view."""
        home = self._emulator_get("_emulator/views").get("home", {}).get(user_id)
        event: Json = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self._directory_data()["dm_channels"].get(user_id, "D" + user_id[1:]),
            "tab": "home",
            "event_ts": self._slack_ts(),
        }
        if home is not None:
            event["view"] = home
        return event

    def deliver_event(
        self,
        event: Json,
        *,
        event_id: str | None = None,
        retry_delays: tuple[float, ...] = EVENT_RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[EventAttempt]:
        """Deliver `event` as the Events API does, retries included: an attempt fails when the
        app answers no 2xx within 3 seconds; it is retried with the same event_id after each of
        `retry_delays` (Slack: at once, after 1 and after 5 minutes), with X-Slack-Retry-Num and
        X-Slack-Retry-Reason; a failed reply with `X-Slack-No-Retry: 1` ends the retries.
        (docs.slack.dev/apis/events-api/#retries; FACTS.md §1.) Returns every attempt."""
        event_id = event_id or new_event_id()
        attempts: list[EventAttempt] = []
        reason = "http_timeout"
        for number in range(len(retry_delays) + 1):
            if number:
                sleep(retry_delays[number - 1])
            retry_num = number or None
            try:
                answer = self.event(
                    event,
                    event_id=event_id,
                    retry_num=retry_num,
                    retry_reason=reason,
                    timeout=EVENT_ACK_SECONDS,
                )
            except httpx.TimeoutException:
                reason = "http_timeout"
                attempts.append(EventAttempt(retry_num, None, reason))
                continue
            except httpx.TransportError:
                reason = "http_error"
                attempts.append(EventAttempt(retry_num, None, reason))
                continue
            attempts.append(EventAttempt(retry_num, answer.status_code, None))
            if answer.is_success or answer.headers.get("X-Slack-No-Retry") == "1":
                break
            reason = "http_error"
        return attempts

    def event(
        self,
        event: Json,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timeout: float | None = None,
    ) -> httpx.Response:
        """One Events API delivery: a signed JSON event_callback envelope. A retry re-sends the
        same `event_id` with X-Slack-Retry-Num and X-Slack-Retry-Reason (see deliver_event)."""
        envelope: Json = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or new_event_id(),
            "event_time": int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return self.send_raw(
            json.dumps(envelope).encode(),
            "application/json",
            headers=_retry_headers(retry_num, retry_reason),
            timeout=timeout,
        )

    # --- the emulator, over HTTP -------------------------------------------------------------

    def _emulator_get(self, path: str, **params: str) -> Json:
        response = self._http.get(urljoin(self._emulator_url, path), params=params)
        if response.status_code == 404:
            raise LookupError(f"the Slack emulator has no {path} for {params}")
        response.raise_for_status()
        data: Json = response.json()
        return data

    def _emulator_post(self, path: str, body: Json) -> Json:
        response = self._http.post(urljoin(self._emulator_url, path), json=body)
        response.raise_for_status()
        data: Json = response.json()
        return data

    def _directory_data(self) -> Json:
        if self._directory is None:
            self._directory = self._emulator_get("_emulator/directory")
        return self._directory

    def _user(self, user_id: str) -> Json:
        users = {u["id"]: u for u in self._directory_data()["users"]}
        name = users[user_id]["name"] if user_id in users else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _channel_name(self, channel_id: str) -> str:
        return str(self._directory_data()["channels"].get(channel_id, "directmessage"))

    def _trigger_id(self) -> str:
        return str(self._emulator_post("_emulator/trigger", {})["trigger_id"])

    def _response_url(self, channel: str, user: str, message_ts: str | None) -> str:
        body = {"channel": channel, "user": user, "message_ts": message_ts}
        return str(self._emulator_post("_emulator/response_url", body)["response_url"])

    def _slack_ts(self) -> str:
        return f"{self.clock():.6f}"


def payload_body(payload: Json) -> bytes:
    """An interaction payload as Slack posts it: a form with one `payload` field of JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def new_event_id() -> str:
    """An event_id shaped as Slack's (`Ev` and upper-case letters and digits)."""
    return "Ev" + uuid.uuid4().hex[:10].upper()


def _retry_headers(retry_num: int | None, reason: str) -> dict[str, str]:
    if retry_num is None:
        return {}
    return {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}


def _elements(blocks: list[Json]) -> Iterator[tuple[str, Json]]:
    """(block_id, element) for every interactive element in actions blocks and accessories."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and block.get("type") == "actions":
                yield block_id, element
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            yield block_id, accessory


def _find_button(blocks: list[Json], action_id: str) -> tuple[str, Json]:
    buttons = [(b, e) for b, e in _elements(blocks) if e.get("type") == "button"]
    for block_id, button in buttons:
        if button.get("action_id") == action_id:
            return block_id, button
    present = [str(button.get("action_id")) for _, button in buttons]
    raise LookupError(f"no button {action_id!r} on the message; its buttons are {present}")


def _input_ids(blocks: list[Json]) -> Iterator[tuple[str, str]]:
    for block in blocks:
        element = block.get("element")
        if block.get("type") == "input" and isinstance(element, dict):
            yield str(block.get("block_id", "")), str(element.get("action_id", ""))
