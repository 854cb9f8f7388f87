"""The access review's reading of a policy: who may decide which step, under which terms."""

from __future__ import annotations

from collections.abc import Callable

from app.routing import PolicySet
from app.routing.access import CHANGE_CONTROL_ROUTE, authorities, compare, describe, people, terms

POLICY = """\
version: 1
admin_channel: C0ADMIN
change_control: {approvers: [group:cfo]}
defaults: {channel: C0BILLING}
routes:
  - name: watch
    when: {invoice.amount: {gte: 100000}}
    continue: true
    channel: C0ADMIN
  - name: auto
    when: {type: non_standard_discount, details.discount_pct: {lt: 5}}
    auto_approve: true
  - name: odd
    when:
      any:
        - invoice.currency: {in: [EUR, GBP]}
        - customer.name: {matches: "Acme.*"}
        - not: {details.code: {exists: true}}
        - invoice.amount: {between: [10, 20]}
    steps: [{approvers: [group:controller]}]
  - name: discount
    when: {type: non_standard_discount}
    steps:
      - approvers: [group:finance_managers]
        quorum: majority
        escalations: [{after: 8h, to: [group:controller]}, {after: 1d, to: [U0FINMGR1]}]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""


def test_conditions_read_as_words(policy_from: Callable[[str], PolicySet]) -> None:
    """Every operator is shown as a person reads it, amounts included."""
    policy = policy_from(POLICY)
    assert describe(policy.condition("odd")) == (
        "invoice.currency in [EUR, GBP] or customer.name matches /Acme.*/ or "
        "not (details.code is present) or invoice.amount between 10 and 20"
    )
    assert describe(policy.condition("auto")) == (
        "type = non_standard_discount and details.discount_pct < 5"
    )


def test_steps_escalations_and_change_control_grant_authority(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """Approvers and escalation targets of each step, and change_control approvers, are
    listed; notify-only and auto-approved routes grant nothing."""
    granted = authorities(policy_from(POLICY))
    routes = {a.route for a in granted}
    assert routes == {"odd", "discount", "catch-all", CHANGE_CONTROL_ROUTE}
    discount = [(a.person, a.role, a.quorum) for a in granted if a.route == "discount"]
    assert discount == [
        ("U0FINMGR1", "approver", "2 of 2 (majority)"),
        ("U0FINMGR2", "approver", "2 of 2 (majority)"),
        ("U0CTRL1", "after escalation 1 (8h)", "2 of 2 (majority)"),
    ]
    (first,) = [a for a in granted if a.route == "discount" and a.person == "U0CTRL1"]
    assert first.conditions == (
        "type = non_standard_discount; unless an earlier route took it (auto, odd)"
    )
    (control,) = [a for a in granted if a.route == CHANGE_CONTROL_ROUTE]
    assert (control.person, control.channel, control.step) == ("U0CFO1", "C0ADMIN", 0)


def test_everyone_in_a_group_is_reviewed(policy_from: Callable[[str], PolicySet]) -> None:
    """Group members are covered even when they decide nothing, each person once."""
    policy = policy_from(POLICY)
    assert people(policy, authorities(policy)) == [
        "U0BILLOPS1",
        "U0CFO1",
        "U0CTRL1",
        "U0FINMGR1",
        "U0FINMGR2",
    ]


def test_compare_names_gained_lost_and_changed(policy_from: Callable[[str], PolicySet]) -> None:
    """Against an earlier review: new authority is gained, missing is lost, other terms changed."""
    granted = authorities(policy_from(POLICY))
    previous = {a.key: (a.person, terms(a.quorum, a.conditions)) for a in granted}
    (ops,) = [a for a in granted if a.person == "U0BILLOPS1"]
    del previous[ops.key]
    previous[("u0gone", "odd", 1, "approver")] = ("U0GONE", "1 of 1; when x")
    (ctrl,) = [a for a in granted if a.person == "U0CTRL1" and a.route == "odd"]
    previous[ctrl.key] = ("U0CTRL1", "1 of 1; when something else")
    changes = compare(previous, granted)
    assert [(c.kind, c.person, c.route) for c in changes] == [
        ("gained", "U0BILLOPS1", "catch-all"),
        ("changed", "U0CTRL1", "odd"),
        ("lost", "U0GONE", "odd"),
    ]
    assert changes[1].before == "1 of 1; when something else"
