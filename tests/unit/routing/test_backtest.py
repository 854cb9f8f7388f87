"""Backtest core: per-route counts, approver load and the events whose handling changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.domain.stored_event import StoredEvent
from app.routing import load_policy_set
from app.routing.backtest import BacktestReport, backtest, render_backtest_table

from .conftest import make_event, write_policy

CURRENT = """\
version: 1
defaults: {channel: C0BILLING}
routes:
  - name: discounts
    when: {type: non_standard_discount}
    steps: [{approvers: [group:finance_managers]}]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""
PROPOSED = """\
version: 1
defaults: {channel: C0BILLING}
routes:
  - name: tiny-discount
    when: {type: non_standard_discount, details.discount_pct: {lt: 5}}
    auto_approve: true
  - name: discounts
    when: {type: non_standard_discount}
    steps: [{approvers: [group:controller]}]
  - name: disputes
    when: {type: invoice_dispute}
    steps: [{approvers: [group:billing_ops]}]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""
WHEN = datetime(2026, 11, 23, 10, tzinfo=UTC)


def _stored(label: str, **changes: Any) -> StoredEvent:
    return StoredEvent(label=label, received_at=WHEN, view=make_event(**changes))


def _report(tmp_path: Path) -> BacktestReport:
    current = load_policy_set(write_policy(tmp_path / "current", CURRENT))
    proposed = load_policy_set(write_policy(tmp_path / "proposed", PROPOSED))
    events = [
        _stored("BX-1", details__discount_pct="3"),
        _stored("BX-2", details__discount_pct="30"),
        _stored("BX-3", type="invoice_dispute"),
        _stored("BX-4", type="usage_anomaly"),
    ]
    return backtest(current, proposed, events)


def test_route_counts_before_and_after(tmp_path: Path) -> None:
    """Each route gets its number of events under the current and the proposed policy."""
    counts = {c.name: (c.before, c.after, c.change) for c in _report(tmp_path).routes}
    assert counts == {
        "tiny-discount": (0, 1, 1),
        "discounts": (2, 1, -1),
        "disputes": (0, 1, 1),
        "catch-all": (2, 1, -1),
    }


def test_approver_load_counts_requests_per_person(tmp_path: Path) -> None:
    """Approver load counts the events in which each person would be asked to approve."""
    load = {c.name: (c.before, c.after) for c in _report(tmp_path).approvers}
    assert load == {
        "U0FINMGR1": (2, 0),
        "U0FINMGR2": (2, 0),
        "U0CTRL1": (0, 1),
        "U0BILLOPS1": (2, 2),
    }


def test_changed_auto_approved_and_unmatched_events(tmp_path: Path) -> None:
    """Events that change route, become auto-approved or fall to the catch-all are listed."""
    report = _report(tmp_path)
    assert [(o.label, o.before, o.after) for o in report.changed] == [
        ("BX-1", "discounts", "tiny-discount"),
        ("BX-3", "catch-all", "disputes"),
    ]
    assert [o.label for o in report.now_auto_approved] == ["BX-1"]
    assert report.now_auto_approved[0].reason.endswith("details.discount_pct 3 < 5")
    assert report.no_longer_auto_approved == ()
    assert [o.label for o in report.unmatched] == ["BX-4"]
    assert report.unmatched_before == 2
    assert report.events == 4


def test_json_and_table_renderings(tmp_path: Path) -> None:
    """The report renders as JSON-ready data and as a table naming the changed events."""
    report = _report(tmp_path)
    data = json.loads(json.dumps(report.to_json()))
    assert data["events"] == 4
    assert data["changed"][0]["received_at"] == "2026-11-23T10:00:00+00:00"
    assert data["routes"][0] == {"name": "tiny-discount", "before": 0, "after": 1, "change": 1}
    table = render_backtest_table(report)
    assert "events that would now be AUTO-APPROVED: 1" in table
    assert "BX-3  2026-11-23 10:00  invoice_dispute  catch-all → disputes" in table


def test_long_lists_are_cut_in_the_table(tmp_path: Path) -> None:
    """The table shows at most `limit` events per list and says how many more there are."""
    current = load_policy_set(write_policy(tmp_path / "current", CURRENT))
    proposed = load_policy_set(write_policy(tmp_path / "proposed", PROPOSED))
    events = [_stored(f"BX-{n}", type="invoice_dispute") for n in range(7)]
    table = render_backtest_table(backtest(current, proposed, events), limit=5)
    assert "… and 2 more (use --format json for all)" in table
