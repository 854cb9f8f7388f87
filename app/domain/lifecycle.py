"""The states of a billing exception and the only moves between them."""

from __future__ import annotations

from enum import StrEnum

from app.domain.errors import InvalidTransition


class State(StrEnum):
    OPEN = "open"  # waiting for the current step's approvers
    CHANGES_REQUESTED = "changes_requested"  # an approver asked the requester for a correction
    APPROVED = "approved"  # every step approved; release queued
    REJECTED = "rejected"  # an approver said no; the draft stays held
    RELEASED = "released"  # the draft invoice is posted in Intacct
    RELEASE_BLOCKED = "blocked"  # the invoice changed since approval, or is no longer a draft
    RELEASE_FAILED = "failed"  # Intacct refused the release; people must look

    @property
    def is_final(self) -> bool:
        return self in {State.REJECTED, State.RELEASED, State.RELEASE_BLOCKED, State.RELEASE_FAILED}


_MOVES: dict[State, frozenset[State]] = {
    State.OPEN: frozenset({State.OPEN, State.APPROVED, State.REJECTED, State.CHANGES_REQUESTED}),
    # resubmitted (back to a step), or closed while waiting for the correction
    State.CHANGES_REQUESTED: frozenset({State.OPEN, State.REJECTED}),
    # the invoice changed after approval: re-approval (open) or rejection, as the policy says
    State.APPROVED: frozenset(
        {State.RELEASED, State.RELEASE_BLOCKED, State.RELEASE_FAILED, State.OPEN, State.REJECTED}
    ),
    State.REJECTED: frozenset(),
    State.RELEASED: frozenset(),
    State.RELEASE_BLOCKED: frozenset(),
    State.RELEASE_FAILED: frozenset(),
}


def move(current: State, target: State) -> State:
    """Return `target` if the move is allowed, else raise InvalidTransition."""
    if target not in _MOVES[current]:
        raise InvalidTransition(f"an exception that is {current} cannot become {target}")
    return target


def exception_label(exception_id: int) -> str:
    """The id people see: BX-000123."""
    return f"BX-{exception_id:06d}"


def parse_label(text: str) -> int:
    """Accept BX-000123, bx-123 or 123 (ASCII digits, at most 9: what an id column holds)."""
    cleaned = text.strip().upper().removeprefix("BX-")
    if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > 9:
        raise ValueError(f"{text[:40]!r} is not an exception id such as BX-000123")
    return int(cleaned)
