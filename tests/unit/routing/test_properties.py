"""Property tests: explain always agrees with the router; a catch-all always catches."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from app.routing import PolicyLoadError, PolicySet, explain_event, load_policy_set

from .conftest import GROUPS

TYPES = [
    "non_standard_discount",
    "mid_cycle_amendment",
    "invoice_dispute",
    "usage_anomaly",
    "credit_request",
]
TIERS = ["smb", "gold", "enterprise"]
NUMBERS = ["0", "5", "19.99", "20", "25.0", "50000", "-3"]

detail_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-100, 100_000),
    st.sampled_from(NUMBERS),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1000, max_value=1000),
    st.text(max_size=6),
    st.sampled_from(TIERS),
)
events = st.fixed_dictionaries(
    {
        "type": st.one_of(st.sampled_from(TYPES), st.text(max_size=5), st.none(), st.integers()),
        "source": st.sampled_from(["salesforce", "csv"]),
        "customer": st.one_of(
            st.fixed_dictionaries(
                {
                    "id": st.just("C-1"),
                    "name": st.sampled_from(["Acme Corp", "Globex"]),
                    "tier": st.one_of(st.none(), st.sampled_from(TIERS)),
                }
            ),
            st.none(),
            st.integers(),
        ),
        "invoice": st.fixed_dictionaries(
            {
                "currency": st.sampled_from(["USD", "EUR"]),
                "amount": st.one_of(st.sampled_from(NUMBERS), st.text(max_size=4), st.integers()),
            }
        ),
        "details": st.dictionaries(st.sampled_from(["x", "y", "discount_pct"]), detail_value),
    }
)

PATHS = ["details.x", "details.y", "details.discount_pct", "invoice.amount", "customer.tier"]


@st.composite
def leaves(draw: st.DrawFn) -> str:
    """One field test, rendered as YAML flow text."""
    kind = draw(st.sampled_from(["type", "number", "text", "exists", "matches", "in"]))
    if kind == "type":
        op = draw(st.sampled_from(["eq", "ne"]))
        return f"{{type: {{{op}: {draw(st.sampled_from(TYPES))}}}}}"
    if kind == "number":
        path = draw(st.sampled_from([p for p in PATHS if p != "customer.tier"]))
        op = draw(st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]))
        return f"{{{path}: {{{op}: {draw(st.sampled_from(NUMBERS))}}}}}"
    if kind == "text":
        path = draw(st.sampled_from(["customer.tier", "details.x"]))
        return f"{{{path}: {draw(st.sampled_from(TIERS))}}}"
    if kind == "exists":
        return f"{{{draw(st.sampled_from(PATHS))}: {{exists: {draw(st.booleans())}}}}}".lower()
    if kind == "matches":
        return f"{{customer.name: {{matches: '{draw(st.sampled_from(['Acme.*', 'Glo', '.*']))}'}}}}"
    values = draw(st.lists(st.sampled_from([*TIERS, *NUMBERS]), min_size=1, max_size=3))
    op = draw(st.sampled_from(["in", "not_in"]))
    return f"{{details.x: {{{op}: [{', '.join(values)}]}}}}"


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"{{any: [{', '.join(xs)}]}}"),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"{{all: [{', '.join(xs)}]}}"),
        inner.map(lambda x: f"{{not: {x}}}"),
    ),
    max_leaves=6,
)


def _load(whens: list[str], notify: list[bool]) -> PolicySet:
    lines = ["version: 1", "defaults: {channel: C0BILLING}", "routes:"]
    for index, (when, is_notify) in enumerate(zip(whens, notify, strict=True)):
        lines += [f"  - name: r{index}", f"    when: {when}"]
        lines += (
            ["    continue: true", "    channel: C0ADMIN"]
            if is_notify
            else ["    steps: [{approvers: [group:billing_ops]}]"]
        )
    lines += ["  - name: catch-all", "    steps: [{approvers: [group:billing_ops]}]"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "groups.yml").write_text(GROUPS)
        (Path(tmp) / "policy.yml").write_text("\n".join(lines) + "\n")
        try:
            return load_policy_set(Path(tmp))
        except PolicyLoadError as exc:
            if all("can never match" in p.message for p in exc.problems):
                reject()
            raise


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    whens=st.lists(conditions, min_size=1, max_size=5),
    notify=st.lists(st.booleans(), min_size=5, max_size=5),
    batch=st.lists(events, min_size=1, max_size=8),
)
def test_explain_agrees_with_router(whens: list[str], notify: list[bool], batch: list[Any]) -> None:
    """For generated policies and events, explain's decision and trials equal the router's."""
    policy = _load(whens, notify[: len(whens)])
    for event in batch:
        decision = policy.route(event)
        explanation = explain_event(policy, event)
        assert explanation.decision == decision
        for trial, route in zip(explanation.trials, policy.routes, strict=True):
            assert trial.matched is policy.condition(route.name).predicate()(event)
        deciding = [t for t in explanation.trials if t.outcome == "decides"]
        assert [t.name for t in deciding] == [decision.route.name]


@settings(max_examples=300, deadline=None)
@given(event=st.one_of(events, st.dictionaries(st.text(max_size=4), detail_value)))
def test_catch_all_always_matches(event: dict[str, Any]) -> None:
    """Whatever the event holds, the example policy decides it and its catch-all matches it."""
    policy = _example()
    decision = policy.route(event)
    assert decision.route.name in {r.name for r in policy.routes}
    assert explain_event(policy, event).trials[-1].matched is True
    assert explain_event(policy, event).trials[-1].name == "catch-all"


_EXAMPLE: list[PolicySet] = []


def _example() -> PolicySet:
    if not _EXAMPLE:
        _EXAMPLE.append(load_policy_set(Path(__file__).resolve().parents[3] / "policies"))
    return _EXAMPLE[0]


def test_decimal_event_values_route_like_strings() -> None:
    """A Decimal in details routes exactly like the same figure written as a string."""
    policy = _example()
    base: dict[str, Any] = {"type": "non_standard_discount", "invoice": {"amount": "980.00"}}
    as_text = policy.route({**base, "details": {"discount_pct": "3"}})
    as_decimal = policy.route({**base, "details": {"discount_pct": Decimal("3.0")}})
    assert as_text.route == as_decimal.route
