"""A running `countersign serve` refuses every hostile policy on `policies reload`: it stays up,
keeps the policy in force, tells #admin, and answers billing events meanwhile."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import WEBHOOK_SECRET
from app.sandbox.slack_emulator import SlackEmulator
from app.store.db import Database
from app.store.tables import OutboxRow, TimerRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, process_env, serve_process, wait_for

GOLDEN = Path(__file__).parents[1] / "unit" / "routing" / "golden"
CASES = [*sorted(p.name for p in GOLDEN.iterdir() if p.name.startswith("hostile_")), "huge_file"]


@dataclass
class Server:
    url: str
    env: dict[str, str]
    folder: Path
    slack: SlackEmulator
    hash: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `countersign serve` process for every case, with an editable folder and #admin."""
    home = tmp_path_factory.mktemp("hostile")
    folder = home / "policies"
    shutil.copytree(POLICIES, folder)
    routes = folder / "routes.yml"
    routes.write_text(
        routes.read_text().replace("version: 1\n", "version: 1\nadmin_channel: C0ADMIN\n", 1)
    )
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(home, slack, intacct, COUNTERSIGN_POLICIES=str(folder), LOG_FORMAT="json")
    try:
        with serve_process(env) as url:
            ready = httpx.get(f"{url}/readyz", timeout=5).json()
            yield Server(url, env, folder, slack, str(ready["policies"]))
            _assert_at_rest(env["DATABASE_URL"])
    finally:
        slack.stop()
        intacct.stop()


def _assert_at_rest(database_url: str) -> None:
    db = Database(database_url)

    def settled() -> bool:
        with db.transaction() as session:
            jobs = session.exec(select(OutboxRow).where(OutboxRow.state != "done")).all()
            timers = session.exec(select(TimerRow).where(TimerRow.state == "pending")).all()
        return not jobs and all(t.due_at > datetime.now(UTC) for t in timers)

    wait_for(settled, timeout=20, what="the outbox and timers at rest")


def _write_hostile(case: str, folder: Path) -> Path:
    target = folder / "hostile.yml"
    if case == "huge_file":
        with target.open("wb") as huge:
            huge.truncate(50 * 1024 * 1024)  # sparse 50 MiB
    else:
        shutil.copy(GOLDEN / case / "policy.yml", target)
    return target


def _dispute(case: str) -> bytes:
    return json.dumps(
        {
            "event_id": f"evt-hostile-{case}",
            "source": "zendesk",
            "type": "invoice_dispute",
            "occurred_at": "2026-11-23T10:00:00-05:00",
            "customer": {"id": "C-ACME", "name": "Acme Corp"},
            "invoice": {"key": f"INV-{case}", "currency": "USD", "amount": "1200.00"},
            "reason": "Customer disputes the usage charge",
        }
    ).encode()


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_policy_reload_is_refused_while_the_server_keeps_serving(
    case: str, server: Server
) -> None:
    """`policies reload` with a hostile file: #admin told, old hash kept, an event answered fast."""
    notices_before = len(server.slack.messages("C0ADMIN"))
    hostile = _write_hostile(case, server.folder)
    try:
        reload = subprocess.run(
            [COUNTERSIGN, "policies", "reload"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert reload.returncode == 0, reload.stderr
        body = _dispute(case)
        started = time.monotonic()
        answer = httpx.post(
            f"{server.url}/billing-events",
            content=body,
            headers=webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body),
            timeout=10,
        )
        took = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "created"
        assert took < 2.0, f"the event waited {took:.1f}s"
        notices = wait_for(
            lambda: (m := server.slack.messages("C0ADMIN")) and len(m) > notices_before and m,
            timeout=15,
            what="the reload refusal notice",
        )
        assert "Policy reload refused" in notices[-1].text
        assert "hostile.yml" in notices[-1].text
        ready = httpx.get(f"{server.url}/readyz", timeout=5)
        assert (ready.status_code, ready.json()["policies"]) == (200, server.hash)
    finally:
        hostile.unlink()
