"""Table-driven matching: every operator and combinator, as the router and explain see it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.routing import PolicySet, explain_event, load_policy_set

from .conftest import make_event, write_policy

_CACHE: dict[str, PolicySet] = {}


def _policy(when: str, tmp_path_factory: pytest.TempPathFactory) -> PolicySet:
    if when not in _CACHE:
        text = f"""\
version: 1
defaults: {{channel: C0BILLING}}
routes:
  - name: target
    when: {when}
    steps: [{{approvers: [group:billing_ops]}}]
  - name: catch-all
    steps: [{{approvers: [group:billing_ops]}}]
"""
        _CACHE[when] = load_policy_set(write_policy(tmp_path_factory.mktemp("p"), text))
    return _CACHE[when]


D = "details__x"
CASES: list[tuple[str, dict[str, Any], bool]] = [
    # equality on text, numbers, booleans
    ("{type: invoice_dispute}", {"type": "invoice_dispute"}, True),
    ("{type: invoice_dispute}", {"type": "credit_request"}, False),
    ("{customer.tier: enterprise}", {"customer__tier": "Enterprise"}, False),
    ("{details.x: 25}", {D: "25"}, True),
    ("{details.x: 25}", {D: "25.00"}, True),
    ("{details.x: 25}", {D: 25}, True),
    ("{details.x: 25}", {D: Decimal("25.0")}, True),
    ("{details.x: 25}", {D: "twenty-five"}, False),
    ("{details.x: 25}", {D: True}, False),
    ("{details.x: '25'}", {D: "25"}, True),
    ("{details.x: '25'}", {D: 25}, False),
    ("{details.x: '25'}", {D: "25.0"}, False),
    ("{details.x: true}", {D: True}, True),
    ("{details.x: true}", {D: "true"}, False),
    ("{details.x: true}", {D: 1}, False),
    ("{contract.number: 007}", {"contract__number": "007"}, True),
    ("{contract.number: 007}", {"contract__number": "7"}, False),
    ("{invoice.amount: 1000}", {"invoice__amount": "1000.00"}, True),
    ("{details.x: {eq: 3}}", {D: 3}, True),
    # ne and missing fields
    ("{customer.tier: {ne: smb}}", {"customer__tier": "enterprise"}, True),
    ("{customer.tier: {ne: smb}}", {"customer__tier": "smb"}, False),
    ("{customer.tier: {ne: smb}}", {"customer__tier": None}, True),
    # in / not_in
    ("{customer.tier: {in: [gold, platinum]}}", {"customer__tier": "gold"}, True),
    ("{customer.tier: {in: [gold, platinum]}}", {"customer__tier": "silver"}, False),
    ("{customer.tier: {in: [gold, platinum]}}", {"customer__tier": None}, False),
    ("{details.x: {in: [1, 2, three]}}", {D: "2.0"}, True),
    ("{details.x: {in: [1, 2, three]}}", {D: "three"}, True),
    ("{details.x: {in: [1, 2, three]}}", {D: True}, False),
    ("{details.x: {not_in: [1, 2]}}", {D: 3}, True),
    ("{details.x: {not_in: [1, 2]}}", {D: "1"}, False),
    ("{details.x: {not_in: [1, 2]}}", {}, True),
    ("{type: {in: [credit_request, invoice_dispute]}}", {"type": "credit_request"}, True),
    ("{type: {not_in: [credit_request]}}", {"type": "credit_request"}, False),
    # numeric comparisons are Decimal, exact at the boundary
    ("{details.x: {lt: 5}}", {D: "4.99"}, True),
    ("{details.x: {lt: 5}}", {D: "5"}, False),
    ("{details.x: {lte: 5}}", {D: "5.000"}, True),
    ("{details.x: {gt: 0.1}}", {D: "0.10000000000000000001"}, True),
    ("{details.x: {gte: 20}}", {D: 20}, True),
    ("{details.x: {gte: 20}}", {D: "19.999"}, False),
    ("{details.x: {gte: 20}}", {D: "abc"}, False),
    ("{details.x: {gte: 20}}", {}, False),
    ("{details.x: {gte: 20}}", {D: "NaN"}, False),
    ("{details.x: {gte: 20}}", {D: True}, False),
    ("{details.x: {gte: -5}}", {D: "-4"}, True),
    ("{details.x: {gte: 1e3}}", {D: "1000"}, True),
    ("{details.x: {gte: 1_000}}", {D: 999}, False),
    ("{invoice.amount: {gte: 50000}}", {"invoice__amount": "50000.00"}, True),
    ("{invoice.amount: {gte: '50000.01'}}", {"invoice__amount": "50000.00"}, False),
    ("{invoice.amount: {between: [100, 200]}}", {"invoice__amount": "100"}, True),
    ("{invoice.amount: {between: [100, 200]}}", {"invoice__amount": "200.00"}, True),
    ("{invoice.amount: {between: [100, 200]}}", {"invoice__amount": "200.01"}, False),
    ("{details.x: {gt: 1, lt: 3}}", {D: 2}, True),
    ("{details.x: {gt: 1, lt: 3}}", {D: 3}, False),
    # matches is a full match of a regular expression
    ("{customer.name: {matches: 'Acme.*'}}", {"customer__name": "Acme Corp"}, True),
    ("{customer.name: {matches: 'Acme'}}", {"customer__name": "Acme Corp"}, False),
    ("{customer.name: {matches: '(?i)acme.*'}}", {"customer__name": "ACME Corp"}, True),
    ("{details.x: {matches: '12.*'}}", {D: 1234}, True),
    ("{details.x: {matches: '.*'}}", {D: False}, False),
    # exists (null counts as missing)
    ("{contract.id: {exists: true}}", {"contract__id": "CTR-1"}, True),
    ("{contract.id: {exists: true}}", {}, False),
    ("{contract.id: {exists: false}}", {}, True),
    ("{requested_by.slack_user_id: {exists: false}}", {}, True),
    ("{details.a.b: {exists: true}}", {"details__a": {"b": 1}}, True),
    ("{details.a.b: {exists: true}}", {"details__a": 5}, False),
    # combinators
    ("{any: [{details.x: 1}, {details.y: 2}]}", {"details__y": 2}, True),
    ("{any: [{details.x: 1}, {details.y: 2}]}", {"details__y": 3}, False),
    ("{all: [{details.x: {gt: 1}}, {details.x: {lt: 9}}]}", {D: 5}, True),
    ("{all: [{details.x: {gt: 1}}, {details.x: {lt: 9}}]}", {D: 9}, False),
    ("{not: {customer.tier: smb}}", {"customer__tier": "smb"}, False),
    ("{not: {customer.tier: smb}}", {"customer__tier": "gold"}, True),
    (
        "{type: credit_request, not: {any: [{details.x: 1}, {details.x: 2}]}}",
        {"type": "credit_request", D: 3},
        True,
    ),
    ("{type: {ne: credit_request}}", {"type": "invoice_dispute"}, True),
]


@pytest.mark.parametrize(("when", "changes", "expected"), CASES)
def test_condition_matches(
    when: str, changes: dict[str, Any], expected: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The route with this `when` matches the event exactly when expected; explain agrees."""
    policy = _policy(when, tmp_path_factory)
    event = make_event(**changes)
    decided = policy.route(event).route.name
    assert decided == ("target" if expected else "catch-all")
    assert explain_event(policy, event).trials[0].matched is expected


