"""`countersign policies check | explain | backtest` as a terminal user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.policies import policies_app

from .conftest import make_event

ROOT = Path(__file__).resolve().parents[3]
POLICIES = ROOT / "policies"
GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()


def test_check_valid_policy_exits_zero() -> None:
    """`check` on the example policy reports OK with counts and the content hash."""
    result = runner.invoke(policies_app, ["check", str(POLICIES)])
    assert result.exit_code == 0
    assert ": OK: 9 routes, 5 groups, 1 calendar; content hash " in result.stdout


def test_check_uses_environment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a folder, `check` reads $COUNTERSIGN_POLICIES."""
    monkeypatch.setenv("COUNTERSIGN_POLICIES", str(POLICIES))
    result = runner.invoke(policies_app, ["check"])
    assert result.exit_code == 0
    assert result.stdout.startswith(str(POLICIES))


def test_check_lists_every_error_and_exits_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check` on a broken policy prints every problem, then a count, and exits 1."""
    monkeypatch.chdir(GOLDEN / "multiple_errors")
    result = runner.invoke(policies_app, ["check", "."])
    assert result.exit_code == 1
    expected = (GOLDEN / "multiple_errors" / "expected.txt").read_text()
    assert result.stderr == expected + "policy .: 5 problems\n"


def test_explain_prints_the_tree() -> None:
    """`explain` shows each route tried, the deciding one, and the approval plan."""
    event = ROOT / "examples" / "discount.json"
    result = runner.invoke(policies_app, ["explain", str(event), "--policies", str(POLICIES)])
    assert result.exit_code == 0
    out = result.stdout
    assert "✗ small-discount-auto" in out
    assert "✓ big-discount" in out
    assert "because any: details.discount_pct 25 ≥ 20" in out
    assert "step 1: 1 of 2 must approve: U0FINMGR1, U0FINMGR2" in out
    assert "escalate after 8h to U0CTRL1\n          then after 1d to U0CFO1\n" in out
    assert "timers: calendar finance; remind every 4h; expire after 5d → escalate" in out


def test_explain_json_matches_the_router() -> None:
    """`explain --format json` gives the decision with durations as policy text."""
    event = ROOT / "examples" / "dispute.json"
    args = ["explain", str(event), "--policies", str(POLICIES), "--format", "json"]
    result = runner.invoke(policies_app, args)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["decision"]["route"]["name"] == "disputes"
    assert data["decision"]["route"]["channel"] == "C0ARDISPUTES"
    assert data["decision"]["route"]["steps"][0]["escalate_after"] == "1d"
    assert data["decision"]["route"]["steps"][0]["escalations"] == [
        {"after": "1d", "to": ["U0FINMGR1", "U0FINMGR2"]}
    ]
    assert [t["outcome"] for t in data["trials"]][:5] == ["no match"] * 4 + ["decides"]


def test_explain_json_lists_every_escalation_level() -> None:
    """`explain --format json` gives each level's delay as policy text and its people."""
    event = ROOT / "examples" / "discount.json"
    args = ["explain", str(event), "--policies", str(POLICIES), "--format", "json"]
    result = runner.invoke(policies_app, args)
    assert result.exit_code == 0
    step = json.loads(result.stdout)["decision"]["route"]["steps"][0]
    assert step["escalations"] == [
        {"after": "8h", "to": ["U0CTRL1"]},
        {"after": "1d", "to": ["U0CFO1"]},
    ]
    assert (step["escalate_after"], step["escalate_to"]) == ("8h", ["U0CTRL1"])


def test_explain_rejects_an_invalid_event(tmp_path: Path) -> None:
    """An event that fails schema v1 is reported field by field with exit code 2."""
    event = make_event()
    del event["customer"]
    event["invoice"]["amount"] = 12.5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(event))
    result = runner.invoke(policies_app, ["explain", str(path), "--policies", str(POLICIES)])
    assert result.exit_code == 2
    assert "not a valid billing event (schema v1):" in result.stderr
    assert "  customer: Field required" in result.stderr
    assert "  invoice.amount: " in result.stderr


def test_explain_reports_bad_json_with_position(tmp_path: Path) -> None:
    """A file that is not JSON is reported with line and column, exit code 2."""
    path = tmp_path / "bad.json"
    path.write_text('{"type":\n  nope}')
    result = runner.invoke(policies_app, ["explain", str(path), "--policies", str(POLICIES)])
    assert result.exit_code == 2
    assert f"{path}:2:3: not valid JSON" in result.stderr


def test_backtest_from_events_file(tmp_path: Path) -> None:
    """`backtest --events` replays a JSON Lines file and prints the table; --since filters."""
    lines = [json.loads((ROOT / "examples" / n).read_text()) for n in ("discount.json",
             "dispute.json", "small-discount.json")]  # fmt: skip
    lines[2]["occurred_at"] = "2025-01-01T00:00:00Z"
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    args = ["backtest", str(POLICIES), "--current", str(POLICIES), "--events", str(events)]
    result = runner.invoke(policies_app, [*args, "--since", "2026-01-01"])
    assert result.exit_code == 0
    assert "backtest: 2 events;" in result.stdout
    assert "events that change route: 0" in result.stdout
    as_json = runner.invoke(policies_app, [*args, "--format", "json"])
    data = json.loads(as_json.stdout)
    assert data["events"] == 3
    assert {r["name"]: r["after"] for r in data["routes"]}["small-discount-auto"] == 1


def test_backtest_with_broken_proposal_exits_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proposed policy with problems is refused before any event is replayed."""
    args = ["backtest", str(GOLDEN / "no_catch_all"), "--current", str(POLICIES)]
    result = runner.invoke(policies_app, [*args, "--events", "/dev/null"])
    assert result.exit_code == 1
    assert "events that match no route have nowhere to go" in result.stderr
    assert "proposed policy" in result.stderr


def test_every_command_has_help() -> None:
    """Each command explains itself in --help, with its exit codes."""
    for command in ("check", "explain", "backtest"):
        result = runner.invoke(policies_app, [command, "--help"])
        assert result.exit_code == 0
        assert "Exit code" in result.stdout


def test_check_prints_warnings_and_still_passes() -> None:
    """Warnings (a person listed twice) go to stderr; `check` exits 0 and says how many."""
    result = runner.invoke(policies_app, ["check", str(GOLDEN / "person_twice_in_group")])
    assert result.exit_code == 0
    assert result.stderr.count("warning: ") == 2
    assert ": OK with 2 warnings: 1 route, 2 groups" in result.stdout


def test_check_strict_fails_on_warnings() -> None:
    """`check --strict` exits 1 when there are warnings, after printing them."""
    folder = GOLDEN / "quorum_ids_and_emails"
    result = runner.invoke(policies_app, ["check", "--strict", str(folder)])
    assert result.exit_code == 1
    assert "may never be met" in result.stderr
    assert "no `access` section" in result.stderr  # the third warning, --strict only
    assert result.stderr.endswith(f"policy {folder}: 3 warnings (--strict)\n")
    assert result.stdout == ""


def test_check_shows_access_and_strict_warns_without_it(tmp_path: Path) -> None:
    """`check` prints who may look at the queue; with no `access` section only --strict
    warns (and fails); a section naming an undefined group is an error with its line."""
    shown = runner.invoke(policies_app, ["check", str(POLICIES)])
    assert "access: viewers U0BILLOPS1, U0FINMGR1, U0FINMGR2; admins U0CTRL1, U0CFO1" in (
        shown.stdout
    )
    folder = GOLDEN / "person_twice_in_group"
    plain = runner.invoke(policies_app, ["check", str(folder)])
    assert plain.exit_code == 0
    assert "access: not set" in plain.stdout
    assert "no `access` section" not in plain.stderr
    (tmp_path / "p.yml").write_text(
        "version: 1\ngroups: {ops: [U0OPS1]}\naccess:\n  viewers: [group:opz]\n"
        "routes:\n  - name: all\n    steps: [{approvers: [group:ops]}]\n"
    )
    broken = runner.invoke(policies_app, ["check", str(tmp_path)])
    assert broken.exit_code == 1
    assert "p.yml:4" in broken.stderr
    assert "undefined group `opz`" in broken.stderr


def test_check_strict_passes_a_clean_policy() -> None:
    """`check --strict` on the example policy (no warnings) exits 0."""
    assert runner.invoke(policies_app, ["check", "--strict", str(POLICIES)]).exit_code == 0


@pytest.mark.parametrize(
    "case", sorted(p.name for p in GOLDEN.iterdir() if p.name.startswith("hostile_"))
)
def test_check_on_a_hostile_file_is_one_line_per_problem(case: str) -> None:
    """`countersign policies check` (a real process) on hostile files: exit 1, no traceback."""
    countersign = Path(sys.executable).parent / "countersign"
    done = subprocess.run(
        [str(countersign), "policies", "check", str(GOLDEN / case)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    expected = (GOLDEN / case / "expected.txt").read_text()
    lines = done.stderr.splitlines()
    assert len(lines) == len(expected.splitlines()) + 1
    assert lines[-1].startswith(f"policy {GOLDEN / case}: ")


def test_check_and_explain_show_a_step_that_needs_several_groups(tmp_path: Path) -> None:
    """`check` lists each `require` step; `explain` shows each group's count and members."""
    checked = runner.invoke(policies_app, ["check", str(POLICIES)])
    assert (
        "route `mid-cycle-amendment` step 1: needs 1 from billing_ops and 1 from "
        "finance_managers (a person in two groups counts once)"
    ) in checked.stdout
    event = json.loads((ROOT / "examples" / "discount.json").read_text())
    event["type"] = "mid_cycle_amendment"
    path = tmp_path / "amendment.json"
    path.write_text(json.dumps(event))
    result = runner.invoke(policies_app, ["explain", str(path), "--policies", str(POLICIES)])
    assert result.exit_code == 0, result.stdout
    assert "✓ mid-cycle-amendment" in result.stdout
    assert (
        "  step 1: approvals from each group (a person counts once):\n"
        "          1 of 1 from billing_ops: U0BILLOPS1\n"
        "          1 of 2 from finance_managers: U0FINMGR1, U0FINMGR2\n"
    ) in result.stdout
    assert "  one person may approve only one step" in result.stdout
