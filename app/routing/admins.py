"""Who is a Countersign admin — the one rule every caller uses.

When the policy has an `access` section, its `admins` are the admins (and nobody else). With
no `access` section, the members of the `admins` group (groups.yml) are. A policy with
neither has no admins. Members are listed like any approver, by Slack id or e-mail; groups
named under `access` are already resolved.

Admins may reassign a pending step's approver, and may list, show and count every exception."""

from __future__ import annotations

from app.domain.approval import Actor
from app.routing.policy_set import PolicySet

ADMINS_GROUP = "admins"


def admins(policy: PolicySet) -> tuple[str, ...]:
    """The admins by the rule above: `access.admins`, else the `admins` group."""
    if policy.access is not None:
        return policy.access.admins
    return policy.groups.get(ADMINS_GROUP, ())


def is_admin(policy: PolicySet, person: Actor) -> bool:
    """Whether `person` (by id, or e-mail when Slack gave it) is an admin."""
    return person.is_one_of(admins(policy))