@pytest.mark.parametrize(
    ("when", "changes", "reason"),
    [
        (
            "{type: non_standard_discount, details.discount_pct: {gte: 20}}",
            {"details__discount_pct": "25"},
            "type = non_standard_discount; details.discount_pct 25 ≥ 20",
        ),
        (
            "{any: [{details.discount_pct: {gte: 20}}, {invoice.amount: {gte: 50000}}]}",
            {"invoice__amount": "60000.00"},
            "any: invoice.amount 60000.00 ≥ 50000",
        ),
        (
            "{customer.tier: {in: [gold, platinum]}}",
            {"customer__tier": "gold"},
            "customer.tier gold is one of [gold, platinum]",
        ),
        (
            "{not: {customer.tier: smb}}",
            {"customer__tier": "gold"},
            "not: customer.tier is gold, not smb",
        ),
        ("{customer.name: {matches: 'Acme.*'}}", {}, 'customer.name "Acme Corp" matches /Acme.*/'),
        ("{contract.id: {exists: false}}", {}, "contract.id is missing"),
        ("{details.x: 25}", {D: "25.0"}, "details.x 25.0 = 25"),
    ],
)
def test_decision_reason(
    when: str, changes: dict[str, Any], reason: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The decision's reason says in words which conditions held."""
    decision = _policy(when, tmp_path_factory).route(make_event(**changes))
    assert decision.route.name == "target"
    assert decision.reason == reason


@pytest.mark.parametrize(
    ("when", "changes", "reason"),
    [
        ("{details.x: {gte: 20}}", {}, "details.x is missing"),
        ("{details.x: {gte: 20}}", {D: "abc"}, "details.x abc is not a number"),
        ("{details.x: {gte: 20}}", {D: "3"}, "details.x 3 is not ≥ 20"),
        (
            "{details.x: '25'}",
            {D: 25},
            'details.x is the number 25, not the text "25" (quoted in policy)',
        ),
        (
            "{invoice.amount: {between: [100, 200]}}",
            {"invoice__amount": "5.00"},
            "invoice.amount 5.00 is not between 100 and 200",
        ),
        (
            "{customer.name: {matches: 'Acme'}}",
            {},
            'customer.name "Acme Corp" does not match /Acme/',
        ),
    ],
)
def test_explain_says_why_not(
    when: str, changes: dict[str, Any], reason: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A route that does not match explains which condition failed and why."""
    trial = explain_event(_policy(when, tmp_path_factory), make_event(**changes)).trials[0]
    assert trial.matched is False
    assert trial.reasons == (reason,)
    assert trial.outcome == "no match"


def test_type_index_keeps_order_across_types(tmp_path: Path) -> None:
    """A route with no type condition between typed routes is still tried in policy order."""
    policy = load_policy_set(
        write_policy(
            tmp_path,
            """\
version: 1
defaults: {channel: C0BILLING}
routes:
  - name: vip
    when: {customer.tier: vip}
    steps: [{approvers: [U0CFO1]}]
  - name: disputes
    when: {type: invoice_dispute}
    steps: [{approvers: [U0BILLOPS1]}]
  - name: catch-all
    steps: [{approvers: [U0BILLOPS1]}]
""",
        )
    )
    vip_dispute = make_event(type="invoice_dispute", customer__tier="vip")
    assert policy.route(vip_dispute).route.name == "vip"
    assert policy.route(make_event(type="invoice_dispute")).route.name == "disputes"
    assert policy.route(make_event(type="not_a_type")).route.name == "catch-all"
    assert policy.route({}).route.name == "catch-all"
