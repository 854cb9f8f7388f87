"""Quorum across groups: a step that needs so many approvals from each of several groups.

A requirement is "`count` approvals from the members of `group`". Each approval fills at most
one seat, so a person in two groups counts for one of them: whether a step is met is a
bipartite matching of approvals to seats (Kuhn's augmenting paths; steps are small). Someone
who is on the step but in none of its groups (an escalation added them, or an admin reassigned
a seat to them) stands in for any group: that is what escalating a step means.

Pure functions over plain values; an approval is the approver entry set that names the person
(their Slack id, their e-mail, and for a delegate the delegator's), so that an id and an e-mail of
one person match the same members."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Requirement:
    """`count` approvals from the members (ids or e-mails) of `group`."""

    group: str
    members: tuple[str, ...]
    count: int

    def admits(self, names: frozenset[str]) -> bool:
        """Whether a person known by `names` (ids, lower-cased e-mails) is a member."""
        return any(_norm(member) in names for member in self.members)

    def as_json(self) -> dict[str, Any]:
        return {"group": self.group, "members": list(self.members), "count": self.count}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Requirement:
        return cls(str(data["group"]), tuple(data["members"]), int(data["count"]))


def _norm(entry: str) -> str:
    return entry.lower() if "@" in entry else entry


def names_of(*entries: str | None) -> frozenset[str]:
    """The set of names a person is known by (e-mails compared case-insensitively)."""
    return frozenset(_norm(entry) for entry in entries if entry)


def _fits(requirement: Requirement, names: frozenset[str], everyone: Sequence[Requirement]) -> bool:
    return requirement.admits(names) or not any(r.admits(names) for r in everyone)


def shortfall(
    requirements: Sequence[Requirement], approvals: Sequence[frozenset[str]]
) -> list[tuple[str, int]]:
    """What is still needed: (group, approvals missing) for each short group, in policy order.

    `approvals` holds one name set per approving person. The best assignment of people to
    seats is taken; when several leave different groups short, the total missing is the same."""
    seats = [index for index, r in enumerate(requirements) for _ in range(r.count)]
    holder: dict[int, int] = {}  # seat → approval index

    def place(person: int, seen: set[int]) -> bool:
        for seat, index in enumerate(seats):
            if seat in seen or not _fits(requirements[index], approvals[person], requirements):
                continue
            seen.add(seat)
            if seat not in holder or place(holder[seat], seen):
                holder[seat] = person
                return True
        return False

    for person in range(len(approvals)):
        place(person, set())
    missing: dict[int, int] = {}
    for seat, index in enumerate(seats):
        if seat not in holder:
            missing[index] = missing.get(index, 0) + 1
    return [(requirements[i].group, n) for i, n in sorted(missing.items())]


def met(requirements: Sequence[Requirement], approvals: Sequence[frozenset[str]]) -> bool:
    """True when every group has its approvals (each person counted once)."""
    return not shortfall(requirements, approvals)


def reachable(
    requirements: Sequence[Requirement],
    approvals: Sequence[frozenset[str]],
    candidates: Sequence[str],
) -> bool:
    """Whether the approvals so far plus one each from `candidates` (entries of people who may
    still approve) could meet every requirement."""
    hopefuls = [*approvals, *(names_of(entry) for entry in candidates)]
    return met(requirements, hopefuls)


def describe_needs(needs: Sequence[tuple[str, int]]) -> str:
    """ "1 more from finance and 2 more from billing_ops"."""
    return " and ".join(f"{count} more from {group}" for group, count in needs)


def describe_rule(requirements: Sequence[Requirement]) -> str:
    """ "1 from billing_ops and 1 from finance"."""
    return " and ".join(f"{r.count} from {r.group}" for r in requirements)
