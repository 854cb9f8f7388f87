"""`countersign policies history|diff` and `countersign access review` as a terminal user runs
them (the installed CLI as a subprocess), against a real database on each backend, after the
flows stored policy versions and recorded a decision."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.clock import SystemClock
from app.domain.approval import Actor, Outcome
from app.flows import delegation
from app.flows.decide import DecisionCommand, decide
from app.flows.delegation import DelegateCommand
from app.flows.policy_control import PolicyControl
from app.flows.policy_holder import PolicyHolder
from app.store.db import Database
from tests.e2e.harness import COUNTERSIGN
from tests.factories import open_exception

POLICY = """\
version: 1
timezone: UTC
admin_channel: C0ADMIN
groups:
  managers: [U0FINMGR1, cfo@example.com]
  ops: [U0BILLOPS1]
  idle: [nobody@example.com]
defaults: {channel: C0BILLING, calendar: none}
routes:
  - name: big-credit
    when: {type: credit_request, invoice.amount: {gte: 10000}}
    steps:
      - approvers: [group:managers]
        quorum: all
        escalate_after: 8h
        escalate_to: [U0CTRL1]
  - name: catch-all
    steps: [{approvers: [group:ops]}]
"""


def _cli(database_url: str, *args: str, code: int = 0, cwd: Path | None = None) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "COUNTERSIGN_POLICIES": "/nonexistent"}
    done = subprocess.run(
        [COUNTERSIGN, *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "routes.yml").write_text(POLICY)
    return policies


def _control(db: Database, folder: Path) -> PolicyControl:
    return PolicyControl(db, PolicyHolder(folder), SystemClock(), host="review-host", pid=4242)


def test_history_and_diff_read_the_stored_versions(
    db: Database, database_url: str, folder: Path
) -> None:
    """Each loading is listed newest first with host and pid; diff shows the change per file."""
    control = _control(db, folder)
    control.start()
    (folder / "routes.yml").write_text(POLICY.replace("quorum: all", "quorum: 1"))
    (folder / "extra.yml").write_text("version: 1\ngroups:\n  spare: [U0CFO1]\n")
    assert control.reload().applied
    listed = json.loads(_cli(database_url, "policies", "history", "--format", "json"))
    assert [(r["trigger"], r["status"], r["in_force"]) for r in listed] == [
        ("reload", "applied", True),
        ("start", "applied", False),
    ]
    assert (listed[0]["host"], listed[0]["pid"]) == ("review-host", 4242)
    assert listed[0]["files"] == ["extra.yml", "routes.yml"]
    table = _cli(database_url, "policies", "history")
    assert "applied, in force" in table
    assert "review-host/4242" in table
    old, new = listed[1]["content_hash"], listed[0]["content_hash"]
    diff = _cli(database_url, "policies", "diff", old[:6], "current")
    assert f"--- {old[:12]}/routes.yml\n+++ {new[:12]}/routes.yml" in diff
    assert "-        quorum: all\n+        quorum: 1" in diff
    assert f"--- /dev/null\n+++ {new[:12]}/extra.yml" in diff
    from_disk = _cli(database_url, "policies", "diff", "current", str(folder))
    assert "no differences" in from_disk


def test_access_review_lists_authority_and_last_decision_and_compares(
    db: Database, database_url: str, folder: Path, tmp_path: Path
) -> None:
    """The review names each person's routes, steps, conditions, amounts and last decision;
    --against shows who gained and who lost authority."""
    _control(db, folder).start()
    exception = open_exception(db, steps=[{"approvers": ["U0FINMGR1"], "quorum": 1}])
    moment = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    actor = Actor("U0FINMGR1", "fin.one@example.com")
    assert decide(db, DecisionCommand(exception, actor, Outcome.APPROVE), now=moment).recorded

    text = _cli(database_url, "access", "review")
    assert "access review of policy " in text
    assert "U0FINMGR1 (also fin.one@example.com)" in text
    assert "last decision: 2026-11-24 09:30 UTC approve BX-000001" in text
    assert "nobody@example.com\n  groups: idle; last decision: never" in text
    assert "may decide nothing" in text

    review = _cli(database_url, "access", "review", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(review)))
    mine = [r for r in rows if r["person"] == "U0FINMGR1" and r["route"] == "big-credit"]
    assert len(mine) == 1
    assert mine[0]["step"] == "1"
    assert mine[0]["quorum"] == "2 of 2 (all)"
    assert mine[0]["conditions"] == "type = credit_request and invoice.amount ≥ 10000"
    assert mine[0]["active_delegations"] == "—"
    (escalated,) = [r for r in rows if r["person"] == "U0CTRL1"]
    assert escalated["role"] == "after escalation 1 (8h)"
    (ops,) = [r for r in rows if r["person"] == "U0BILLOPS1"]
    assert (
        ops["conditions"] == "every event (catch-all); unless an earlier route took it (big-credit)"
    )
    previous = tmp_path / "review-2026-Q4.csv"
    previous.write_text(review)

    changed = POLICY.replace("managers: [U0FINMGR1, cfo@example.com]", "managers: [U0FINMGR1]")
    (folder / "routes.yml").write_text(changed.replace("ops: [U0BILLOPS1]", "ops: [U0CFO1]"))
    assert _control(db, folder).reload().applied
    delta = _cli(database_url, "access", "review", "--against", str(previous))
    assert "1 gained, 2 lost, 2 changed" in delta
    assert "+ U0CFO1 may now decide catch-all step 1 (approver)" in delta
    assert "- U0BILLOPS1 may no longer decide catch-all step 1 (approver)" in delta
    assert "- cfo@example.com may no longer decide big-credit step 1 (approver)" in delta
    assert "~ U0FINMGR1 on big-credit step 1 (approver): 2 of 2 (all)" in delta
    as_csv = _cli(database_url, "access", "review", "--against", str(previous), "--format", "csv")
    kinds = sorted(r["change"] for r in csv.DictReader(io.StringIO(as_csv)))
    assert kinds == ["changed", "changed", "gained", "lost", "lost"]


def test_a_bad_previous_review_is_one_line(database_url: str, tmp_path: Path) -> None:
    """A missing, foreign or malformed --against file is one clear line, exit 2."""
    missing = _cli(database_url, "access", "review", "--against", "nope.csv", code=2, cwd=tmp_path)
    assert missing.strip() == "countersign: cannot read nope.csv: No such file or directory"
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    out = _cli(database_url, "access", "review", "--against", str(foreign), code=2)
    assert "is not an access review CSV" in out
    assert "missing columns person, route, step, role, quorum, conditions" in out
    broken = tmp_path / "broken.csv"
    broken.write_text("person,route,step,role,quorum,conditions\nU0A,r,one,approver,1 of 1,x\n")
    out = _cli(database_url, "access", "review", "--against", str(broken), code=2)
    assert f"{broken}:2: step 'one' is not a number" in out
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    out = _cli(database_url, "access", "review", "--against", str(binary), code=2)
    assert "is not a CSV file" in out


def test_access_review_shows_active_delegations_both_ways(
    db: Database, database_url: str, folder: Path
) -> None:
    """A delegation in force shows on both people: the delegate "decides for" the delegator,
    the delegator has the delegate deciding for them; a revoked one shows on neither."""
    _control(db, folder).start()
    now = datetime.now(UTC)
    until = (now + timedelta(days=10)).date()
    command = DelegateCommand(Actor("U0FINMGR1", "fin.one@example.com"), "U0CFO1", until, "UTC")
    delegation.create(db, command, now=now)
    rows = list(
        csv.DictReader(io.StringIO(_cli(database_url, "access", "review", "--format", "csv")))
    )
    given = {r["active_delegations"] for r in rows if r["person"] == "U0FINMGR1"}
    assert given == {f"U0CFO1 decides for them until {until.isoformat()}"}
    delegation.revoke(db, "U0FINMGR1", now=now)
    again = list(
        csv.DictReader(io.StringIO(_cli(database_url, "access", "review", "--format", "csv")))
    )
    assert {r["active_delegations"] for r in again if r["person"] == "U0FINMGR1"} == {"—"}
