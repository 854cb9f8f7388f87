"""Start-up and readiness tell the truth: `serve` refuses a database it cannot use and a bot
token Slack refuses, with one line and exit 2; `/readyz` answers 503 with the reason when the
database stops answering, the schema is behind or the scheduler has stopped; and `serve`
starts, takes billing events and reports Slack not ready while Slack is unreachable, then
posts the cards once Slack is back."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_emulator import SlackEmulator
from app.store.db import make_engine
from app.store.migrate import head, upgrade
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import (
    COUNTERSIGN,
    WEBHOOK_SECRET,
    Stack,
    TcpProxy,
    free_ports,
    process_env,
    serve_process,
    wait_for,
)
from tests.e2e.socket_mode_server import SocketModeServer

EVENT = {
    "event_id": "evt-ready-1",
    "source": "salesforce",
    "type": "non_standard_discount",
    "occurred_at": "2026-11-23T10:00:00Z",
    "requested_by": {"slack_user_id": "U0REQUEST1"},
    "customer": {"id": "C-ACME", "name": "Acme Corp"},
    "invoice": {"key": "INV-KEY-R1", "number": "INV-R1", "currency": "USD", "amount": "500.00"},
    "details": {"discount_pct": "25"},
}


@pytest.fixture
def emulators() -> Iterator[tuple[SlackEmulator, IntacctEmulator]]:
    """The Slack and Intacct emulators, running in this process."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    try:
        yield slack, intacct
    finally:
        slack.stop()
        intacct.stop()


def _env(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator], **extra: str
) -> dict[str, str]:
    slack, intacct = emulators
    return process_env(
        tmp_path,
        slack,
        intacct,
        COUNTERSIGN_POLICIES=POLICIES,
        BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OUTBOX_POLL_SECONDS="0.2",
        TIMER_SWEEP_SECONDS="0.2",
        LOG_FORMAT="json",
        **extra,
    )


