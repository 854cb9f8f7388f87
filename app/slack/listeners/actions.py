"""Card buttons: Approve decides at once; Reject opens the reason modal first (trigger_id dies
in 3 s, so the modal opens before any other work)."""

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
from app.slack.payloads import parse_click

log = structlog.get_logger("countersign.slack")


def register(app: App, deps: SlackDeps) -> None:
    @app.action(ActionId.APPROVE)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        click = parse_click(body)
        command = DecisionCommand(click.exception_id, deps.actor(click.user_id), Outcome.APPROVE)
        try:
            result = decide(deps.db, command, now=deps.clock.now())
        except UnknownException as missing:
            result_message, channel = str(missing), click.channel_id
        else:
            result_message, channel = result.message, click.channel_id or result.channel
            log.info(
                "decision",
                exception=exception_label(click.exception_id),
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
        click = parse_click(body)
        view = deps.renderer.reject_modal(click.exception_id, exception_label(click.exception_id))
        client.views_open(trigger_id=click.trigger_id, view=view)
