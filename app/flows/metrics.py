"""What the control did, counted by the instance that did it (after its transaction committed):
sum these over instances. What the database holds (open exceptions, their age, the outbox) is
read from the database at scrape instead (app/store/gauges.py), so instances never double count
it: take the max over instances, not the sum."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DECISIONS = Counter(
    "countersign_decisions_total",
    "Decisions recorded (approve or reject), by route",
    ["route", "outcome"],
)
TIME_TO_DECISION = Histogram(
    "countersign_time_to_decision_seconds",
    "From the exception opening to its final decision (approved or rejected), by route",
    ["route", "outcome"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
RELEASES = Counter(
    "countersign_releases_total",
    "Release attempts that finished, by outcome (released, blocked, failed)",
    ["outcome"],
)
TIMERS_FIRED = Counter(
    "countersign_timers_fired_total", "Timers fired, by kind (remind, escalate, expire)", ["kind"]
)


def decision(route: str, outcome: str, final_after: float | None) -> None:
    """One decision recorded; `final_after` is the seconds since opening when it was final."""
    DECISIONS.labels(route, outcome).inc()
    if final_after is not None:
        TIME_TO_DECISION.labels(route, outcome).observe(max(0.0, final_after))
