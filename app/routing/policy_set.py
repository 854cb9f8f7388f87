"""The compiled policy set: routes with their plans, and the router that picks one per event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.domain.business_time import BusinessCalendar
from app.domain.quorum import Requirement
from app.routing.conditions import ALL_TYPES, Cond, Predicate
from app.routing.errors import Problem


@dataclass(frozen=True)
class Access:
    """Who may look at the queue (`/billing-exceptions list`, `show`, `stats`, Details) and who
    administers it (admins may also look); people as written, groups resolved."""

    viewers: tuple[str, ...]
    admins: tuple[str, ...]


@dataclass(frozen=True)
class EscalationLevel:
    """One escalation level: after `after` (business time) its `to` people are asked too.

    The first level's `after` counts from the step opening, each later one from the level before.
    """

    after: timedelta
    to: tuple[str, ...]  # group refs resolved to Slack user ids / e-mails, deduplicated


@dataclass(frozen=True)
class StepPlan:
    """One approval step: who may approve, how many must, and when to escalate to whom.

    `escalations` holds every level in order (`escalate_after` + `escalate_to` as written is one
    level); `escalate_after` and `escalate_to` repeat the first level's, or None and ().
    """

    approvers: tuple[str, ...]  # group refs resolved to Slack user ids / e-mails, deduplicated
    quorum: int  # resolved number (all → len, majority → len // 2 + 1)
    quorum_rule: str  # "1", "all", "majority": as written
    escalate_after: timedelta | None
    escalate_to: tuple[str, ...]
    escalations: tuple[EscalationLevel, ...] = ()
    # This step's timers: its own if set, else the route's, else `defaults`' (None: no timer).
    remind_every: timedelta | None = None
    expire_after: timedelta | None = None
    on_expire: str = "keep"
    # Quorum across groups (`require`): so many approvals from each group; then `approvers`
    # is every member of those groups and `quorum` the sum of the counts.
    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        first = self.escalations[0] if self.escalations else None
        if (self.escalate_after, self.escalate_to) != (
            (first.after, first.to) if first else (None, ())
        ):
            raise ValueError("escalate_after and escalate_to must be the first level's")


@dataclass(frozen=True)
class CompiledRoute:
    """A route ready to use; `source` is "file:line" of its definition."""

    name: str
    auto_approve: bool
    channel: str
    steps: tuple[StepPlan, ...]
    calendar: str | None
    remind_every: timedelta | None
    expire_after: timedelta | None
    on_expire: str
    source: str
    notify_only: bool = False  # `continue: true`: tells its channel, never decides
    catch_all: bool = False  # no `when` (or the `unmatched:` section): takes what is left
    one_person_one_step: bool = True  # a person decides at most one step of an exception
    on_resubmit: str = "restart"  # a corrected submission goes back to step 1 (or `continue`)
    on_invoice_change: str = "reapprove"  # invoice changed after approval (`reject`, `report`)


@dataclass(frozen=True)
class RouteDecision:
    """The route that decides an event, why, and which `continue` routes also saw it.

    `route` is the first matching route without `continue: true`; it decides channel, steps and
    timers. `matched_routes` lists, in policy order, every `continue: true` route that matched
    before it and then the deciding route; `notify_channels` are those routes' channels.
    """

    route: CompiledRoute
    reason: str
    matched_routes: tuple[str, ...]
    notify_channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeControl:
    """Four-eyes on the policy itself: a new policy hash is held until one of `approvers`
    approves it on a card in `channel`. The policy in force decides, not the proposed one."""

    approvers: tuple[str, ...]  # group refs resolved to Slack user ids / e-mails
    channel: str
    source: str  # file:line of `change_control`


_Candidates = tuple[tuple[CompiledRoute, Predicate], ...]


class PolicySet:
    """A complete, validated policy set. Build it with `load_policy_set`, not directly."""

    def __init__(
        self,
        *,
        content_hash: str,
        timezone: str,
        admin_channel: str | None,
        routes: tuple[CompiledRoute, ...],
        conditions: tuple[Cond, ...],
        calendars: Mapping[str, BusinessCalendar],
        groups: Mapping[str, tuple[str, ...]],
        files: tuple[str, ...],
        warnings: tuple[Problem, ...] = (),
        change_control: ChangeControl | None = None,
        sources: tuple[tuple[str, bytes], ...] = (),
        access: Access | None = None,
    ) -> None:
        self.content_hash = content_hash
        self.timezone = timezone
        self.admin_channel = admin_channel
        self.routes = routes
        self.calendars = dict(calendars)
        self.groups = dict(groups)
        self.files = files
        self.warnings = warnings  # what loaded but looks wrong; `policies check` prints them
        self.change_control = change_control
        # (path relative to the policy folder, bytes) of every file, sorted: what was hashed
        self.sources = sources
        self.access = access  # None: no `access` section (everyone may look, as before)
        self._conditions = dict(zip((r.name for r in routes), conditions, strict=True))
        full = tuple((r, c.predicate()) for r, c in zip(routes, conditions, strict=True))
        self._fallback: _Candidates = full
        self._index: dict[str, _Candidates] = {}
        for event_type in sorted(ALL_TYPES):
            chosen = []
            for route, cond in zip(routes, conditions, strict=True):
                types = cond.type_set()
                if types is None or event_type in types:
                    chosen.append((route, cond.without_type().predicate()))
            self._index[event_type] = tuple(chosen)

    def condition(self, route_name: str) -> Cond:
        """The compiled condition of a route (for explain and tests)."""
        return self._conditions[route_name]

    def route(self, event: Mapping[str, Any]) -> RouteDecision:
        """The decision for one event (its routing view). Always returns: the loader made sure."""
        kind = event.get("type")
        candidates = self._index.get(kind, self._fallback) if kind.__class__ is str else None
        notified: list[CompiledRoute] = []
        for route, test in candidates if candidates is not None else self._fallback:
            if test(event):
                if route.notify_only:
                    notified.append(route)
                    continue
                return self._decision(route, notified, event)
        raise AssertionError("a loaded policy set always has a catch-all")  # pragma: no cover

    def _decision(
        self, route: CompiledRoute, notified: list[CompiledRoute], event: Mapping[str, Any]
    ) -> RouteDecision:
        _, reasons = self._conditions[route.name].explain(event)
        return RouteDecision(
            route=route,
            reason="; ".join(reasons),
            matched_routes=(*(r.name for r in notified), route.name),
            notify_channels=tuple(dict.fromkeys(r.channel for r in notified)),
        )

    def __repr__(self) -> str:
        return f"<PolicySet {self.content_hash[:12]} routes={len(self.routes)}>"
