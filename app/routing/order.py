"""Route order: names used once, no route shadowed by one above it, somewhere for every event.

Checked in linear time (a policy may hold thousands of routes): the deciding routes seen so far
are indexed by their condition's canonical key and, for routes that only test `type`, by the
set of types they take (there are at most 32 such sets)."""

from __future__ import annotations

from app.routing.conditions import Always, Cond
from app.routing.errors import Problem
from app.routing.schema import RouteDoc
from app.routing.source import Pos

_ALWAYS, _SAME, _TYPES = "always", "same", "types"


def check_order(
    routes: list[RouteDoc],
    problems: list[Problem],
    *,
    where: str,
    routes_section: Pos | None,
    has_unmatched: bool,
    routes_unreadable: bool,
) -> None:
    """Report duplicate route names, routes that can never match, and a missing catch-all."""
    deciders = _Deciders()
    names: dict[str, Pos] = {}
    for route in routes:
        name = route.name.value
        if name in names:
            first = names[name].seen_from(route.name.pos)
            problems.append(
                route.name.pos.problem(f"route name `{name}` is already used at {first}")
            )
        elif name:
            names[name] = route.name.pos
        cond = route.when or Always()
        if not route.broken:
            _reachable(route, cond, deciders, problems)
        if not route.notify_only and (route.when is not None or not route.has_when):
            deciders.add(route, cond)  # a broken `when` matches nothing we know of
    if deciders.has_catch_all() or has_unmatched:
        return
    if not routes and routes_section is None:
        problems.append(
            Problem(
                where, 0, 0, "no routes are defined", "add `routes:` ending with a catch-all route"
            )
        )
        return
    if routes_unreadable:  # the unreadable one may be the catch-all
        return
    pos = routes_section or routes[-1].pos
    problems.append(
        pos.problem(
            "events that match no route have nowhere to go",
            "end `routes` with a catch-all (a route without `when`) or add an `unmatched:` section",
        )
    )


def _reachable(route: RouteDoc, cond: Cond, deciders: _Deciders, problems: list[Problem]) -> None:
    found = deciders.shadowing(cond)
    if found is None:
        return
    earlier, why = found
    other = f"route `{earlier.name.value}` ({earlier.pos.seen_from(route.pos)})"
    if why == _ALWAYS:
        what = (
            "the `unmatched` section"
            if route.name.value == "unmatched" and route.when is None
            else f"route `{route.name.value}`"
        )
        message = f"{what} can never match: {other} above it matches every event"
        hint = "move the catch-all route to the end"
    elif why == _SAME:
        message = f"route `{route.name.value}` can never match: {other} has the same `when`"
        hint = "merge the two routes or change one condition"
    else:
        listed = ", ".join(sorted(cond.type_set() or ()))
        message = (
            f"route `{route.name.value}` can never match: every {listed} event is taken by {other}"
        )
        hint = "put the more specific route first"
    problems.append(route.pos.problem(message, hint))


class _Deciders:
    """The deciding routes so far, in order, indexed so that checking a route below is cheap."""

    def __init__(self) -> None:
        self.routes: list[RouteDoc] = []
        self.first_always: int | None = None
        self.by_key: dict[tuple[object, ...], int] = {}
        self.type_only: dict[frozenset[str], int] = {}

    def add(self, route: RouteDoc, cond: Cond) -> None:
        index = len(self.routes)
        self.routes.append(route)
        if isinstance(cond, Always) and self.first_always is None:
            self.first_always = index
        self.by_key.setdefault(cond.key(), index)
        types = cond.type_set()
        if cond.type_only() and types is not None:
            self.type_only.setdefault(types, index)

    def has_catch_all(self) -> bool:
        return any(not route.has_when for route in self.routes)

    def shadowing(self, cond: Cond) -> tuple[RouteDoc, str] | None:
        """The first route above that leaves `cond` nothing to match, and why; or None.

        A route is shadowed by one above that matches every event, has the same `when`, or
        only tests `type` and takes all of its types; when one route does several, in that
        order of preference."""
        types = cond.type_set()
        covering = (
            min((i for taken, i in self.type_only.items() if types <= taken), default=None)
            if types is not None
            else None
        )
        candidates = [
            (self.first_always, 0, _ALWAYS),
            (self.by_key.get(cond.key()), 1, _SAME),
            (covering, 2, _TYPES),
        ]
        found = [(index, rank, why) for index, rank, why in candidates if index is not None]
        if not found:
            return None
        index, _, why = min(found)
        return self.routes[index], why
