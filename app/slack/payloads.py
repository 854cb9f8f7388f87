"""Parse Slack payloads into typed values at the edge; nothing inward sees a Slack dict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.slack.ids import REJECT_REASON_ACTION, BlockId


class PayloadError(ValueError):
    """The payload is not shaped as Countersign's cards and modals produce."""


@dataclass(frozen=True)
class Click:
    exception_id: int
    user_id: str
    channel_id: str | None
    trigger_id: str | None


@dataclass(frozen=True)
class RejectSubmission:
    exception_id: int
    user_id: str
    reason: str


def _exception_id(value: Any) -> int:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise PayloadError(f"button value {value!r} is not an exception id")
    return int(value)


def parse_click(body: dict[str, Any]) -> Click:
    try:
        action = body["actions"][0]
        user_id = body["user"]["id"]
    except (KeyError, IndexError, TypeError):
        raise PayloadError("block_actions payload without actions or user") from None
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return Click(_exception_id(action.get("value")), user_id, channel, body.get("trigger_id"))


def parse_reject(body: dict[str, Any]) -> RejectSubmission:
    try:
        view = body["view"]
        reason = view["state"]["values"][BlockId.REJECT_REASON][REJECT_REASON_ACTION]["value"]
        user_id = body["user"]["id"]
    except (KeyError, TypeError):
        raise PayloadError("reject modal submission without a reason") from None
    return RejectSubmission(_exception_id(view.get("private_metadata")), user_id, reason or "")
