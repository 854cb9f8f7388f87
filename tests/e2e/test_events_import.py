"""`countersign events import` as a real process: JSON, JSONL and CSV files, in batches, with one
summary line; malformed lines and rows are kept as rejected and the rest go on."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from decimal import Decimal
from pathlib import Path

from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_emulator import SlackEmulator
from app.store.tables import (
    AuditEntryRow,
    BillingEventRow,
    ExceptionRow,
    OutboxRow,
    RejectedEventRow,
)
from tests.e2e.conftest import POLICIES as E2E_POLICIES
from tests.e2e.harness import COUNTERSIGN, process_env, rows, serve_process, wait_for
from tests.e2e.test_cli_errors import ROOT, clean_env

EXAMPLES = ROOT / "examples"
KEPT = "rejected events are kept: see `countersign events rejected`"


def countersign(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The whole output, which must be a single line and no traceback."""
    output = (done.stdout + done.stderr).strip()
    assert len(output.splitlines()) == 1, output
    return output


def env_for(folder: Path, database_url: str) -> dict[str, str]:
    return clean_env(folder, DATABASE_URL=database_url)


def event(number: int, **changes: object) -> dict[str, object]:
    """A valid billing event on the sandbox invoice INV-KEY-1002 (routed to disputes)."""
    document: dict[str, object] = {
        "event_id": f"case-{number}",
        "source": "zendesk",
        "type": "invoice_dispute",
        "occurred_at": "2026-11-24T15:02:00Z",
        "customer": {"id": "C-GLOBEX", "name": "Globex GmbH"},
        "invoice": {"key": "INV-KEY-1002", "currency": "EUR", "amount": "1200.00"},
    }
    return document | changes


def test_example_jsonl_is_imported_and_the_csv_holds_the_same_events(
    database_url: str, tmp_path: Path
) -> None:
    """examples/events.jsonl creates its 4 exceptions as written; examples/events.csv, the same
    events as CSV, then gives 4 duplicates and creates nothing."""
    env = env_for(tmp_path, database_url)
    done = countersign(env, "events", "import", str(EXAMPLES / "events.jsonl"))
    assert one_line(done) == "events.jsonl: 4 created, 0 duplicates, 0 rejected"
    assert done.returncode == 0
    stored = rows(database_url, BillingEventRow)
    lines = (EXAMPLES / "events.jsonl").read_text().splitlines()
    assert [row.payload for row in stored] == lines
    assert {row.via for row in stored} == {"import"}
    exceptions = rows(database_url, ExceptionRow)
    assert [(e.route_name, e.state, e.amount) for e in exceptions] == [
        ("big-discount", "open", Decimal("48250.00")),
        ("disputes", "open", Decimal("1200.00")),
        ("mid-cycle-amendment", "open", Decimal("980.00")),
        ("small-discount-auto", "approved", Decimal("980.00")),
    ]

    again = countersign(env, "events", "import", str(EXAMPLES / "events.csv"))
    assert one_line(again) == "events.csv: 0 created, 4 duplicates, 0 rejected"
    assert again.returncode == 0
    assert len(rows(database_url, BillingEventRow)) == 4


def test_csv_cells_become_exact_string_fields(sqlite_url: str, tmp_path: Path) -> None:
    """A CSV row becomes the JSON event its dotted columns name: values stay strings (amounts
    exact), empty cells are absent fields."""
    done = countersign(
        env_for(tmp_path, sqlite_url), "events", "import", str(EXAMPLES / "events.csv")
    )
    assert one_line(done) == "events.csv: 4 created, 0 duplicates, 0 rejected"
    payloads = [json.loads(row.payload) for row in rows(sqlite_url, BillingEventRow)]
    assert payloads[0]["invoice"] == {
        "key": "INV-KEY-1001",
        "number": "INV-1001",
        "currency": "USD",
        "amount": "48250.00",
    }
    assert payloads[0]["requested_by"] == {
        "email": "sales.rep@example.com",
        "slack_user_id": "U0REQUEST1",
    }
    assert payloads[0]["details"] == {"discount_pct": "22.5", "list_amount": "62258.06"}
    assert payloads[2] == json.loads((EXAMPLES / "events.jsonl").read_text().splitlines()[2]) | {
        "details": {"proration_amount": "120.00"}
    }
    first = rows(sqlite_url, ExceptionRow)[0]
    assert first.details == {"discount_pct": "22.5", "list_amount": "62258.06"}
    assert first.amount == Decimal("48250.00")


