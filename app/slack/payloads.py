"""Parse Slack payloads into typed values at the edge; nothing inward sees a Slack dict.

Button values and the reject modal's private_metadata are `exception:step:version` as
app.slack.ids.decision_value writes them. Anything else is refused with PayloadError (the
listener answers with a clear line, never a 500); a bare exception id from a card rendered
before steps were named is read as step -1, which the decision refuses as stale."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.domain.approval import CardRef
from app.slack.ids import CHANGES_NOTE_ACTION, REJECT_REASON_ACTION, BlockId

MAX_EXCEPTION_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL
_VALUE = re.compile(r"([0-9]{1,10}):([0-9]{1,3}):([0-9]{1,6})")
_LEGACY = re.compile(r"[0-9]{1,10}")
_USER = re.compile(r"[UW][A-Z0-9]{2,30}")
MAX_REASON = 3000


class PayloadError(ValueError):
    """The payload is not shaped as Countersign's cards and modals produce."""


@dataclass(frozen=True)
class Click:
    card: CardRef
    user_id: str
    channel_id: str | None
    trigger_id: str | None

    @property
    def exception_id(self) -> int:
        return self.card.exception_id


@dataclass(frozen=True)
class RejectSubmission:
    card: CardRef
    user_id: str
    reason: str

    @property
    def exception_id(self) -> int:
        return self.card.exception_id


def parse_decision_value(value: Any) -> CardRef:
    """`12:0:3` → CardRef(12, 0, 3); a bare `12` (an old card) → CardRef(12, -1, -1)."""
    if isinstance(value, str) and (found := _VALUE.fullmatch(value)):
        exception_id, step, version = (int(part) for part in found.groups())
    elif isinstance(value, str) and _LEGACY.fullmatch(value):
        exception_id, step, version = int(value), -1, -1
    else:
        raise PayloadError(f"{str(value)[:40]!r} does not name a card Countersign made")
    if not 0 < exception_id <= MAX_EXCEPTION_ID:
        raise PayloadError(f"{value!r} does not name an exception")
    return CardRef(exception_id, step, version)


def user_of(body: dict[str, Any]) -> str:
    """The acting user's id, checked to look like a Slack user id."""
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not _USER.fullmatch(user_id):
        raise PayloadError("the payload names no Slack user")
    return user_id


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_click(body: dict[str, Any]) -> Click:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise PayloadError("block_actions payload without actions")
    user_id = user_of(body)
    channel, container = body.get("channel"), body.get("container")
    channel_id = (isinstance(channel, dict) and _text(channel.get("id"))) or (
        isinstance(container, dict) and _text(container.get("channel_id"))
    )
    return Click(
        parse_decision_value(actions[0].get("value")),
        user_id,
        channel_id or None,
        _text(body.get("trigger_id")),
    )


def parse_reject(body: dict[str, Any]) -> RejectSubmission:
    return _parse_text_modal(body, BlockId.REJECT_REASON, REJECT_REASON_ACTION, "a reason")


def parse_changes(body: dict[str, Any]) -> RejectSubmission:
    """The "what must change" modal: the same shape as the reject modal (`reason` is the note)."""
    return _parse_text_modal(body, BlockId.CHANGES_NOTE, CHANGES_NOTE_ACTION, "a note")


def _parse_text_modal(
    body: dict[str, Any], block_id: str, action_id: str, what: str
) -> RejectSubmission:
    view = body.get("view")
    if not isinstance(view, dict):
        raise PayloadError("view_submission payload without a view")
    user_id = user_of(body)
    try:
        reason = view["state"]["values"][block_id][action_id]["value"]
    except (KeyError, TypeError):
        raise PayloadError(f"modal submission without {what}") from None
    if reason is not None and not isinstance(reason, str):
        raise PayloadError("the reason is not text")
    card = parse_decision_value(view.get("private_metadata"))
    return RejectSubmission(card, user_id, (reason or "")[:MAX_REASON])
