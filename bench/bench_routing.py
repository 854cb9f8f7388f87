"""Benchmark: events routed per second against a 200-route policy, on one core.

Run by `make bench` as `python bench/bench_routing.py`. Builds the policy in a temporary
directory (realistic mixed conditions, a catch-all last), generates varied events, and times
`PolicySet.route()` over several repeats with time.perf_counter.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.routing import PolicySet, load_policy_set

ROUTES = 200
EVENTS = 20_000
REPEATS = 5
TYPES = [
    "non_standard_discount",
    "mid_cycle_amendment",
    "invoice_dispute",
    "usage_anomaly",
    "credit_request",
]
TIERS = ["smb", "midmarket", "enterprise", "strategic"]
SOURCES = ["salesforce", "hubspot", "zendesk", "csv"]
CURRENCIES = ["USD", "EUR", "GBP", "CAD"]


def _condition(rng: random.Random, index: int) -> str:
    event_type = TYPES[index % len(TYPES)]
    low = rng.randrange(0, 40)
    amount = rng.choice([1000, 5000, 10000, 25000, 50000, 100000])
    tiers = ", ".join(sorted(rng.sample(TIERS, 2)))
    choices = [
        f"{{type: {event_type}, details.discount_pct: {{gte: {low}}}}}",
        f"{{type: {event_type}, invoice.amount: {{between: [{amount}, {amount * 4}]}}}}",
        f"{{type: {event_type}, customer.tier: {{in: [{tiers}]}}}}",
        f"{{type: {event_type}, source: {rng.choice(SOURCES)}, invoice.currency: "
        f"{rng.choice(CURRENCIES)}}}",
        f"{{type: {event_type}, customer.name: {{matches: 'C{index:03d}.*'}}}}",
        f"{{type: {event_type}, any: [{{details.discount_pct: {{gt: {low}}}}}, "
        f"{{invoice.amount: {{gte: {amount}}}}}], not: {{customer.tier: smb}}}}",
        f"{{type: {event_type}, details.region: {{in: [emea, apac]}}, "
        f"invoice.amount: {{lt: {amount}}}}}",
    ]
    return rng.choice(choices)


def build_policy(directory: Path, rng: random.Random) -> PolicySet:
    """Write a 200-route policy (199 conditional routes + a catch-all) and load it."""
    lines = [
        "version: 1",
        "groups:",
        "  ops: [U0BILLOPS1]",
        "  managers: [U0FINMGR1, U0FINMGR2]",
        "defaults: {channel: C0BILLING}",
        "routes:",
    ]
    seen: set[str] = set()
    for index in range(ROUTES - 1):
        condition = _condition(rng, index)
        while condition in seen:  # the loader rejects a route that repeats an earlier `when`
            condition = _condition(rng, index)
        seen.add(condition)
        lines += [
            f"  - name: route-{index:03d}",
            f"    when: {condition}",
            "    steps: [{approvers: [group:managers], quorum: 1}]",
        ]
    lines += ["  - name: catch-all", "    steps: [{approvers: [group:ops]}]"]
    (directory / "policy.yml").write_text("\n".join(lines) + "\n")
    return load_policy_set(directory)


def make_events(rng: random.Random) -> list[dict[str, Any]]:
    """Varied routing views: all types, amounts as strings, optional details."""
    events = []
    for number in range(EVENTS):
        details: dict[str, Any] = {}
        if rng.random() < 0.7:
            details["discount_pct"] = str(rng.randrange(0, 60))
        if rng.random() < 0.3:
            details["region"] = rng.choice(["emea", "apac", "amer"])
        events.append(
            {
                "event_id": f"evt-{number}",
                "source": rng.choice(SOURCES),
                "type": rng.choice(TYPES),
                "occurred_at": "2026-11-23T10:00:00Z",
                "requested_by": None,
                "customer": {
                    "id": f"C-{number % 500}",
                    "name": f"C{rng.randrange(300):03d} Corp",
                    "tier": rng.choice(TIERS),
                },
                "contract": None,
                "invoice": {
                    "key": f"K-{number}",
                    "number": None,
                    "currency": rng.choice(CURRENCIES),
                    "amount": f"{rng.randrange(100, 400_000)}.{rng.randrange(100):02d}",
                },
                "details": details,
                "reason": None,
            }
        )
    return events


def fall_through_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Worst case: events no conditional route matches, so every candidate route is tried."""
    events = make_events(rng)[:count]
    for event in events:
        event["details"] = {}
        event["source"] = "email"
        event["customer"]["tier"] = None
        event["customer"]["name"] = "Zed Ltd"
        event["invoice"]["currency"] = "JPY"
        event["invoice"]["amount"] = "1.00"
    return events


def measure(policy: PolicySet, events: list[dict[str, Any]]) -> tuple[float, float]:
    """Best and median events per second of `policy.route` over REPEATS passes."""
    route = policy.route
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for event in events:
            route(event)
        timings.append(time.perf_counter() - start)
    return len(events) / min(timings), len(events) / sorted(timings)[REPEATS // 2]


def main() -> None:
    rng = random.Random(20261123)
    with tempfile.TemporaryDirectory() as tmp:
        policy = build_policy(Path(tmp), rng)
    events = make_events(rng)
    best, median = measure(policy, events)
    caught = sum(1 for event in events if policy.route(event).route.catch_all)
    print(
        f"routing: {len(policy.routes)} routes, {len(events)} events, "
        f"{best:,.0f} events/s (best of {REPEATS}); median {median:,.0f} events/s; "
        f"{caught} fell through to the catch-all"
    )
    worst = fall_through_events(rng, 5000)
    assert all(policy.route(event).route.catch_all for event in worst)
    best, median = measure(policy, worst)
    print(
        f"routing worst case: {len(policy.routes)} routes, {len(worst)} events that only the "
        f"catch-all matches, {best:,.0f} events/s (best of {REPEATS}); median {median:,.0f}"
    )


if __name__ == "__main__":
    main()
