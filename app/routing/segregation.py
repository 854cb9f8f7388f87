"""One person, one step: can a route's steps each reach quorum with different people?

With `one_person_one_step: true` (the default) a person who decided one step of an exception
may not decide another. Someone listed on two steps is then fine as long as every step can
still find its quorum among different people; when no such choice exists, every exception on
the route would wait for good, so `policies check` refuses the route. The check is a bipartite
matching of quorum seats to listed approvers (entries compared as written: an id and an
e-mail of one person are not known to be one here; see app.flows.decide for that case)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.routing.policy_set import CompiledRoute, StepPlan


def shared(approvers: Sequence[Sequence[str]]) -> dict[str, tuple[int, ...]]:
    """Approver entries listed on more than one step → the steps (1-based) listing them."""
    where: dict[str, list[int]] = {}
    for number, people in enumerate(approvers, start=1):
        for person in dict.fromkeys(people):
            where.setdefault(person, []).append(number)
    return {person: tuple(steps) for person, steps in where.items() if len(steps) > 1}


def short_steps(approvers: Sequence[Sequence[str]], quorums: Sequence[int]) -> list[int]:
    """Steps (1-based) left short of quorum by the best choice of different people per step;
    empty when every step can reach its quorum."""
    seats = [(step, approvers[step]) for step, quorum in enumerate(quorums) for _ in range(quorum)]
    return sorted({step + 1 for step in unfilled(seats)})


def step_seats(step: StepPlan, number: int) -> list[tuple[int, Sequence[str]]]:
    """The seats of one step: each is its step number and the people who may fill it (a
    `require` step has `count` seats per group, filled by that group's members)."""
    if step.requirements:
        return [(number, r.members) for r in step.requirements for _ in range(r.count)]
    return [(number, step.approvers)] * step.quorum


def unfilled(seats: Sequence[tuple[int, Sequence[str]]]) -> list[int]:
    """The labels of the seats no choice of different people (one seat each) can fill."""
    holder: dict[str, int] = {}  # person → seat index

    def place(seat: int, seen: set[str]) -> bool:
        for person in dict.fromkeys(seats[seat][1]):
            if person in seen:
                continue
            seen.add(person)
            if person not in holder or place(holder[person], seen):
                holder[person] = seat
                return True
        return False

    return [seats[seat][0] for seat in range(len(seats)) if not place(seat, set())]


def relaxed_routes(routes: Sequence[CompiledRoute]) -> list[str]:
    """One line per route with several steps where one person may decide more than one."""
    return [
        f"{route.source}: route `{route.name}`: RELAXED: one person may approve several steps"
        for route in routes
        if not route.one_person_one_step and len(route.steps) > 1
    ]


def group_quorums(routes: Sequence[CompiledRoute]) -> list[str]:
    """One line per step that needs approvals from several groups (`require`)."""
    return [
        f"{route.source}: route `{route.name}` step {number}: needs {step.quorum_rule} "
        "(a person in two groups counts once)"
        for route in routes
        for number, step in enumerate(route.steps, start=1)
        if step.requirements
    ]
