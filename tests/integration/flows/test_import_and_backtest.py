"""Events imported from a file are stored like webhook events, and backtest replays them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from app.store.tables import ExceptionRow, RejectedEventRow
from tests.e2e.harness import rows

E2E_POLICIES = Path(__file__).parents[2] / "e2e" / "policies"


def _event(n: int, pct: str) -> dict[str, object]:
    return {
        "event_id": f"opp-{n}",
        "source": "crm",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00Z",
        "customer": {"id": "C-1", "name": "Acme"},
        "invoice": {"key": f"INV-{n}", "currency": "USD", "amount": "1000.00"},
        "details": {"discount_pct": pct},
    }


def test_import_then_backtest_shows_what_a_change_would_do(sqlite_url: str, tmp_path: Path) -> None:
    """Importing 3 events, then backtesting a stricter auto-approve rule, moves exactly one."""
    events = tmp_path / "events.json"
    events.write_text(json.dumps([_event(1, "3"), _event(2, "4.5"), _event(3, "25")]))
    env = {"DATABASE_URL": sqlite_url, "COUNTERSIGN_POLICIES": str(E2E_POLICIES)}
    imported = CliRunner().invoke(cli, ["events", "import", str(events)], env=env)
    assert imported.exit_code == 0, imported.output
    assert imported.output == "events.json: 3 created, 0 duplicates, 0 rejected\n"
    assert [row.state for row in rows(sqlite_url, ExceptionRow)] == ["approved", "approved", "open"]

    proposed = tmp_path / "proposed"
    shutil.copytree(E2E_POLICIES, proposed)
    policy = proposed / "routes.yml"
    policy.write_text(policy.read_text().replace("{lt: 5}", "{lt: 4}"))
    result = CliRunner().invoke(
        cli,
        ["policies", "backtest", str(proposed), "--current", str(E2E_POLICIES), "--format", "json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["events"] == 3
    assert [e["label"] for e in report["no_longer_auto_approved"]] == ["BX-000002"]
    assert [(e["before"], e["after"]) for e in report["changed"]] == [
        ("small-discount-auto", "catch-all")
    ]


def test_import_reports_invalid_events_and_exits_1(sqlite_url: str, tmp_path: Path) -> None:
    """A file with an invalid event imports the rest, keeps it as rejected naming the bad field
    and its line, and exits 1."""
    bad = _event(9, "3") | {"type": "refund"}
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"events": [_event(8, "3"), bad]}))
    env = {"DATABASE_URL": sqlite_url, "COUNTERSIGN_POLICIES": str(E2E_POLICIES)}
    result = CliRunner().invoke(cli, ["events", "import", str(events)], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("events.json: 1 created, 0 duplicates, 1 rejected; ")
    (rejected,) = rows(sqlite_url, RejectedEventRow)
    assert json.loads(rejected.payload) == json.loads(json.dumps(bad))
    assert [(e["line"], e["field"]) for e in rejected.errors] == [("1", "type")]
