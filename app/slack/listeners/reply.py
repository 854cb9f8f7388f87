"""Answering the person who clicked or typed, after the ack, from a worker thread."""

from __future__ import annotations

from typing import Any

import structlog

from app.flows.ports import DeliveryFailed, RetryLater
from app.slack.deps import SlackDeps
from app.slack.executor import BUSY

log = structlog.get_logger("countersign.slack")


def response_url(body: dict[str, Any]) -> str | None:
    """The interaction's response_url (block_actions and slash commands carry one)."""
    value = body.get("response_url")
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def reply(
    deps: SlackDeps, url: str | None, channel: str | None, user: str | None, text: str
) -> None:
    """Tell `user` privately: through the response_url when there is one (it reaches people
    who are not in the channel), else an ephemeral in `channel`, else a DM. Failures are
    logged, never raised: the decision is already recorded or refused either way."""
    try:
        if url:
            deps.chat.respond(url, text)
        elif channel and user:
            deps.chat.tell_user(channel, user, text)
        elif user:
            deps.chat.notify_user(user, text)
    except (RetryLater, DeliveryFailed) as error:
        log.warning("slack.reply_failed", user=user, error=str(error))


def busy(deps: SlackDeps, url: str | None, channel: str | None, user: str | None) -> None:
    """Say "busy, try again" on the notice lane (the work lane is full)."""
    deps.work.notice(lambda: reply(deps, url, channel, user, BUSY), "busy notice")
