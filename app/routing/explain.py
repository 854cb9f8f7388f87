"""Explain a routing decision: every route tried, why it matched or not, and the plan chosen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.routing import segregation
from app.routing.durations import format_duration
from app.routing.fields import show
from app.routing.policy_set import CompiledRoute, PolicySet, RouteDecision

DECIDES, NOTIFIES, NO_MATCH, SHADOWED = "decides", "notifies", "no match", "not reached"


@dataclass(frozen=True)
class RouteTrial:
    """One route tried against the event; `outcome` is decides, notifies, no match, not reached.

    "not reached" routes come after the deciding route: `matched` still says whether their
    condition would have matched, to show routes shadowed by an earlier one.
    """

    name: str
    matched: bool
    reasons: tuple[str, ...]
    source: str
    outcome: str = NO_MATCH


@dataclass(frozen=True)
class Explanation:
    """Every route tried, in policy order, and the resulting decision."""

    trials: tuple[RouteTrial, ...]
    decision: RouteDecision
    content_hash: str = ""


def explain_event(policy: PolicySet, event: Mapping[str, Any]) -> Explanation:
    """Try every route against the event with reasons; the decision is the router's own."""
    trials: list[RouteTrial] = []
    decided: CompiledRoute | None = None
    notified: list[CompiledRoute] = []
    reason = ""
    for route in policy.routes:
        matched, reasons = policy.condition(route.name).explain(event)
        if decided is not None:
            outcome = SHADOWED
        elif not matched:
            outcome = NO_MATCH
        elif route.notify_only:
            outcome = NOTIFIES
            notified.append(route)
        else:
            outcome, decided, reason = DECIDES, route, "; ".join(reasons)
        trials.append(RouteTrial(route.name, matched, tuple(reasons), route.source, outcome))
    assert decided is not None, "a loaded policy set always has a catch-all"
    decision = RouteDecision(
        route=decided,
        reason=reason,
        matched_routes=(*(r.name for r in notified), decided.name),
        notify_channels=tuple(dict.fromkeys(r.channel for r in notified)),
    )
    return Explanation(tuple(trials), decision, policy.content_hash)


_MARK = {DECIDES: "✓", NOTIFIES: "+", NO_MATCH: "✗", SHADOWED: "·"}


def render_explain(explanation: Explanation, event: Mapping[str, Any] | None = None) -> str:
    """The tree shown by `countersign policies explain`: trials, then the plan."""
    lines: list[str] = []
    if event is not None:
        lines.append(
            f"event {show(event.get('event_id'))} ({show(event.get('type'))}) "
            f"from {show(event.get('source'))}"
        )
    if explanation.content_hash:
        lines.append(f"policy set {explanation.content_hash[:12]}")
    lines.append("routes, top to bottom:")
    width = max((len(t.name) for t in explanation.trials), default=0)
    for trial in explanation.trials:
        note = {
            DECIDES: "MATCH, decides",
            NOTIFIES: "match, notifies its channel and continues",
            NO_MATCH: "no match",
            SHADOWED: "would match, but an earlier route decided"
            if trial.matched
            else "not reached",
        }[trial.outcome]
        lines.append(f"  {_MARK[trial.outcome]} {trial.name:<{width}}  {trial.source}  {note}")
        if trial.outcome != SHADOWED or trial.matched:
            lines.extend(
                f"      {'because' if trial.matched else 'since'} {r}" for r in trial.reasons
            )
    lines.extend(render_plan(explanation.decision))
    return "\n".join(lines)


_ON_RESUBMIT = {
    "restart": "on resubmit (after Request changes): restart at step 1",
    "continue": "on resubmit (after Request changes): continue at the step that asked",
}
_ON_INVOICE_CHANGE = {
    "reapprove": "invoice changed after approval: approve again from step 1",
    "reject": "invoice changed after approval: reject the exception",
    "report": "invoice changed after approval: block the release and report it",
}


def _segregation(route: CompiledRoute) -> list[str]:
    if not route.one_person_one_step:
        return ["  RELAXED: one person may approve several steps"]
    lines = ["  one person may approve only one step"]
    both = segregation.shared([step.approvers for step in route.steps])
    lines.extend(
        f"    {person} is listed on steps {', '.join(map(str, steps))}: may decide only one"
        for person, steps in both.items()
    )
    return lines


def render_plan(decision: RouteDecision) -> list[str]:
    """The decided route's plan in words: channel, timers, each step."""
    route = decision.route
    lines = ["", f"decision: {route.name}  ({route.source})", f"  reason: {decision.reason}"]
    if decision.notify_channels:
        lines.append("  also notifies: " + ", ".join(decision.notify_channels))
    lines.append(f"  channel: {route.channel}")
    if route.auto_approve:
        lines.append("  AUTO-APPROVED: no approval is requested")
        return lines
    clock = f"calendar {route.calendar}" if route.calendar else "wall-clock time (no calendar)"
    route_timers = _timers(route.remind_every, route.expire_after, route.on_expire)
    lines.append("  timers: " + "; ".join([clock, *route_timers]))
    lines.extend(_segregation(route))
    lines.append(f"  {_ON_RESUBMIT[route.on_resubmit]}")
    lines.append(f"  {_ON_INVOICE_CHANGE[route.on_invoice_change]}")
    for number, step in enumerate(route.steps, start=1):
        if step.requirements:
            lines.append(f"  step {number}: approvals from each group (a person counts once):")
            lines.extend(
                f"          {r.count} of {len(r.members)} from {r.group}: " + ", ".join(r.members)
                for r in step.requirements
            )
        else:
            rule = "" if step.quorum_rule == str(step.quorum) else f" ({step.quorum_rule})"
            lines.append(
                f"  step {number}: {step.quorum} of {len(step.approvers)}{rule} must approve: "
                + ", ".join(step.approvers)
            )
        step_timers = _timers(step.remind_every, step.expire_after, step.on_expire)
        if step_timers != route_timers:
            lines.append("          own timers: " + ("; ".join(step_timers) or "none"))
        for level, escalation in enumerate(step.escalations):
            lines.append(
                f"          {'then' if level else 'escalate'} after "
                f"{format_duration(escalation.after)} to " + ", ".join(escalation.to)
            )
    return lines


def _timers(remind: timedelta | None, expire: timedelta | None, on_expire: str) -> list[str]:
    timers = [f"remind every {format_duration(remind)}"] if remind else []
    if expire:
        timers.append(f"expire after {format_duration(expire)} → {on_expire}")
    return timers
