"""`on_resubmit` and `on_invoice_change`: defaults, inheritance from `defaults`, and how
`policies check` and `explain` show them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from app.cli.policies import policies_app
from app.routing import PolicySet

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()
POLICY = """\
version: 1
timezone: UTC
defaults:
  channel: C0BILLING
  on_invoice_change: report
routes:
  - name: anomalies
    when: {type: usage_anomaly}
    on_resubmit: continue
    on_invoice_change: reject
    steps: [{approvers: [group:billing_ops]}]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""


def test_route_keys_override_defaults_and_defaults_apply(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """A route's own keys win; a route without them takes `defaults`, else restart/reapprove."""
    policy = policy_from(POLICY)
    routes = {route.name: route for route in policy.routes}
    assert (routes["anomalies"].on_resubmit, routes["anomalies"].on_invoice_change) == (
        "continue",
        "reject",
    )
    assert (routes["catch-all"].on_resubmit, routes["catch-all"].on_invoice_change) == (
        "restart",
        "report",
    )


def test_check_and_explain_show_the_keys(tmp_path: Path) -> None:
    """`check` names routes that differ from the defaults; `explain` states both rules."""
    checked = runner.invoke(policies_app, ["check", str(ROOT / "policies")])
    assert checked.exit_code == 0
    assert "route usage-anomaly-enterprise: on_resubmit continue, on_invoice_change reject" in (
        checked.stdout
    )
    event = tmp_path / "event.json"
    event.write_text(
        '{"event_id":"e","source":"s","type":"usage_anomaly",'
        '"occurred_at":"2026-11-23T10:00:00Z","customer":{"id":"C","name":"N",'
        '"tier":"enterprise"},"invoice":{"key":"K","currency":"USD","amount":"10.00"}}'
    )
    explained = runner.invoke(
        policies_app, ["explain", str(event), "--policies", str(ROOT / "policies")]
    )
    assert explained.exit_code == 0, explained.stdout
    assert "on resubmit (after Request changes): continue at the step that asked" in (
        explained.stdout
    )
    assert "invoice changed after approval: reject the exception" in explained.stdout
