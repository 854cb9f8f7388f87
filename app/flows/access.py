"""Who may look at what, by the policy's `access` section (app/routing/policy_set.Access).

Anyone may use `help` and `mine` (their own queue). Listing, counting and showing any
exception needs a viewer or an admin; the people an exception concerns (its approvers, its
deciders and its requester) may always see that one. Without an `access` section everyone may
look, as before the section existed. Who is an admin: app/routing/admins.py."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.approval import Actor
from app.routing.policy_set import Access
from app.store.tables import ExceptionRow

REFUSED = (
    "You are not allowed to look at billing exceptions here; ask a Countersign admin to add you "
    "to the policy's `access` viewers."
)


def may_view_all(access: Access | None, actor: Actor) -> bool:
    """A viewer or an admin (or anyone, with no `access` section)."""
    if access is None:
        return True
    return actor.is_one_of(access.viewers) or actor.is_one_of(access.admins)


def people_of(row: ExceptionRow) -> tuple[str, ...]:
    """Everyone the exception concerns: approvers of every step, deciders, the requester."""
    people: list[str] = []
    for step in row.steps:
        people += list(step.get("approvers", []))
        people += [str(d.get("user")) for d in step.get("deciders", [])]
    people += [p for p in (row.requested_by_slack, row.requested_by_email) if p]
    return tuple(dict.fromkeys(people))


def may_view(access: Access | None, actor: Actor, people: Sequence[str]) -> bool:
    """May `actor` see one exception in full (show, Details), `people` being its people_of?"""
    return may_view_all(access, actor) or actor.is_one_of(people)
