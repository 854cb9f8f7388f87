"""The reject modal: validate the reason, decide, answer inside the modal when refused."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt import Ack, App

from app.domain.approval import Outcome
from app.domain.lifecycle import exception_label
from app.flows.decide import DecisionCommand, decide
from app.slack.deps import SlackDeps
from app.slack.ids import BlockId, CallbackId
from app.slack.payloads import parse_reject

log = structlog.get_logger("countersign.slack")
MIN_REASON = 3


def register(app: App, deps: SlackDeps) -> None:
    @app.view(CallbackId.REJECT_MODAL)
    def reject_submitted(ack: Ack, body: dict[str, Any]) -> None:
        submission = parse_reject(body)
        reason = submission.reason.strip()
        if len(reason) < MIN_REASON:
            ack(
                response_action="errors",
                errors={BlockId.REJECT_REASON: "Please say why, in a few words."},
            )
            return
        command = DecisionCommand(
            submission.exception_id, deps.actor(submission.user_id), Outcome.REJECT, reason
        )
        result = decide(deps.db, command, now=deps.clock.now())
        log.info(
            "decision",
            exception=exception_label(submission.exception_id),
            user=submission.user_id,
            outcome="reject",
            recorded=result.recorded,
            state=result.state,
        )
        if result.recorded:
            ack()
        else:
            ack(response_action="errors", errors={BlockId.REJECT_REASON: result.message})