def test_malformed_jsonl_lines_are_kept_and_the_rest_go_on(sqlite_url: str, tmp_path: Path) -> None:
    """A line that is not JSON and a line that breaks the schema are stored as rejected with
    their line numbers and exit 1; the other lines are created; `events rejected` lists why."""
    bad_amount = json.dumps(event(4, invoice={"key": "K", "currency": "EUR", "amount": "12,50"}))
    lines = [json.dumps(event(1)), '{"event_id": "case-2",', "", bad_amount, json.dumps(event(5))]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    env = env_for(tmp_path, sqlite_url)
    done = countersign(env, "events", "import", str(tmp_path / "mixed.jsonl"))
    assert one_line(done) == f"mixed.jsonl: 2 created, 0 duplicates, 2 rejected; {KEPT}"
    assert done.returncode == 1
    assert [row.event_id for row in rows(sqlite_url, BillingEventRow)] == ["case-1", "case-5"]
    not_json, bad = rows(sqlite_url, RejectedEventRow)
    assert not_json.payload == '{"event_id": "case-2",'
    assert not_json.via == "import"
    assert [(e["file"], e["line"], e["field"]) for e in not_json.errors] == [
        ("mixed.jsonl", "2", "(event)")
    ]
    assert not_json.errors[0]["message"].startswith("not valid JSON")
    assert bad.payload == bad_amount
    assert (bad.source, bad.event_id) == ("zendesk", "case-4")
    assert [(e["line"], e["field"]) for e in bad.errors] == [("4", "invoice.amount")]
    audited = [row.action for row in rows(sqlite_url, AuditEntryRow)]
    assert audited.count("event.rejected") == 2

    listed = countersign(env, "events", "rejected")
    assert listed.returncode == 0
    newest, oldest = listed.stdout.strip().splitlines()
    assert "via import mixed.jsonl:4 zendesk/case-4: invoice.amount:" in newest
    assert "via import mixed.jsonl:2 ?/?: (event): not valid JSON" in oldest
    limited = countersign(env, "events", "rejected", "--limit", "1")
    assert limited.stdout.strip() == newest


