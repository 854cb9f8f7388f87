"""Who may decide, and what a decision does: authorization, separation of duties, quorum.

A person is a Slack user id with, when Slack could say, their e-mail address; an approver
entry (`U0ANA` or `ana@example.com`) names that person when it equals either. Every check fails
closed: when Slack could not say who someone is, a rule that needs to know refuses and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.domain.errors import NotAuthorized
from app.domain.lifecycle import State, exception_label
from app.domain.quorum import Requirement, met, reachable


class Outcome(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class Actor:
    """A person acting in Slack: their user id and, when known, their e-mail address.

    `unconfirmed` says why the directory could not tell who they are (e.g. "ratelimited");
    None means the lookup answered (and `email` is None only when Slack has no address)."""

    user_id: str
    email: str | None = None
    unconfirmed: str | None = None
    name: str | None = None  # the name Slack showed at the time (real_name), for the evidence

    def is_entry(self, entry: str) -> bool:
        """True if the approver entry `entry` (an id or an e-mail) names this person."""
        return entry == self.user_id or (
            self.email is not None and entry.lower() == self.email.lower()
        )

    def is_one_of(self, people: Sequence[str]) -> bool:
        """True if the id or the e-mail (case-insensitive) is in `people`."""
        return any(self.is_entry(p) for p in people)


@dataclass(frozen=True)
class StepRule:
    """Who may approve a step and how many must: `quorum` of `approvers`, or with
    `requirements` so many from each group (then `quorum` is their sum)."""

    approvers: tuple[str, ...]
    quorum: int
    requirements: tuple[Requirement, ...] = ()


@dataclass(frozen=True)
class Requester:
    slack_user_id: str | None
    email: str | None


@dataclass(frozen=True)
class CardRef:
    """What a click was made on: the exception, the step shown and the card's version.

    The version is the number of decisions recorded on the exception when the card was
    rendered; it is kept with the decision. Only the step decides whether a click still counts:
    within one step, the decisions recorded since an older card are other approvers' approvals
    (a rejection closes the exception), so a reminder DM or a near-simultaneous click on a
    quorum step stays valid, while a click made on an earlier step never counts for a later one."""

    exception_id: int
    step: int
    version: int


class StaleCard(NotAuthorized):
    """The click was made on a card that no longer shows the exception as it is."""


class IdentityUnknown(NotAuthorized):
    """Slack could not say who the person is, and a rule needs to know."""


def _unconfirmed(actor: Actor) -> IdentityUnknown:
    return IdentityUnknown(
        f"Could not confirm your identity with Slack right now ({actor.unconfirmed}); "
        "try again in a minute."
    )


def check_card(card: CardRef, *, current_step: int, version: int) -> None:
    """Raise StaleCard unless `card` shows the current step (and no version from the future)."""
    label = exception_label(card.exception_id)
    if card.step < 0:  # a card rendered before buttons named their step
        raise StaleCard(f"This card of {label} is out of date and is being refreshed; click again.")
    if card.step > current_step or card.version > version:
        raise StaleCard(f"This button does not match the card of {label}; nothing was recorded.")
    if card.step < current_step:
        raise StaleCard(
            f"This card changed: step {card.step + 1} of {label} is already decided; "
            f"refresh the card (it now asks for step {current_step + 1})."
        )


def authorize(
    actor: Actor,
    step: StepRule,
    requester: Requester,
    *,
    decided_other_steps: Sequence[int] = (),
) -> None:
    """Raise NotAuthorized unless `actor` may decide this step.

    They must be listed on the step (by id, or by e-mail when Slack gives it), must not be the
    requester, and must not have decided another step: `decided_other_steps` lists the other
    steps (0-based) they decided where the policy wants one person per step."""
    if actor.user_id not in step.approvers:
        has_emails = any("@" in entry for entry in step.approvers)
        if actor.unconfirmed and has_emails:
            raise _unconfirmed(actor)
        if not actor.is_one_of(step.approvers):
            raise NotAuthorized("You are not an approver on the current step of this exception.")
    _not_the_requester(actor, requester)
    if decided_other_steps:
        steps = " and ".join(f"step {n + 1}" for n in sorted(decided_other_steps))
        raise NotAuthorized(
            f"You already decided {steps} of this exception; this policy needs a different "
            "person for each step."
        )


def authorize_on_behalf(
    delegate: Actor,
    delegator: Actor,
    step: StepRule,
    requester: Requester,
    *,
    decided_other_steps: Sequence[int] = (),
    seat_taken: bool = False,
) -> None:
    """Raise NotAuthorized unless `delegate` may decide this step for `delegator`.

    The delegator must be listed on the step; neither of them may be the requester (a
    delegate never approves what they asked for, nor what the delegator asked for);
    `seat_taken` says the delegator's approval on this step was already given; and with one
    person per step, `decided_other_steps` lists the other steps either of them took part in."""
    if not delegator.is_one_of(step.approvers):
        raise NotAuthorized("You are not an approver on the current step of this exception.")
    _not_the_requester(delegate, requester)
    if requester.slack_user_id is not None and requester.slack_user_id == delegator.user_id:
        raise NotAuthorized(
            f"{delegator.user_id} requested this exception, so nobody can decide it for them."
        )
    if requester.email and delegator.is_entry(requester.email):
        raise NotAuthorized(
            f"{delegator.user_id} requested this exception, so nobody can decide it for them."
        )
    if seat_taken:
        raise NotAuthorized(f"{delegator.user_id} already decided this step of this exception.")
    if decided_other_steps:
        steps = " and ".join(f"step {n + 1}" for n in sorted(decided_other_steps))
        raise NotAuthorized(
            f"You or {delegator.user_id} already decided {steps} of this exception; this policy "
            "needs a different person for each step, also through a delegation."
        )


def _not_the_requester(actor: Actor, requester: Requester) -> None:
    own = NotAuthorized("You requested this exception, so you cannot decide it yourself.")
    if requester.slack_user_id is not None and requester.slack_user_id == actor.user_id:
        raise own
    if requester.email is None or requester.slack_user_id is not None:
        return  # known by Slack id only, or by id as well: the id comparison above decides
    if actor.unconfirmed:
        raise _unconfirmed(actor)
    if actor.email is None:
        raise NotAuthorized(
            "Slack gives no e-mail address for you, and this exception's requester is known "
            "only by e-mail, so Countersign cannot check that you did not request it."
        )
    if actor.is_entry(requester.email):
        raise own


def candidates(
    step: StepRule, *, excluded: Sequence[Actor], requester: Requester
) -> tuple[str, ...]:
    """The step's approver entries that may still name someone who can approve.

    An entry naming a person in `excluded` (who decided this step, or another one where the
    policy wants one person per step) is used up, and so is one naming the requester. Two
    remaining entries may still be one person (listed by id and by e-mail): this is an upper
    bound on the people left."""
    requested_by = [p for p in (requester.slack_user_id, requester.email) if p]
    return tuple(
        entry
        for entry in step.approvers
        if not any(person.is_entry(entry) for person in excluded)
        and entry.lower() not in (p.lower() for p in requested_by)
    )


def quorum_reachable(
    step: StepRule,
    approvals: int,
    *,
    excluded: Sequence[Actor],
    requester: Requester,
    approved: Sequence[frozenset[str]] = (),
) -> bool:
    """False when the approvals still needed exceed the people who could still give them.

    For a step with requirements, `approved` names each person who approved so far (the
    delegator's names for an approval given on someone's behalf)."""
    left = candidates(step, excluded=excluded, requester=requester)
    if step.requirements:
        return reachable(step.requirements, approved, left)
    return approvals + len(left) >= step.quorum


@dataclass(frozen=True)
class Progress:
    state: State
    step: int
    final: bool  # no further decision possible


def after_decision(
    outcome: Outcome,
    *,
    step: int,
    steps: Sequence[StepRule],
    approvals_in_step: int,
    approved: Sequence[frozenset[str]] = (),
) -> Progress:
    """Where the exception stands after a decision was recorded on `step`.

    `approvals_in_step` counts approvals on this step including the one just recorded (one
    per person: decisions are keyed by Slack user id); `approved` names those people, for a
    step that needs approvals from several groups. One rejection rejects the exception; a
    step passes when its quorum of approvals is met (for groups: every group's count, a person
    counting for one group)."""
    if outcome is Outcome.REJECT:
        return Progress(State.REJECTED, step, final=True)
    rule = steps[step]
    if rule.requirements and not met(rule.requirements, approved):
        return Progress(State.OPEN, step, final=False)
    if approvals_in_step < rule.quorum:
        return Progress(State.OPEN, step, final=False)
    if step + 1 < len(steps):
        return Progress(State.OPEN, step + 1, final=False)
    return Progress(State.APPROVED, step, final=True)