def _serve_refused(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `countersign serve` expecting it to stop by itself."""
    return subprocess.run(
        [COUNTERSIGN, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _one_line(answer: subprocess.CompletedProcess[str]) -> str:
    assert answer.returncode == 2, answer.stderr
    assert "Traceback" not in answer.stderr + answer.stdout
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    return lines[0]


def _ready(url: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{url}/readyz", timeout=10)
    return answer.status_code, answer.json()


def _send(url: str, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event).encode()
    headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
    return httpx.post(f"{url}/billing-events", content=body, headers=headers, timeout=10)


def test_serve_refuses_a_postgresql_port_that_is_closed(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """A DATABASE_URL on a closed port: one line naming DATABASE_URL (no password), exit 2."""
    port = free_ports(1)[0]
    url = f"postgresql://someone:hunter2-not-real@127.0.0.1:{port}/countersign"
    line = _one_line(_serve_refused(_env(tmp_path, emulators, DATABASE_URL=url)))
    assert "cannot reach the database" in line, line
    assert "DATABASE_URL" in line
    assert "hunter2" not in line


def test_serve_refuses_a_database_that_does_not_exist_and_creates_none(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """No SQLite file: one line naming `countersign db upgrade`, exit 2, and no file made."""
    line = _one_line(_serve_refused(_env(tmp_path, emulators)))
    assert "countersign db upgrade" in line, line
    assert not (tmp_path / "countersign.db").exists()


def test_serve_refuses_a_schema_behind_the_head(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """A database at an older migration: one line with both revisions and the fix, exit 2."""
    env = _env(tmp_path, emulators)
    upgrade(env["DATABASE_URL"], "0001")
    line = _one_line(_serve_refused(env))
    assert f"at revision 0001, not {head()}" in line, line
    assert "countersign db upgrade" in line


def test_serve_refuses_a_bot_token_slack_does_not_accept(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """A wrong SLACK_BOT_TOKEN (invalid_auth): one line naming SLACK_BOT_TOKEN, exit 2."""
    env = _env(tmp_path, emulators, SLACK_BOT_TOKEN="xoxb-wrong-token-not-real")
    upgrade(env["DATABASE_URL"])
    line = _one_line(_serve_refused(env))
    assert "SLACK_BOT_TOKEN" in line, line
    assert "invalid_auth" in line


@pytest.mark.parametrize("blank_database_url", ["postgresql"], indirect=True)
def test_readyz_says_the_database_stopped_answering_and_the_log_stays_quiet(
    tmp_path: Path, blank_database_url: str, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """PostgreSQL goes away: /readyz 503 naming the database, /healthz 200, a handful of log
    lines and no traceback; it comes back: ready again."""
    proxy = TcpProxy(("127.0.0.1", 5432)).open()
    database_url = blank_database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert database_url != blank_database_url
    log = tmp_path / "serve.log"
    try:
        with serve_process(_env(tmp_path, emulators, DATABASE_URL=database_url), log) as url:
            assert _ready(url)[0] == 200
            proxy.close()
            _, body = wait_for(
                lambda: (r := _ready(url))[0] == 503 and r, what="readyz to answer 503"
            )
            assert body["database"].startswith("not answering"), body
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            time.sleep(4)  # twenty outbox ticks and timer sweeps against a dead database
            lines = log.read_text().splitlines()
            failing = [line for line in lines if ".failing" in line]
            assert "Traceback" not in log.read_text()
            assert 1 <= len(failing) <= 8, "\n".join(failing)
            proxy.open()
            wait_for(lambda: _ready(url)[0] == 200, timeout=15, what="readyz to recover")
            wait_for(lambda: "recovered" in log.read_text(), what="a recovery line")
    finally:
        proxy.close()


def test_readyz_says_the_schema_is_behind(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """The schema moves behind the code while serving: /readyz 503 naming `db upgrade`."""
    env = _env(tmp_path, emulators)
    with serve_process(env) as url:
        engine = make_engine(env["DATABASE_URL"])
        try:
            with engine.begin() as connection:
                connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            status, body = _ready(url)
            assert status == 503
            assert "countersign db upgrade" in body["schema"], body
            with engine.begin() as connection:
                connection.execute(text(f"UPDATE alembic_version SET version_num = '{head()}'"))
            assert _ready(url)[0] == 200
        finally:
            engine.dispose()


def test_readyz_says_the_scheduler_stopped(stack: Stack) -> None:
    """The scheduler behind the outbox and timers stops: /readyz 503 naming both."""
    assert stack.http.get(f"{stack.url}/readyz").status_code == 200
    stack.runtime.scheduler.stop()
    answer = stack.http.get(f"{stack.url}/readyz")
    assert answer.status_code == 503
    assert "not running" in answer.json()["outbox_worker"]
    assert "not running" in answer.json()["timer_sweep"]


def test_serve_takes_events_while_slack_is_away_and_posts_when_it_returns(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """Slack unreachable at start: serve starts, accepts the event (202), /readyz says Slack
    is not ready; once Slack listens, the queued card is posted and Slack is ready."""
    slack_port = free_ports(1)[0]
    env = _env(tmp_path, emulators, SLACK_API_URL=f"http://127.0.0.1:{slack_port}/api/")
    with serve_process(env) as url:
        answer = _send(url, EVENT)
        assert answer.status_code == 202, answer.text
        status, body = _ready(url)
        assert status == 200, body
        assert body["slack"].startswith("not ready: Slack unreachable"), body
        time.sleep(1)
        back = SlackEmulator(port=slack_port).start()
        try:
            card = wait_for(lambda: back.messages("C0BILLING"), timeout=20, what="the card")
            assert "BX-000001" in str(card[0].blocks)
            wait_for(lambda: _ready(url)[1]["slack"] == "ok", what="Slack ready")
            assert _ready(url)[1]["status"] == "ready"
        finally:
            # the emulator must outlive serve_process's at-rest check
            wait_for(lambda: not _pending_jobs(env["DATABASE_URL"]), what="the outbox to drain")
            back.stop()


def _pending_jobs(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM outbox WHERE state = 'pending'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_socket_mode_connects_once_slack_comes_back(
    tmp_path: Path, emulators: tuple[SlackEmulator, IntacctEmulator]
) -> None:
    """With SLACK_APP_TOKEN and Slack away at start, serve starts and opens the Socket Mode
    connection as soon as Slack answers."""
    slack_port = free_ports(1)[0]
    later = SlackEmulator(port=slack_port)
    socket = SocketModeServer().start()
    later.enable_socket_mode(socket.url)
    env = _env(
        tmp_path,
        emulators,
        SLACK_API_URL=f"http://127.0.0.1:{slack_port}/api/",
        SLACK_APP_TOKEN=later.app_token,
    )
    try:
        with serve_process(env) as url:
            assert _ready(url)[1]["slack"].startswith("not ready"), _ready(url)
            later.start()
            socket.wait_for_app(timeout=30)
            assert later.calls("apps.connections.open")
    finally:
        socket.stop()
        later.stop()
