"""Card buttons. Every click is acked at once; what follows runs on Countersign's workers
(app/slack/executor.py): Approve decides and answers a refusal through the click's
response_url; Reject and Request changes open their modal (a trigger_id lives 3 s, so that is
the only work they do); Resubmit puts a changed exception back to its approvers; Details opens
a modal with what is stored, then updates it with what Intacct says (app/flows/details.py).
A button value that Countersign did not make is refused with one line, never a 500. When the
workers are full the person is told "busy, try again"; nothing is recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from slack_bolt import Ack, App
from slack_sdk import WebClient

from app.domain.approval import Actor, Outcome
from app.domain.lifecycle import exception_label
from app.flows import access
from app.flows.changes import Resubmission, resubmit
from app.flows.decide import DecisionCommand, DecisionResult, UnknownException, decide
from app.flows.details import live_context, stored_details
from app.flows.ports import DeliveryFailed, RetryLater
from app.slack.command_verbs import policy_access
from app.slack.deps import SlackDeps
from app.slack.details_view import details_modal
from app.slack.executor import Busy
from app.slack.ids import ActionId
from app.slack.listeners.reply import busy, reply, response_url
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
    def parsed(body: dict[str, Any]) -> Click | None:
        try:
            return parse_click(body)
        except PayloadError as error:
            channel, user = _channel(body), _user(body)
            log.warning("click.refused_payload", user=user, error=str(error))
            url = response_url(body)
            deps.work.notice(lambda: reply(deps, url, channel, user, NOT_OURS), "refusal")
            return None

    def approve_now(click: Click, url: str | None) -> None:
        command = DecisionCommand(
            click.exception_id, deps.actor(click.user_id), Outcome.APPROVE, card=click.card
        )
        try:
            result = decide(deps.db, command, now=deps.clock.now())
        except UnknownException as missing:
            reply(deps, url, click.channel_id, click.user_id, str(missing))
            return
        log.info(
            "decision",
            exception_label=exception_label(click.exception_id),
            user=click.user_id,
            outcome="approve",
            recorded=result.recorded,
            state=result.state,
        )
        if not result.recorded:
            channel = click.channel_id or result.channel
            reply(deps, url, channel, click.user_id, result.message)

    def run_later(
        body: dict[str, Any], work: Callable[[Click, str | None], None], what: str
    ) -> None:
        """Parse the click and hand `work` to Countersign's workers (busy: tell the person)."""
        click = parsed(body)
        if click is None:
            return
        url = response_url(body)
        try:
            deps.work.submit(lambda: work(click, url), what)
        except Busy:
            busy(deps, url, click.channel_id, click.user_id)

    @app.action(ActionId.APPROVE)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        run_later(body, approve_now, "approve")

    def open_modal(body: dict[str, Any], client: WebClient, *, changes: bool) -> None:
        click = parsed(body)
        if click is None or click.trigger_id is None:
            return
        trigger, label = click.trigger_id, exception_label(click.exception_id)
        render = deps.renderer.changes_modal if changes else deps.renderer.reject_modal
        view = render(click.card, label)
        try:
            deps.work.submit(lambda: client.views_open(trigger_id=trigger, view=view), "modal")
        except Busy:
            busy(deps, response_url(body), click.channel_id, click.user_id)

    @app.action(ActionId.REJECT)
    def reject(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_modal(body, client, changes=False)

    @app.action(ActionId.REQUEST_CHANGES)
    def request_changes(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_modal(body, client, changes=True)

    def resubmit_now(click: Click, url: str | None) -> None:
        command = Resubmission(click.exception_id, deps.actor(click.user_id))
        try:
            result = resubmit(deps.db, command, now=deps.clock.now())
        except UnknownException as missing:
            result = DecisionResult(False, "unknown", str(missing))
        log.info(
            "resubmit",
            exception_label=exception_label(click.exception_id),
            user=click.user_id,
            recorded=result.recorded,
        )
        reply(deps, url, click.channel_id, click.user_id, result.message)

    @app.action(ActionId.RESUBMIT)
    def resubmit_clicked(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        run_later(body, resubmit_now, "resubmit")

    def details_now(click: Click, trigger: str, body: dict[str, Any]) -> None:
        """Open the modal with what is stored (inside the trigger's 3 s), then update it with
        what Intacct says now."""
        now = deps.clock.now()
        stored = stored_details(deps.db, click.exception_id)
        if stored is None:
            reply(deps, None, click.channel_id, click.user_id, "That exception does not exist.")
            return
        rules = policy_access(deps)
        quick = Actor(click.user_id)  # by id first: a directory lookup only when that fails
        if not access.may_view(rules, quick, stored.people) and not access.may_view(
            rules, deps.actor(click.user_id), stored.people
        ):
            reply(deps, response_url(body), click.channel_id, click.user_id, access.REFUSED)
            return
        try:
            view_id = deps.chat.open_view(trigger, details_modal(deps.renderer, stored, None, now))
            live = live_context(deps.receivables, stored, now.date())
            deps.chat.update_view(view_id, details_modal(deps.renderer, stored, live, now))
        except (RetryLater, DeliveryFailed) as error:
            log.warning("details.not_shown", user=click.user_id, error=str(error))

    @app.action(ActionId.DETAILS)
    def details(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        click = parsed(body)
        if click is None or click.trigger_id is None:
            return
        trigger = click.trigger_id
        try:
            deps.work.submit(lambda: details_now(click, trigger, body), "details")
        except Busy:
            busy(deps, response_url(body), click.channel_id, click.user_id)
