"""The Bolt app: one factory, listeners registered by kind, one error path."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import structlog
from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from app.slack.deps import SlackDeps
from app.slack.inbound import unreadable_by_bolt
from app.slack.installation import Installation, refuse_other_teams
from app.slack.listeners import actions, commands, events, policy_change, views
from app.slack.listeners.reply import reply, response_url
from app.slack.payloads import PayloadError

log = structlog.get_logger("countersign.slack")


class _QuietTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and, since we hand it a client,
    warns at every start that the token "will be unused": true, and noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.App").addFilter(_QuietTokenNotice())


def create_bolt_app(client: WebClient, signing_secret: str, deps: SlackDeps) -> App:
    """A Bolt App on `client` (whose base_url may point at the emulator).

    Bolt would call `auth.test` here and fail while Slack is unreachable, taking the billing
    webhook down with it; the token is checked by `serve` (app/slack/health.py) instead, and
    Bolt asks `auth.test` on the first Slack request, which only comes when Slack is there."""
    app = App(
        client=client,
        signing_secret=signing_secret,
        # The listener's return is the answer: each one acks and hands its work to Countersign's
        # workers (app/slack/executor.py), so Bolt's listener threads and their 10 ms polling
        # for the ack are not used.
        process_before_response=True,
        token_verification_enabled=False,
    )
    refuse_other_teams(app, Installation(client))
    for listeners in (events, actions, views, commands, policy_change):
        listeners.register(app, deps)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        if isinstance(error, PayloadError) or unreadable_by_bolt(error):  # a malformed payload
            log.warning("slack.malformed_payload", error=repr(error)[:200])
            return BoltResponse(status=400, body="malformed payload")
        error_id = uuid.uuid4().hex[:12]
        log.error("slack.listener_failed", error_id=error_id, error=repr(error), exc_info=error)
        user = (body.get("user") or {}).get("id") or body.get("user_id")
        channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
        text = f"Something went wrong on our side (error id {error_id})."
        url = response_url(body)
        if url or (user and channel):  # after the answer, never before it
            deps.work.notice(lambda: reply(deps, url, channel, user, text), "error notice")
        return BoltResponse(status=500, body=f"error id {error_id}")

    return app
