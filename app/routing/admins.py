"""Who is a Countersign admin: a member of the policy's `admins` group (groups.yml).

Admins may reassign a pending step's approver. Members are listed like any approver, by Slack
id or e-mail; a policy without an `admins` group has no admins."""

from __future__ import annotations

from app.domain.approval import Actor
from app.routing.policy_set import PolicySet

ADMINS_GROUP = "admins"


def admins(policy: PolicySet) -> tuple[str, ...]:
    return policy.groups.get(ADMINS_GROUP, ())


def is_admin(policy: PolicySet, person: Actor) -> bool:
    """Whether `person` (by id, or e-mail when Slack gave it) is in the `admins` group."""
    return person.is_one_of(admins(policy))
