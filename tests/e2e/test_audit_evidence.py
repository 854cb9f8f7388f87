"""Audit evidence as an auditor gets it: `countersign audit verify|export|anchor` as real processes,
next to `countersign serve` taking billing events over HTTP."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_emulator import SlackEmulator
from app.store import audit
from app.store.db import Database
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, process_env, serve_process, wait_for

ANCHOR_KEY = "test-anchor-key-not-a-real-secret"


@dataclass
class Served:
    url: str
    env: dict[str, str]
    db_path: Path
    anchors: Path
    slack: SlackEmulator


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """Countersign serving in its own process on SQLite, with an anchor file configured."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    anchors = tmp_path / "anchors.jsonl"
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=POLICIES,
        AUDIT_ANCHOR_FILE=str(anchors),
        AUDIT_ANCHOR_KEY=ANCHOR_KEY,
    )
    try:
        with serve_process(env) as url:
            yield Served(url, env, tmp_path / "countersign.db", anchors, slack)
    finally:
        slack.stop()
        intacct.stop()


def _event(n: int) -> dict[str, object]:
    return {
        "event_id": f"evt-audit-{n}",
        "source": "salesforce",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00-05:00",
        "requested_by": {"slack_user_id": "U0REQUEST1"},
        "customer": {"id": f"C-{n}", "name": f"Customer {n}", "tier": "enterprise"},
        "invoice": {"key": f"INV-{n}", "number": f"INV-{n}", "currency": "USD", "amount": "900.00"},
        "details": {"discount_pct": "25"},
        "reason": "renewal",
    }


def _send(served: Served, client: httpx.Client, n: int) -> int:
    body = json.dumps(_event(n)).encode()
    secret = served.env["BILLING_WEBHOOK_SECRET"]
    headers = webhook.signed_headers(secret, int(time.time()), body)
    return client.post(f"{served.url}/billing-events", content=body, headers=headers).status_code


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, "audit", *args], env=env, capture_output=True, text=True, check=False
    )


