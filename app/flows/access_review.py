"""The access review: for each person, what they may decide (from the compiled policy), what
Slack told us about them, their last decision, and their active delegations.

Delegations come from one function, `active_delegations(person) -> str`: `delegations_at`
reads the delegation store (both directions: whom a person decides for, and who decides for
them); `no_delegations` answers "—" for everyone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.lifecycle import exception_label
from app.flows import delegation
from app.routing.access import Authority, authorities, groups_of, people
from app.routing.policy_set import PolicySet
from app.store import access_facts
from app.store.access_facts import LastDecision
from app.store.db import Database

NONE = "—"
Delegations = Callable[[str], str]


def no_delegations(person: str) -> str:
    """Nobody has an active delegation to show."""
    return NONE


def delegations_at(db: Database, now: datetime) -> Delegations:
    """Each person's active delegations at `now`, in words: "decides for U0ANA until
    2026-12-24" and "U0BEN decides for them until 2026-12-24"."""
    with db.transaction() as session:
        active = delegation.all_active(session, now)

    def words(person: str) -> str:
        wanted = person.casefold()
        said = [
            f"decides for {d.delegator} until {d.until.isoformat()}"
            for d in active
            if d.delegate.casefold() == wanted
        ] + [
            f"{d.delegate} decides for them until {d.until.isoformat()}"
            for d in active
            if wanted in (d.delegator.casefold(), (d.delegator_email or "").casefold())
        ]
        return "; ".join(said) or NONE

    return words


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
