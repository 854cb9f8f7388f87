"""Events imported from a file are stored like webhook events, and backtest replays them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli

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
    assert [json.loads(line)["state"] for line in imported.output.splitlines()] == [
        "approved",
        "approved",
        "open",
    ]

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
    """A file with an invalid event imports the rest and exits 1 naming the bad field."""
    bad = _event(9, "3") | {"type": "refund"}
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"events": [_event(8, "3"), bad]}))
    env = {"DATABASE_URL": sqlite_url, "COUNTERSIGN_POLICIES": str(E2E_POLICIES)}
    result = CliRunner().invoke(cli, ["events", "import", str(events)], env=env)
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["status"] for line in lines] == ["created", "rejected"]
    assert lines[1]["errors"][0]["field"] == "type"
