"""Who may decide, and what a decision does: authorization, separation of duties, quorum."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.domain.errors import NotAuthorized
from app.domain.lifecycle import State


class Outcome(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class Actor:
    """A person acting in Slack: their user id and, when known, their e-mail address."""

    user_id: str
    email: str | None = None

    def is_one_of(self, people: Sequence[str]) -> bool:
        """True if the id or the e-mail (case-insensitive) is in `people`."""
        email = self.email.lower() if self.email else None
        return any(p == self.user_id or (email is not None and p.lower() == email) for p in people)


@dataclass(frozen=True)
class StepRule:
    approvers: tuple[str, ...]
    quorum: int


@dataclass(frozen=True)
class Requester:
    slack_user_id: str | None
    email: str | None


def authorize(actor: Actor, step: StepRule, requester: Requester) -> None:
    """Raise NotAuthorized unless `actor` may decide this step (and did not request it)."""
    if not actor.is_one_of(step.approvers):
        raise NotAuthorized("You are not an approver on the current step of this exception.")
    requested_by = [p for p in (requester.slack_user_id, requester.email) if p]
    if requested_by and actor.is_one_of(requested_by):
        raise NotAuthorized("You requested this exception, so you cannot decide it yourself.")


@dataclass(frozen=True)
class Progress:
    state: State
    step: int
    final: bool  # no further decision possible


def after_decision(
    outcome: Outcome, *, step: int, steps: Sequence[StepRule], approvals_in_step: int
) -> Progress:
    """Where the exception stands after a decision was recorded on `step`.

    `approvals_in_step` counts approvals on this step including the one just recorded.
    One rejection rejects the exception; a step passes when its quorum of approvals is met."""
    if outcome is Outcome.REJECT:
        return Progress(State.REJECTED, step, final=True)
    if approvals_in_step < steps[step].quorum:
        return Progress(State.OPEN, step, final=False)
    if step + 1 < len(steps):
        return Progress(State.OPEN, step + 1, final=False)
    return Progress(State.APPROVED, step, final=True)
