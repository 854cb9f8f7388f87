"""A Slack Web API emulator: a real loopback HTTP server that answers as Slack does.

`python -m app.sandbox.slack_emulator --port 3001` runs it standalone.
"""

from __future__ import annotations

from app.sandbox.slack_emulator.models import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_CHANNELS,
    DEFAULT_USERS,
    EmulatedUser,
    EphemeralMessage,
    PostedMessage,
    RecordedCall,
)
from app.sandbox.slack_emulator.server import SlackEmulator

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_CHANNELS",
    "DEFAULT_USERS",
    "EmulatedUser",
    "EphemeralMessage",
    "PostedMessage",
    "RecordedCall",
    "SlackEmulator",
]