def _at_rest(served: Served, cards: int) -> None:
    """Every card delivered, nothing left pending or retrying in the outbox, no timer overdue."""
    wait_for(lambda: len(served.slack.messages("C0BILLING")) >= cards, what=f"{cards} cards")

    def settled() -> bool:
        with sqlite3.connect(served.db_path) as connection:
            busy = connection.execute("SELECT count(*) FROM outbox WHERE state != 'done'")
            overdue = connection.execute(
                "SELECT count(*) FROM timer WHERE state = 'pending' AND due_at < ?",
                (datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "),),
            )
            return busy.fetchone()[0] == 0 and overdue.fetchone()[0] == 0

    wait_for(settled, what="the outbox at rest")


def test_verify_is_read_only_while_the_server_keeps_writing(served: Served) -> None:
    """`audit verify` runs again and again while events arrive: every event is accepted and
    every verify finds the chain intact (it takes no write lock)."""
    assert _run(served.env, "anchor").returncode == 0  # verify checks the anchors as well
    statuses: list[int] = []
    done = threading.Event()

    def post_events() -> None:
        with httpx.Client(timeout=30) as client:
            statuses.extend(_send(served, client, n) for n in range(20))
        done.set()

    poster = threading.Thread(target=post_events)
    poster.start()
    runs = []
    while not done.is_set() or not runs:
        runs.append(_run(served.env, "verify"))
    poster.join()
    assert statuses == [202] * 20
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    assert all(run.stdout.startswith("audit chain intact: ") for run in runs)
    _at_rest(served, 20)
    final = _run(served.env, "verify")
    assert final.returncode == 0, final.stderr
    with sqlite3.connect(served.db_path) as connection:
        entries = connection.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
    assert f"audit chain intact: {entries} entries" in final.stdout


def test_anchor_export_and_verify_as_an_auditor_runs_them(served: Served, tmp_path: Path) -> None:
    """anchor, export (csv and one exception as jsonl), verify --export and verify against the
    anchors all succeed; then a cut tail with a rewritten head is caught by the anchors."""
    with httpx.Client(timeout=30) as client:
        assert [_send(served, client, n) for n in range(3)] == [202] * 3
    _at_rest(served, 3)
    anchored = _run(served.env, "anchor")
    assert anchored.returncode == 0, anchored.stderr
    assert anchored.stdout.startswith("checkpoint written: entry ")

    out = tmp_path / "q4.csv"
    exported = _run(served.env, "export", "--format", "csv", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((tmp_path / "q4.csv.manifest.json").read_text())
    checked = _run(served.env, "verify", "--export", str(out))
    assert checked.returncode == 0, checked.stderr
    rows = manifest["rows"]
    assert (
        f"audit export intact: {rows} rows, entries 1..{rows}, a contiguous run" in checked.stdout
    )

    one = tmp_path / "bx1.jsonl"
    exported = _run(
        served.env, "export", "--format", "jsonl", "--exception", "BX-000001", "--out", str(one)
    )
    assert exported.returncode == 0, exported.stderr
    checked = _run(served.env, "verify", "--export", str(one))
    assert checked.returncode == 0, checked.stderr
    assert "cannot be detected from the file" in checked.stdout

    against = _run(served.env, "verify")
    assert against.returncode == 0, against.stderr
    # the one just written, and the server's own at start (its policy load is entry 1)
    written = len(served.anchors.read_text().splitlines())
    assert written >= 1
    assert f"{written} checkpoints of {served.anchors} match" in against.stdout

    with sqlite3.connect(served.db_path) as connection:  # the database owner hides the tail
        kept = connection.execute("SELECT hash FROM audit_entry WHERE seq = 2").fetchone()[0]
        connection.execute("DELETE FROM audit_entry WHERE seq > 2")
        connection.execute("UPDATE audit_head SET seq = 2, hash = ?", (kept,))
    broken = _run(served.env, "verify")
    assert broken.returncode == 1
    assert broken.stderr.count("\n") == 1
    assert "audit chain BROKEN at entry 3: entries after 2 were removed and the head rewritten" in (
        broken.stderr
    )


def _cli_env(url: str) -> dict[str, str]:
    """The environment of a one-off command: the database, no anchor settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUDIT_")}
    return env | {"DATABASE_URL": url}


def _seed(url: str, count: int) -> None:
    database = Database(url)
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with database.transaction() as session:
        for n in range(count):
            audit.append(
                session, at=t0 + timedelta(minutes=n), actor="U0A", action="t.x", detail={"n": n}
            )
    database.dispose()


def test_cli_catches_a_rewritten_tail_on_each_backend(database_url: str, tmp_path: Path) -> None:
    """On SQLite and PostgreSQL: a re-chained tail passes plain verify, fails against anchors."""
    env = _cli_env(database_url) | {"AUDIT_ANCHOR_KEY": ANCHOR_KEY}
    anchors = tmp_path / "anchors.jsonl"
    _seed(database_url, 4)
    assert _run(env | {"AUDIT_ANCHOR_FILE": str(anchors)}, "anchor").returncode == 0
    database = Database(database_url)
    with database.engine.begin() as connection:  # rewrite entry 4 and re-seal the chain
        prev = connection.exec_driver_sql("SELECT hash FROM audit_entry WHERE seq = 3").scalar()
        values = audit.entry_values(
            str(prev), 4, at=datetime(2026, 11, 23, 9, 3, tzinfo=UTC), actor="U0A", action="t.x"
        )
        connection.execute(
            text("UPDATE audit_entry SET detail = '{}', hash = :h, canonical = :c WHERE seq = 4"),
            {"h": values["hash"], "c": values["canonical"]},
        )
        connection.execute(text("UPDATE audit_head SET hash = :h"), {"h": values["hash"]})
    database.dispose()
    plain = _run(env, "verify")
    assert plain.returncode == 0, plain.stderr
    anchored = _run(env, "verify", "--anchors", str(anchors))
    assert anchored.returncode == 1
    assert anchored.stderr.strip() == (
        "countersign: audit chain BROKEN at entry 4: entry 4 was rewritten: its hash differs"
        " from the anchored checkpoint"
    )


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["export", "--format", "xml"], {}, "--format must be csv or jsonl, not 'xml'"),
        (["export", "--since", "last week"], {}, "'last week' is not a date such as 2026-11-01"),
        (["export", "--exception", "ACME"], {}, "'ACME' is not an exception id such as BX-000123"),
        (["export", "--since", "2026-12-01", "--until", "2026-11-01"], {}, "--since must be"),
        (["verify", "--export", "nowhere.csv"], {}, "nowhere.csv: no such export file"),
        (["verify", "--export", "x.csv", "--since", "3"], {}, "--since applies to the database"),
        (["anchor"], {}, "AUDIT_ANCHOR_FILE, AUDIT_ANCHOR_KEY are not set"),
        (["verify", "--anchors", "a.jsonl"], {}, "AUDIT_ANCHOR_KEY is not set"),
        (["verify"], {"AUDIT_ANCHOR_KEY": "short"}, "AUDIT_ANCHOR_KEY: must be at least 16"),
        (
            ["verify", "--anchors", "none.jsonl"],
            {"AUDIT_ANCHOR_KEY": ANCHOR_KEY},
            "cannot read the anchor file none.jsonl",
        ),
    ],
)
def test_mistakes_are_one_line_with_exit_code_2(
    sqlite_url: str, tmp_path: Path, args: list[str], extra: dict[str, str], message: str
) -> None:
    """Each mistake in an audit command prints one line naming it and exits 2."""
    env = _cli_env(sqlite_url)
    answer = subprocess.run(
        [COUNTERSIGN, "audit", *args],
        env=env | extra,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert answer.returncode == 2, answer.stderr
    assert answer.stderr.count("\n") == 1, answer.stderr
    assert message in answer.stderr


def test_an_unmigrated_database_is_one_line(tmp_path: Path) -> None:
    """`audit verify` without a database says so in one line, exit 2, and creates nothing."""
    answer = _run(_cli_env(f"sqlite:///{tmp_path / 'empty.db'}"), "verify")
    assert answer.returncode == 2
    assert answer.stderr.count("\n") == 1, answer.stderr
    assert "create it with `countersign db upgrade`" in answer.stderr
    assert not (tmp_path / "empty.db").exists()


def test_serve_writes_checkpoints_on_its_interval_and_at_shutdown(tmp_path: Path) -> None:
    """`serve` with AUDIT_ANCHOR_FILE appends a checkpoint every AUDIT_ANCHOR_SECONDS and a last
    one when it stops; `audit verify` then checks the chain against all of them."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    anchors = tmp_path / "anchors.jsonl"
    env = process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=POLICIES,
        AUDIT_ANCHOR_FILE=str(anchors),
        AUDIT_ANCHOR_KEY=ANCHOR_KEY,
        AUDIT_ANCHOR_SECONDS="1",
    )
    try:
        with serve_process(env) as url, httpx.Client(timeout=10) as client:
            served = Served(url, env, tmp_path / "countersign.db", anchors, slack)
            assert _send(served, client, 1) == 202
            wait_for(lambda: anchors.is_file() and len(anchors.read_text().splitlines()) >= 2)
            while_running = len(anchors.read_text().splitlines())
    finally:
        slack.stop()
        intacct.stop()
    lines = [json.loads(line) for line in anchors.read_text().splitlines()]
    assert len(lines) > while_running  # the shutdown checkpoint
    assert lines[-1]["seq"] >= 1
    verified = _run(env, "verify")
    assert verified.returncode == 0, verified.stderr
    assert f"checkpoints of {anchors} match" in verified.stdout
