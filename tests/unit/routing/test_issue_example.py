"""The policy written in issue 3 loads unchanged and routes as its comments say."""

from __future__ import annotations

from pathlib import Path

from app.routing import load_policy_set

from .conftest import make_event, write_policy

ISSUE_POLICY = """\
version: 1
timezone: America/New_York
calendars:
  finance:
    days: [mon, tue, wed, thu, fri]
    hours: "09:00-18:00"
    holidays: {country: US, extra: ["2026-12-24"]}
groups:
  billing_ops: [U0BILLOPS1, ana@example.com]
  finance_managers: [U0FINMGR1, U0FINMGR2]
  controller: [U0CTRL1]
  cfo: [U0CFO1]
defaults:
  channel: C0BILLING
  calendar: finance
  remind_every: 4h
  expire_after: 5d
  on_expire: escalate
routes:
  - name: small-discount-auto
    when: {type: non_standard_discount, details.discount_pct: {lt: 5}}
    auto_approve: true
  - name: big-discount
    when:
      type: non_standard_discount
      any:
        - details.discount_pct: {gte: 20}
        - invoice.amount: {gte: 50000}
    steps:
      - approvers: [group:finance_managers]
        quorum: 1
        escalate_after: 8h
        escalate_to: [group:controller]
      - approvers: [group:cfo]
  - name: disputes
    when: {type: invoice_dispute}
    channel: C0ARDISPUTES
    steps: [{approvers: [group:billing_ops], escalate_after: 1d,
      escalate_to: [group:finance_managers]}]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""


def test_issue_example_routes(tmp_path: Path) -> None:
    """Small discounts auto-approve, big ones go to the chain, disputes to their channel."""
    policy = load_policy_set(write_policy(tmp_path, ISSUE_POLICY, groups="version: 1\n"))
    small = policy.route(make_event(details__discount_pct="4.5"))
    big = policy.route(make_event(details__discount_pct="10", invoice__amount="50000"))
    dispute = policy.route(make_event(type="invoice_dispute"))
    other = policy.route(make_event(details__discount_pct="10"))
    assert small.route.auto_approve
    assert big.route.name == "big-discount"
    assert big.reason == "type = non_standard_discount; any: invoice.amount 50000 ≥ 50000"
    assert dispute.route.channel == "C0ARDISPUTES"
    assert dispute.route.steps[0].approvers == ("U0BILLOPS1", "ana@example.com")
    assert other.route.name == "catch-all"
    assert other.route.expire_after is not None
    assert other.route.on_expire == "escalate"