def test_csv_rows_that_fail_are_kept_as_json_with_their_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A CSV row that breaks the schema, or has more cells than the header, is kept as the JSON
    object built from it with its first line number (a quoted cell may span lines)."""
    header = "event_id,source,type,occurred_at,customer.id,customer.name,invoice.key,"
    header += "invoice.currency,invoice.amount,reason"
    good = "case-1,zendesk,invoice_dispute,2026-11-24T15:02:00Z,C-G,Globex,K1,EUR,1200.00,"
    spans = (
        'case-2,zendesk,invoice_dispute,2026-11-24T15:02:00Z,C-G,Globex,K1,EUR,1.00,"two\nlines"'
    )
    no_name = "case-3,zendesk,invoice_dispute,2026-11-24T15:02:00Z,C-G,,K1,EUR,5.00,"
    extra = "case-4,zendesk,invoice_dispute,2026-11-24T15:02:00Z,C-G,Globex,K1,EUR,5.00,,surplus"
    text = "\n".join([header, good, spans, no_name, "", extra]) + "\n"
    (tmp_path / "rows.csv").write_text(text)
    done = countersign(
        env_for(tmp_path, sqlite_url), "events", "import", str(tmp_path / "rows.csv")
    )
    assert one_line(done) == f"rows.csv: 2 created, 0 duplicates, 2 rejected; {KEPT}"
    assert done.returncode == 1
    created = rows(sqlite_url, BillingEventRow)
    assert json.loads(created[1].payload)["reason"] == "two\nlines"
    missing, surplus = rows(sqlite_url, RejectedEventRow)
    assert json.loads(missing.payload)["customer"] == {"id": "C-G"}
    assert [(e["line"], e["field"]) for e in missing.errors] == [("5", "customer.name")]
    assert json.loads(surplus.payload)["(cells beyond the header)"] == ["surplus"]
    assert surplus.errors[0]["line"] == "7"
    assert "11 cells; the header names 10 columns" in surplus.errors[0]["message"]


def test_json_file_forms_and_more_than_a_webhook_batch(sqlite_url: str, tmp_path: Path) -> None:
    """A JSON file may be one event, a list or {"events": [...]}; 1,500 JSONL events and then a
    JSON batch of 1,001 (over the webhook's 1,000) import in batches."""
    env = env_for(tmp_path, sqlite_url)
    (tmp_path / "one.json").write_text(json.dumps(event(1), indent=2))
    (tmp_path / "list.json").write_text(json.dumps([event(2), event(3)], indent=2))
    many = "\n".join(json.dumps(event(n)) for n in range(1, 1501))
    (tmp_path / "many.jsonl").write_text(many + "\n")
    (tmp_path / "batch.json").write_text(json.dumps({"events": [event(n) for n in range(1, 1002)]}))
    assert one_line(countersign(env, "events", "import", str(tmp_path / "one.json"))) == (
        "one.json: 1 created, 0 duplicates, 0 rejected"
    )
    assert one_line(countersign(env, "events", "import", str(tmp_path / "list.json"))) == (
        "list.json: 2 created, 0 duplicates, 0 rejected"
    )
    done = countersign(env, "events", "import", str(tmp_path / "many.jsonl"))
    assert one_line(done) == "many.jsonl: 1497 created, 3 duplicates, 0 rejected"
    assert done.returncode == 0
    again = countersign(env, "events", "import", str(tmp_path / "batch.json"))
    assert one_line(again) == "batch.json: 0 created, 1001 duplicates, 0 rejected"
    stored = rows(sqlite_url, BillingEventRow)
    assert len(stored) == 1500
    assert stored[0].payload == json.dumps(event(1), indent=2)
    assert stored[1].payload == json.dumps(event(2), indent=2).replace("\n", "\n  ")


def test_format_option_overrides_the_file_name(sqlite_url: str, tmp_path: Path) -> None:
    """--format reads a file whatever its name says."""
    (tmp_path / "export.txt").write_text(json.dumps(event(1)) + "\n" + json.dumps(event(2)))
    done = countersign(
        env_for(tmp_path, sqlite_url),
        "events",
        "import",
        "--format",
        "jsonl",
        str(tmp_path / "export.txt"),
    )
    assert one_line(done) == "export.txt: 2 created, 0 duplicates, 0 rejected"


def test_progress_is_shown_on_a_terminal_only(sqlite_url: str, tmp_path: Path) -> None:
    """With stderr on a terminal a progress counter appears there and is cleared; stdout keeps
    the one summary line."""
    (tmp_path / "two.jsonl").write_text(json.dumps(event(1)) + "\n" + json.dumps(event(2)) + "\n")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [COUNTERSIGN, "events", "import", str(tmp_path / "two.jsonl")],
            env=env_for(tmp_path, sqlite_url),
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(follower)
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(leader)
    assert done.stdout == "two.jsonl: 2 created, 0 duplicates, 0 rejected\n"
    assert b"two.jsonl: 2 events read (100%)" in terminal
    assert terminal.endswith(b"\r\x1b[K")


def test_imported_events_reach_slack_through_the_running_server(tmp_path: Path) -> None:
    """Events imported while `countersign serve` runs are carded in Slack by that server, and
    its outbox comes to rest."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(tmp_path, slack, intacct, COUNTERSIGN_POLICIES=E2E_POLICIES)
    examples = (EXAMPLES / "events.jsonl").read_text().splitlines()
    (tmp_path / "two.jsonl").write_text("\n".join(examples[:2]) + "\n")
    try:
        with serve_process(env):
            done = countersign(env, "events", "import", str(tmp_path / "two.jsonl"))
            assert one_line(done) == "two.jsonl: 2 created, 0 duplicates, 0 rejected"
            discount = wait_for(lambda: slack.messages("C0BILLING"), 30, "the discount card")
            dispute = wait_for(lambda: slack.messages("C0ARDISPUTES"), 30, "the dispute card")
            url = env["DATABASE_URL"]
            wait_for(
                lambda: all(job.state == "done" for job in rows(url, OutboxRow)),
                30,
                "outbox at rest",
            )
    finally:
        slack.stop()
        intacct.stop()
    assert "Acme Corp" in json.dumps(discount[0].blocks)
    assert "Globex GmbH" in json.dumps(dispute[0].blocks)
