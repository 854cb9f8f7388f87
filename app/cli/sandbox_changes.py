"""`countersign sandbox click BX-… request-changes|resubmit`: ask for changes on a card, and
press the requester's Resubmit button in their DM, as Slack would, then say what happened."""

from __future__ import annotations

from app.sandbox.clicks import Card, EmulatedSlack, NotRecorded, SandboxRecords, dialog_error, wait
from app.sandbox.slack_delivery import SlackDelivery
from app.slack.ids import CHANGES_NOTE_ACTION, ActionId, BlockId


def request_changes(
    records: SandboxRecords,
    slack: EmulatedSlack,
    delivery: SlackDelivery,
    card: Card,
    user: str,
    note: str,
) -> str:
    """Click Request changes as `user`, type `note` in the modal, submit it."""
    views_before = len(slack.opened_views())
    refused_before = records.audit_count(card.exception_id, "changes.refused")
    try:
        answer = delivery.click(card.channel, card.ts, ActionId.REQUEST_CHANGES, user)
    except LookupError:
        raise NotRecorded(
            f"{card.label}: not recorded. Its card has no Request changes button any more: "
            f"{slack.card_text(card)}"
        ) from None
    _ok(card, answer.status_code, answer.text)
    views = wait(lambda: slack.opened_views()[views_before:] or None, 5)
    if not views:
        raise NotRecorded(f"{card.label}: no dialog opened for {user}")
    answer = delivery.submit_view(
        views[-1]["id"], user, {BlockId.CHANGES_NOTE: {CHANGES_NOTE_ACTION: note}}
    )
    _ok(card, answer.status_code, answer.text)
    refused = dialog_error(answer)
    if refused:
        raise NotRecorded(f"{card.label}: not recorded. The dialog says: {refused}")

    def asked() -> str | None:
        if records.audit_count(card.exception_id, "changes.refused") > refused_before:
            detail = records.last_audit(card.exception_id, "changes.refused") or {}
            raise NotRecorded(f"{card.label}: not recorded. {detail.get('why')}")
        row = records.exception(card.exception_id)
        return row.state if row.state == "changes_requested" else None

    if wait(asked, 10) is None:
        raise NotRecorded(f"{card.label}: Countersign did not record the request within 10 s")
    wait(lambda: records.settled(card.exception_id) or None, 20)
    requester = records.exception(card.exception_id)
    who = requester.requested_by_slack or requester.requested_by_email or "nobody (no requester)"
    return (
        f"{card.label}: {user} asked for changes at step {requester.current_step + 1}; "
        f"the requester {who} was sent the note with a Resubmit button.\n"
        f"card: {slack.card_text(card)}"
    )


def resubmit(
    records: SandboxRecords,
    slack: EmulatedSlack,
    delivery: SlackDelivery,
    card: Card,
    user: str,
) -> str:
    """Press Resubmit in the requester's DM as `user`; wait for the invoice to be re-read."""
    found = slack.button_in_dms(card.label, ActionId.RESUBMIT)
    if found is None:
        state = records.exception(card.exception_id).state
        raise NotRecorded(
            f"{card.label}: no Resubmit button to press (it is {state}; changes must be "
            "requested first)"
        )
    refused_before = records.audit_count(card.exception_id, "changes.resubmit_refused")
    failed_before = records.audit_count(card.exception_id, "changes.resubmit_failed")
    channel, ts = found
    answer = delivery.click(channel, ts, ActionId.RESUBMIT, user)
    _ok(card, answer.status_code, answer.text)

    def resumed() -> str | None:
        if records.audit_count(card.exception_id, "changes.resubmit_refused") > refused_before:
            detail = records.last_audit(card.exception_id, "changes.resubmit_refused") or {}
            raise NotRecorded(f"{card.label}: not recorded. {detail.get('why')}")
        if records.audit_count(card.exception_id, "changes.resubmit_failed") > failed_before:
            detail = records.last_audit(card.exception_id, "changes.resubmit_failed") or {}
            raise NotRecorded(f"{card.label}: resubmitted, but {detail.get('why')}")
        row = records.exception(card.exception_id)
        return row.state if row.state != "changes_requested" else None

    if wait(resumed, 15) is None:
        raise NotRecorded(f"{card.label}: Countersign did not resume it within 15 s")
    wait(lambda: records.settled(card.exception_id) or None, 20)
    row = records.exception(card.exception_id)
    detail = records.last_audit(card.exception_id, "exception.resubmitted") or {}
    return (
        f"{card.label}: resubmitted by {user}; the invoice was re-read "
        f"({row.currency} {row.amount}) and approval is at step {row.current_step + 1} of "
        f"{len(row.steps)} (on_resubmit: {detail.get('on_resubmit', 'restart')}).\n"
        f"card: {slack.card_text(card)}"
    )


def _ok(card: Card, status: int, text: str) -> None:
    if status != 200:
        raise NotRecorded(f"{card.label}: Countersign answered {status} {text}")
