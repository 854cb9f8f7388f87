"""What the Slack emulator records: users, calls, messages, ephemerals; and the sandbox defaults."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Json = dict[str, Any]

BOT_USER_ID = "U0COUNTERSIGN"
BOT_ID = "B0COUNTERSIGN"
APP_ID = "A0COUNTERSIGN"
TEAM_DOMAIN = "countersign-sandbox"
DEFAULT_BOT_TOKEN = "xoxb-sandbox-not-a-real-token"
DEFAULT_APP_TOKEN = "xapp-1-sandbox-not-a-real-token"  # app-level: Socket Mode only
DEFAULT_TEAM_ID = "T0SANDBOX"


@dataclass(frozen=True)
class EmulatedUser:
    """A workspace member as users.info and users.lookupByEmail describe them."""

    id: str
    name: str
    email: str
    real_name: str = ""
    tz: str = "America/New_York"

    def to_api(self, team_id: str) -> Json:
        """The `user` object of users.info (the fields Countersign reads, and a few more)."""
        real_name = self.real_name or self.name
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": False,
            "real_name": real_name,
            "tz": self.tz,
            "is_bot": False,
            "is_app_user": False,
            "profile": {
                "email": self.email,
                "real_name": real_name,
                "display_name": self.name,
                "team": team_id,
            },
        }


DEFAULT_USERS: tuple[EmulatedUser, ...] = (
    EmulatedUser("U0BILLOPS1", "ana", "ana@example.com", "Ana Ops"),
    EmulatedUser("U0FINMGR1", "fin.one", "fin.one@example.com", "Finley One"),
    EmulatedUser("U0FINMGR2", "fin.two", "fin.two@example.com", "Finley Two"),
    EmulatedUser("U0CTRL1", "controller", "controller@example.com", "Casey Controller"),
    EmulatedUser("U0CFO1", "cfo", "cfo@example.com", "Morgan CFO"),
    EmulatedUser("U0REQUEST1", "sales.rep", "sales.rep@example.com", "Sam Sales"),
    EmulatedUser("U0OUTSIDER", "outsider", "outsider@example.com", "Olly Outsider"),
    # An Enterprise Grid member: their id starts with W (docs.slack.dev/reference/objects/
    # user-object: "user IDs ... may begin with W").
    EmulatedUser("W0GRIDCTRL", "grid.controller", "grid.controller@example.com", "Gita Grid"),
)

DEFAULT_CHANNELS: dict[str, str] = {
    "C0BILLING": "billing-exceptions",
    "C0ARDISPUTES": "ar-disputes",
    "C0ADMIN": "countersign-admin",
}


@dataclass(frozen=True)
class RecordedCall:
    """One Web API call as the emulator answered it (the token is not recorded)."""

    method: str
    args: Json
    at: datetime
    status: int


@dataclass(frozen=True)
class PostedMessage:
    """A message's current state: chat.update and replace_original edit it in place."""

    channel: str
    ts: str
    text: str
    blocks: list[Json]
    thread_ts: str | None
    user: str
    edits: int = 0
    bot_id: str = BOT_ID
    metadata: Json | None = None  # chat.postMessage `metadata`: {event_type, event_payload}

    def to_api(self, team_id: str) -> Json:
        """The `message` object Slack returns from chat.postMessage and puts in payloads."""
        message: Json = {
            "type": "message",
            "text": self.text,
            "user": self.user,
            "bot_id": self.bot_id,
            "app_id": APP_ID,
            "team": team_id,
            "ts": self.ts,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
        return message

    def to_json(self) -> Json:
        """The emulator's own inspection shape (`GET /_emulator/messages`)."""
        return {
            "channel": self.channel,
            "ts": self.ts,
            "text": self.text,
            "blocks": copy.deepcopy(self.blocks),
            "thread_ts": self.thread_ts,
            "user": self.user,
            "bot_id": self.bot_id,
            "edits": self.edits,
            "metadata": copy.deepcopy(self.metadata),
        }


@dataclass(frozen=True)
class EphemeralMessage:
    """A message only `user` sees: chat.postEphemeral, or an ephemeral response_url reply."""

    channel: str
    user: str
    text: str
    blocks: list[Json] = field(default_factory=list)
    ts: str = ""  # when it was shown, a message ts (the page places it among the messages)

    def to_json(self) -> Json:
        return {
            "channel": self.channel,
            "user": self.user,
            "text": self.text,
            "blocks": copy.deepcopy(self.blocks),
            "ts": self.ts,
        }


@dataclass(frozen=True)
class ResponseTarget:
    """Where a response_url leads: the channel and user of the interaction, maybe a message."""

    channel: str
    user: str
    message_ts: str | None
    issued_at: float
    uses: int = 0
