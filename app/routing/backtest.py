"""Backtest: replay stored events against a proposed policy and compare with the current one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from app.domain.stored_event import StoredEvent
from app.routing.policy_set import PolicySet, RouteDecision

LIST_LIMIT = 50


@dataclass(frozen=True)
class EventOutcome:
    """How one event is routed before (current) and after (proposed)."""

    label: str
    received_at: datetime
    event_type: str
    before: str
    after: str
    reason: str  # why the proposed route matched


@dataclass(frozen=True)
class Count:
    """A before/after pair for a route or an approver."""

    name: str
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class BacktestReport:
    """Per-route counts, approver load and the events whose handling changes."""

    current_hash: str
    proposed_hash: str
    events: int
    routes: tuple[Count, ...]
    approvers: tuple[Count, ...]
    changed: tuple[EventOutcome, ...]
    now_auto_approved: tuple[EventOutcome, ...]
    no_longer_auto_approved: tuple[EventOutcome, ...]
    unmatched: tuple[EventOutcome, ...]  # no specific route: the catch-all or `unmatched` decides
    unmatched_before: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO 8601 text)."""
        data = asdict(self)
        for key in ("routes", "approvers"):
            for item, count in zip(data[key], getattr(self, key), strict=True):
                item["change"] = count.change
        for key in ("changed", "now_auto_approved", "no_longer_auto_approved", "unmatched"):
            for item in data[key]:
                item["received_at"] = item["received_at"].isoformat()
        return data


def _people(decision: RouteDecision) -> set[str]:
    return {person for step in decision.route.steps for person in step.approvers}


def backtest(
    current: PolicySet, proposed: PolicySet, events: Iterable[StoredEvent]
) -> BacktestReport:
    """Route every stored event with both policy sets and summarise the differences."""
    route_before: Counter[str] = Counter()
    route_after: Counter[str] = Counter()
    load_before: Counter[str] = Counter()
    load_after: Counter[str] = Counter()
    changed, auto_on, auto_off, unmatched = [], [], [], []
    unmatched_before = total = 0
    for stored in events:
        total += 1
        before, after = current.route(stored.view), proposed.route(stored.view)
        route_before[before.route.name] += 1
        route_after[after.route.name] += 1
        load_before.update(_people(before))
        load_after.update(_people(after))
        kind = stored.view.get("type")
        outcome = EventOutcome(
            stored.label,
            stored.received_at,
            kind if isinstance(kind, str) else "?",
            before.route.name,
            after.route.name,
            after.reason,
        )
        if before.route.name != after.route.name:
            changed.append(outcome)
        if after.route.auto_approve and not before.route.auto_approve:
            auto_on.append(outcome)
        if before.route.auto_approve and not after.route.auto_approve:
            auto_off.append(outcome)
        if after.route.catch_all:
            unmatched.append(outcome)
        unmatched_before += before.route.catch_all
    order = [r.name for r in proposed.routes] + [r.name for r in current.routes]
    names = [name for name in dict.fromkeys(order) if route_before[name] or route_after[name]]
    people = sorted(set(load_before) | set(load_after), key=lambda p: (-load_after[p], p))
    return BacktestReport(
        current_hash=current.content_hash,
        proposed_hash=proposed.content_hash,
        events=total,
        routes=tuple(Count(n, route_before[n], route_after[n]) for n in names),
        approvers=tuple(Count(p, load_before[p], load_after[p]) for p in people),
        changed=tuple(changed),
        now_auto_approved=tuple(auto_on),
        no_longer_auto_approved=tuple(auto_off),
        unmatched=tuple(unmatched),
        unmatched_before=unmatched_before,
    )


def render_backtest_table(report: BacktestReport, limit: int = LIST_LIMIT) -> str:
    """The report as plain-text tables for a terminal."""
    lines = [
        f"backtest: {report.events} events; current policy {report.current_hash[:12]} → "
        f"proposed {report.proposed_hash[:12]}",
        "",
    ]
    lines += _counts("route", report.routes)
    lines += ["", "approver load (events each person would be asked to approve):"]
    lines += _counts("approver", report.approvers)
    sections = (
        ("events that change route", report.changed),
        ("events that would now be AUTO-APPROVED", report.now_auto_approved),
        ("events no longer auto-approved", report.no_longer_auto_approved),
        (
            f"events no route matches (taken by the catch-all; before: {report.unmatched_before})",
            report.unmatched,
        ),
    )
    for title, outcomes in sections:
        lines += ["", f"{title}: {len(outcomes)}"]
        lines += _outcomes(outcomes, limit)
    return "\n".join(lines)


def _counts(label: str, counts: tuple[Count, ...]) -> list[str]:
    width = max([len(label), *(len(c.name) for c in counts)])
    rows = [f"  {label:<{width}}  {'before':>7}  {'after':>7}  {'change':>7}"]
    for count in counts:
        change = f"{count.change:+d}" if count.change else "0"
        rows.append(f"  {count.name:<{width}}  {count.before:>7}  {count.after:>7}  {change:>7}")
    if not counts:
        rows.append("  (none)")
    return rows


def _outcomes(outcomes: tuple[EventOutcome, ...], limit: int) -> list[str]:
    rows = []
    for outcome in outcomes[:limit]:
        rows.append(
            f"  {outcome.label}  {outcome.received_at:%Y-%m-%d %H:%M}  {outcome.event_type}  "
            f"{outcome.before} → {outcome.after}  ({outcome.reason})"
        )
    if len(outcomes) > limit:
        rows.append(f"  … and {len(outcomes) - limit} more (use --format json for all)")
    return rows
