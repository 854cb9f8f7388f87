"""The access review: for each person, what they may decide (from the compiled policy), what
Slack told us about them, their last decision, and their active delegations.

Delegations come from one function, `active_delegations(person) -> str`; until a delegation
store exists it answers "—" for everyone (`no_delegations`). Wire the real one in `review`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.domain.lifecycle import exception_label
from app.routing.access import Authority, authorities, groups_of, people
from app.routing.policy_set import PolicySet
from app.store import access_facts
from app.store.access_facts import LastDecision
from app.store.db import Database

NONE = "—"
Delegations = Callable[[str], str]


def no_delegations(person: str) -> str:
    """No delegation store yet: nobody has an active delegation to show."""
    return NONE


@dataclass(frozen=True)
class Facts:
    """What the store knows about approvers (empty for a database without decisions)."""

    last: dict[str, LastDecision] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)  # Slack id → e-mail


def load_facts(db: Database) -> Facts:
    with db.transaction() as session:
        return Facts(access_facts.last_decisions(session), access_facts.known_emails(session))


@dataclass(frozen=True)
class PersonReview:
    person: str  # the approver entry as written
    known_as: str  # what past decisions say about the same person ("" when nothing)
    groups: tuple[str, ...]
    last_decision: str
    delegations: str
    authorities: tuple[Authority, ...]


def _ids_of(person: str, facts: Facts) -> list[str]:
    """The Slack ids this entry names: itself, or those whose recorded e-mail it is."""
    if "@" not in person:
        return [person]
    wanted = person.casefold()
    return [uid for uid, email in facts.emails.items() if email.casefold() == wanted]


def _known_as(person: str, facts: Facts) -> str:
    if "@" in person:
        return ", ".join(_ids_of(person, facts))
    return facts.emails.get(person, "")


def _last(person: str, facts: Facts) -> str:
    found = [facts.last[uid] for uid in _ids_of(person, facts) if uid in facts.last]
    if not found:
        return "never"
    last = max(found, key=lambda d: d.at)
    return f"{last.at:%Y-%m-%d %H:%M} UTC {last.outcome} {exception_label(last.exception_id)}"


def review(
    policy: PolicySet, facts: Facts, active_delegations: Delegations = no_delegations
) -> list[PersonReview]:
    """One entry per person the policy names, sorted, with what they may decide."""
    granted = authorities(policy)
    result = []
    for person in people(policy, granted):
        mine = tuple(a for a in granted if a.person.casefold() == person.casefold())
        result.append(
            PersonReview(
                person=person,
                known_as=_known_as(person, facts),
                groups=tuple(groups_of(policy, person)),
                last_decision=_last(person, facts),
                delegations=active_delegations(person),
                authorities=mine,
            )
        )
    return result
