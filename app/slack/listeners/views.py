"""The reject modal: validate the reason, decide, answer inside the modal when refused.

The modal's private_metadata names the card the Reject click was made on; a value Countersign
did not write is refused inside the modal, never with a 500."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt import Ack, App

from app.domain.approval import Outcome
from app.domain.lifecycle import exception_label
from app.flows.decide import DecisionCommand, UnknownException, decide
from app.slack.deps import SlackDeps
from app.slack.ids import BlockId, CallbackId
from app.slack.payloads import PayloadError, parse_reject

log = structlog.get_logger("countersign.slack")
MIN_REASON = 3


def register(app: App, deps: SlackDeps) -> None:
    @app.view(CallbackId.REJECT_MODAL)
    def reject_submitted(ack: Ack, body: dict[str, Any]) -> None:
        def refuse(message: str) -> None:
            ack(response_action="errors", errors={BlockId.REJECT_REASON: message})

        try:
            submission = parse_reject(body)
        except PayloadError as error:
            log.warning("view.refused_payload", error=str(error))
            refuse("This form is not one Countersign made; nothing was recorded.")
            return
        reason = submission.reason.strip()
        if len(reason) < MIN_REASON:
            refuse("Please say why, in a few words.")
            return
        command = DecisionCommand(
            submission.exception_id,
            deps.actor(submission.user_id),
            Outcome.REJECT,
            reason,
            card=submission.card,
        )
        try:
            result = decide(deps.db, command, now=deps.clock.now())
        except UnknownException as missing:
            refuse(str(missing))
            return
        log.info(
            "decision",
            exception_label=exception_label(submission.exception_id),
            user=submission.user_id,
            outcome="reject",
            recorded=result.recorded,
            state=result.state,
        )
        if result.recorded:
            ack()
        else:
            refuse(result.message)
