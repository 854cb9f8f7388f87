"""What Slack sends the app when someone acts in the page: signed block_actions,
view_submission, view_closed, slash commands and app_home_opened, built from the workspace.

The shapes follow reference/slack/FACTS.md section 1 (interaction payloads, slash command form
fields, Events API envelopes); the signature is Slack's v0 scheme
(docs.slack.dev/authentication/verifying-requests-from-slack: `v0=` + hex HMAC-SHA256 of
`v0:{timestamp}:{body}` with the signing secret, X-Slack-Request-Timestamp and
X-Slack-Signature headers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from app.sandbox.slack_emulator.escaping import escape_command_text
from app.sandbox.slack_emulator.models import APP_ID, BOT_USER_ID, TEAM_DOMAIN, Json
from app.sandbox.slack_emulator.workspace import Workspace

VERIFICATION_TOKEN = "sandbox-verification-token"  # deprecated field Slack still sends
FORM = "application/x-www-form-urlencoded"
# Slack waits 3 s for an ack (docs.slack.dev/interactivity/handling-user-interaction); the
# page waits longer so a slow sandbox still shows what the app answered.
SEND_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class AppTarget:
    """Where Slack delivers interactions and events for the app, and the secret it signs with."""

    url: str
    signing_secret: str


@dataclass(frozen=True)
class Answer:
    """The app's HTTP answer to one delivery (status 0: it could not be reached)."""

    status: int
    body: str

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None

    def to_json(self) -> Json:
        return {"status": self.status, "body": self.body}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST over loopback with the standard library; failures become an Answer, not a raise."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as reply:  # noqa: S310
            return Answer(reply.status, reply.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as error:
        return Answer(0, f"could not reach {url}: {error}")


class Deliveries:
    """Builds and sends what Slack would send for an act of `user` in the page."""

    def __init__(self, ws: Workspace, target: AppTarget, base_url: str) -> None:
        self.ws = ws
        self.target = target
        self.base_url = base_url

    def send(self, body: bytes, content_type: str) -> Answer:
        stamp = int(time.time())
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": sign(self.target.signing_secret, stamp, body),
        }
        return post(self.target.url, body, headers)

    def _send_payload(self, payload: Json) -> Answer:
        return self.send(urlencode({"payload": json.dumps(payload)}).encode(), FORM)

    # --- pieces every payload carries --------------------------------------------------------

    def _user(self, user_id: str) -> Json:
        user = self.ws.users.get(user_id)
        name = user.name if user else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.ws.team_id}

    def _team(self) -> Json:
        return {"id": self.ws.team_id, "domain": TEAM_DOMAIN}

    def _response_url(self, channel: str, user: str, message_ts: str | None) -> str:
        token = self.ws.issue_response_token(channel, user, message_ts)
        return f"{self.base_url}response/{token}"

    @staticmethod
    def _action_ts() -> str:
        return f"{time.time():.6f}"

    # --- block_actions -----------------------------------------------------------------------

    def click_message(
        self, user: str, channel: str, ts: str, block_id: str, action_id: str
    ) -> Answer:
        """A button pressed on a message: `block_actions` with container type message."""
        message = self.ws.find(channel, ts)
        if message is None:
            raise LookupError("that message is gone")
        element = find_element(message.blocks, block_id, action_id)
        payload: Json = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": self.ws.issue_trigger(user),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self.ws.channel_name(channel)},
            "message": {
                "type": "message",
                "ts": ts,
                "text": message.text,
                "user": message.user or BOT_USER_ID,
                "bot_id": message.bot_id,
                "blocks": message.blocks,
                **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
            },
            "state": {"values": {}},
            "response_url": self._response_url(channel, user, ts),
            "actions": [action_of(element, block_id)],
        }
        return self._send_payload(payload)

    def click_view(
        self, user: str, view_id: str, block_id: str, action_id: str, values: Json
    ) -> Answer:
        """A button pressed inside a modal or the Home tab: container type view, its state."""
        view = self.ws.find_view(view_id)
        if view is None:
            raise LookupError("that view is gone")
        element = find_element(view.get("blocks") or [], block_id, action_id)
        payload: Json = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.ws.issue_trigger(user),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": {**view, "state": {"values": values}},
            "actions": [action_of(element, block_id)],
        }
        return self._send_payload(payload)

    # --- modals ------------------------------------------------------------------------------

    def submit_view(self, user: str, view_id: str, values: Json) -> Answer:
        """`view_submission` with the typed values in view.state.values."""
        view = self.ws.find_view(view_id)
        if view is None:
            raise LookupError("that dialog is gone")
        payload: Json = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.ws.issue_trigger(user),
            "view": {**view, "state": {"values": values}},
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return self._send_payload(payload)

    def close_view(self, user: str, view_id: str) -> Answer | None:
        """`view_closed`, which Slack sends only when the view asked for notify_on_close."""
        view = self.ws.find_view(view_id)
        if view is None or not view.get("notify_on_close"):
            return None
        payload: Json = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": view,
            "is_cleared": False,
            "is_enterprise_install": False,
        }
        return self._send_payload(payload)

    # --- slash commands and events -----------------------------------------------------------

    def slash_command(self, user: str, channel: str, command: str, text: str) -> Answer:
        """The form Slack posts for a slash command, every field of it."""
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.ws.team_id,
            "team_domain": TEAM_DOMAIN,
            "enterprise_id": "",
            "enterprise_name": "",
            "channel_id": channel,
            "channel_name": self.ws.channel_name(channel),
            "user_id": user,
            "user_name": self._user(user)["name"],
            "command": command,
            "text": escape_command_text(
                text,
                {u.name.lower(): u.id for u in self.ws.users.values()},
                {name.lower(): cid for cid, name in self.ws.channels.items()},
            ),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel, user, None),
            "trigger_id": self.ws.issue_trigger(user),
        }
        return self.send(urlencode(fields).encode(), FORM)

    def app_home_opened(self, user: str) -> Answer:
        """The Home tab opened: an `app_home_opened` event in its event_callback envelope."""
        event: Json = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.ws.dm_channel(user),
            "tab": "home",
            "event_ts": self._action_ts(),
        }
        home = self.ws.home_views.get(user)
        if home is not None:
            event["view"] = home
        envelope: Json = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.ws.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.ws.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return self.send(json.dumps(envelope).encode(), "application/json")


def _elements(blocks: list[Json]) -> Iterator[tuple[str, Json]]:
    """(block_id, element) for every interactive element: actions blocks and accessories."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict):
                    yield block_id, element
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            yield block_id, accessory


def find_element(blocks: list[Json], block_id: str, action_id: str) -> Json:
    for found_block, element in _elements(blocks):
        if found_block == block_id and element.get("action_id") == action_id:
            return element
    raise LookupError(f"no element {action_id!r} in block {block_id!r} any more")


def action_of(element: Json, block_id: str) -> Json:
    """The `actions[0]` Slack reports for a pressed button (FACTS.md section 1)."""
    action: Json = {
        "action_id": element.get("action_id", ""),
        "block_id": block_id,
        "text": element.get("text", {"type": "plain_text", "text": "", "emoji": True}),
        "value": element.get("value", ""),
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    if "style" in element:
        action["style"] = element["style"]
    return action
