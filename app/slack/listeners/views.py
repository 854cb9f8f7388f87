"""The reject and request-changes modals: validate the text, act, answer inside the modal
when refused (both work the same way; the reject modal is described here).

Slack waits 3 s for the answer to a view_submission. What needs no network (the form is ours,
the reason is long enough) is answered inside the ack. The decision (a directory lookup and a
transaction) runs on Countersign's workers with a budget of DECISION_BUDGET seconds: done in
time, a refusal is shown in the modal as an error; late, the modal closes and the refusal
follows as a direct message (a view_submission carries no response_url). When the workers are
full the modal says "busy, try again" and keeps the reason typed.

The modal's private_metadata names the card the Reject click was made on; a value Countersign
did not write is refused inside the modal, never with a 500."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as Late
from typing import Any

import structlog
from slack_bolt import Ack, App

from app.domain.approval import Outcome
from app.domain.lifecycle import exception_label
from app.flows.changes import ChangeRequest, request_changes
from app.flows.decide import DecisionCommand, DecisionResult, UnknownException, decide
from app.slack.deps import SlackDeps
from app.slack.executor import BUSY, Busy
from app.slack.ids import BlockId, CallbackId
from app.slack.listeners.reply import reply
from app.slack.payloads import PayloadError, RejectSubmission, parse_changes, parse_reject

log = structlog.get_logger("countersign.slack")
MIN_REASON = 3
DECISION_BUDGET = 2.0  # of Slack's 3 s: the rest is the network and our own request handling


def register(app: App, deps: SlackDeps) -> None:
    def reject_now(submission: RejectSubmission, reason: str) -> DecisionResult:
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
            return DecisionResult(False, "unknown", str(missing))
        log.info(
            "decision",
            exception_label=exception_label(submission.exception_id),
            user=submission.user_id,
            outcome="reject",
            recorded=result.recorded,
            state=result.state,
        )
        return result

    def changes_now(submission: RejectSubmission, note: str) -> DecisionResult:
        command = ChangeRequest(
            submission.exception_id, deps.actor(submission.user_id), note, card=submission.card
        )
        try:
            result = request_changes(deps.db, command, now=deps.clock.now())
        except UnknownException as missing:
            return DecisionResult(False, "unknown", str(missing))
        log.info(
            "changes_requested",
            exception_label=exception_label(submission.exception_id),
            user=submission.user_id,
            recorded=result.recorded,
            state=result.state,
        )
        return result

    def tell_late(user: str, what: str, future: Future[DecisionResult]) -> None:
        """After the modal closed: say so when the decision was refused (or failed)."""
        failed = future.exception()
        if failed is None and future.result().recorded:
            return
        text = f"Your {what} could not be recorded: " + (
            future.result().message if failed is None else "something went wrong on our side."
        )
        deps.work.notice(lambda: reply(deps, None, None, user, text), "late refusal")

    def submitted(
        ack: Ack,
        body: dict[str, Any],
        *,
        parse: Callable[[dict[str, Any]], RejectSubmission],
        block: str,
        run: Callable[[RejectSubmission, str], DecisionResult],
        what: str,
        empty: str,
    ) -> None:
        def refuse(message: str) -> None:
            ack(response_action="errors", errors={block: message})

        try:
            submission = parse(body)
        except PayloadError as error:
            log.warning("view.refused_payload", error=str(error))
            refuse("This form is not one Countersign made; nothing was recorded.")
            return
        text = submission.reason.strip()
        if len(text) < MIN_REASON:
            refuse(empty)
            return
        try:
            future = deps.work.submit(lambda: run(submission, text), what)
        except Busy:
            refuse(BUSY)
            return
        try:
            result = future.result(timeout=DECISION_BUDGET)
        except Late:
            log.warning("view.decision_late", user=submission.user_id)
            ack()
            future.add_done_callback(lambda done: tell_late(submission.user_id, what, done))
            return
        if result.recorded:
            ack()
        else:
            refuse(result.message)

    @app.view(CallbackId.REJECT_MODAL)
    def reject_submitted(ack: Ack, body: dict[str, Any]) -> None:
        submitted(
            ack,
            body,
            parse=parse_reject,
            block=BlockId.REJECT_REASON,
            run=reject_now,
            what="rejection",
            empty="Please say why, in a few words.",
        )

    @app.view(CallbackId.CHANGES_MODAL)
    def changes_submitted(ack: Ack, body: dict[str, Any]) -> None:
        submitted(
            ack,
            body,
            parse=parse_changes,
            block=BlockId.CHANGES_NOTE,
            run=changes_now,
            what="request for changes",
            empty="Please say what must change, in a few words.",
        )
