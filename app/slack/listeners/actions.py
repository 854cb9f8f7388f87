"""Card buttons: Approve decides at once; Reject opens the reason modal first (trigger_id dies
in 3 s, so the modal opens before any other work). A button value that Countersign did not
make is refused with one line, never a 500."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt import Ack, App
from slack_sdk import WebClient

from app.domain.approval import Outcome
from app.domain.lifecycle import exception_label
from app.flows.decide import DecisionCommand, UnknownException, decide
from app.slack.deps import SlackDeps
from app.slack.ids import ActionId
from app.slack.payloads import Click, PayloadError, parse_click

log = structlog.get_logger("countersign.slack")
NOT_OURS = "This button is not one Countersign made; nothing was recorded."


def _channel(body: dict[str, Any]) -> str | None:
    for key, field in (("channel", "id"), ("container", "channel_id")):
        value = body.get(key)
        if isinstance(value, dict) and isinstance(value.get(field), str):
            return str(value[field])
    return None


def _user(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    value = user.get("id") if isinstance(user, dict) else None
    return value if isinstance(value, str) else None


def register(app: App, deps: SlackDeps) -> None:
    def refuse_forged(body: dict[str, Any], error: PayloadError) -> None:
        channel, user = _channel(body), _user(body)
        log.warning("click.refused_payload", user=user, error=str(error))
        if channel and user:
            deps.chat.tell_user(channel, user, NOT_OURS)

    def parsed(body: dict[str, Any]) -> Click | None:
        try:
            return parse_click(body)
        except PayloadError as error:
            refuse_forged(body, error)
            return None

    @app.action(ActionId.APPROVE)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        click = parsed(body)
        if click is None:
            return
        command = DecisionCommand(
            click.exception_id, deps.actor(click.user_id), Outcome.APPROVE, card=click.card
        )
        try:
            result = decide(deps.db, command, now=deps.clock.now())
        except UnknownException as missing:
            result_message, channel = str(missing), click.channel_id
        else:
            result_message, channel = result.message, click.channel_id or result.channel
            log.info(
                "decision",
                exception_label=exception_label(click.exception_id),
                user=click.user_id,
                outcome="approve",
                recorded=result.recorded,
                state=result.state,
            )
            if result.recorded:
                return
        if channel:
            deps.chat.tell_user(channel, click.user_id, result_message)

    @app.action(ActionId.REJECT)
    def reject(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        click = parsed(body)
        if click is None or click.trigger_id is None:
            return
        view = deps.renderer.reject_modal(click.card, exception_label(click.exception_id))
        client.views_open(trigger_id=click.trigger_id, view=view)
