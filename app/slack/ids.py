"""Every Slack identifier Countersign uses, in one place: templates, listeners, tests share it."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    APPROVE = "cs_approve"
    REJECT = "cs_reject"
    REQUEST_CHANGES = "cs_request_changes"
    DETAILS = "cs_details"
    RESUBMIT = "cs_resubmit"  # the requester's button in the "changes requested" DM
    POLICY_APPROVE = "cs_policy_approve"  # a policy change card (change_control)
    POLICY_REJECT = "cs_policy_reject"


class BlockId(StrEnum):
    HEADER = "cs_header"
    SUMMARY = "cs_summary"
    FIGURES = "cs_figures"
    REASON = "cs_reason"
    ACTIONS = "cs_actions"
    OUTCOME = "cs_outcome"
    REJECT_REASON = "cs_reject_reason"
    CHANGES_NOTE = "cs_changes_note"
    POLICY_SUMMARY = "cs_policy_summary"
    POLICY_DIFF = "cs_policy_diff"
    POLICY_ACTIONS = "cs_policy_actions"


class CallbackId(StrEnum):
    REJECT_MODAL = "cs_reject_modal"
    DETAILS_MODAL = "cs_details_modal"
    CHANGES_MODAL = "cs_changes_modal"


REJECT_REASON_ACTION = "cs_reject_reason_input"
CHANGES_NOTE_ACTION = "cs_changes_note_input"
CARD_METADATA_TYPE = "countersign_card"  # message metadata event_type of an approval card
POLICY_CARD_METADATA_TYPE = "countersign_policy_card"  # ... and of a policy change card
SLASH_COMMAND = "/billing-exceptions"


def decision_value(exception_id: int, step: int, version: int) -> str:
    """The value of Approve/Reject (and the reject modal's private_metadata): what the click is
    about, parsed back by app.slack.payloads.parse_decision_value."""
    return f"{exception_id}:{step}:{version}"
