"""Approve / Reject on a policy change card (change_control). Acked at once; the decision runs
on Countersign's workers and a refusal (not an approver, already decided) is answered through
the click's response_url. Every attempt is audited by the flow."""

from __future__ import annotations

import re
from typing import Any

import structlog
from slack_bolt import Ack, App

from app.flows.policy_control import decide_policy_change
from app.slack.deps import SlackDeps
from app.slack.executor import Busy
from app.slack.ids import ActionId
from app.slack.listeners.reply import busy, reply, response_url
from app.slack.payloads import PayloadError, user_of

log = structlog.get_logger("countersign.slack")
_VERSION = re.compile(r"[0-9]{1,10}")
NOT_OURS = "This button is not one Countersign made; nothing was recorded."


def _version(body: dict[str, Any]) -> int:
    actions = body.get("actions")
    value = actions[0].get("value") if isinstance(actions, list) and actions else None
    if not isinstance(value, str) or not _VERSION.fullmatch(value) or int(value) < 1:
        raise PayloadError("the button does not name a policy version")
    return int(value)


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    value = channel.get("id") if isinstance(channel, dict) else None
    return value if isinstance(value, str) else None


def register(app: App, deps: SlackDeps) -> None:
    def decide_now(version: int, user: str, approve: bool, url: str | None) -> None:
        actor = deps.actor(user)
        result = decide_policy_change(
            deps.db, version, actor, approve=approve, now=deps.clock.now()
        )
        log.info(
            "policy.decision",
            version=version,
            user=user,
            outcome="approve" if approve else "reject",
            recorded=result.recorded,
        )
        reply(deps, url, result.channel, user, result.message)

    def on_click(body: dict[str, Any], approve: bool) -> None:
        url = response_url(body)
        try:
            version, user = _version(body), user_of(body)
        except PayloadError as error:
            log.warning("policy_click.refused_payload", error=str(error))
            channel, who = _channel(body), (body.get("user") or {}).get("id")
            deps.work.notice(lambda: reply(deps, url, channel, who, NOT_OURS), "refusal")
            return
        try:
            deps.work.submit(lambda: decide_now(version, user, approve, url), "policy decision")
        except Busy:
            busy(deps, url, _channel(body), user)

    @app.action(ActionId.POLICY_APPROVE)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        on_click(body, approve=True)

    @app.action(ActionId.POLICY_REJECT)
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        on_click(body, approve=False)
