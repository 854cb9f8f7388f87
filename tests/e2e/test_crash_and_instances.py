"""One card per exception and nothing acknowledged lost, against real `countersign serve`
processes: a card post whose answer is lost, `kill -9` in the middle of a load, and two
instances on one PostgreSQL database behind a slow Slack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import WEBHOOK_SECRET
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import CARD_METADATA_TYPE
from app.store.db import Database
from app.store.migrate import upgrade
from app.store.tables import BillingEventRow, ExceptionRow, OutboxRow
from tests.conftest import _postgres_database
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, answers_200, free_ports, process_env, wait_for

FAST = {
    "COUNTERSIGN_POLICIES": POLICIES,
    "OUTBOX_POLL_SECONDS": "0.2",
    "SLACK_TIMEOUT_SECONDS": "2",  # a held answer is lost after 2 s ...
    "OUTBOX_LEASE_SECONDS": "5",  # ... and a dead worker's claim is free again after 5 s
    "LOG_FORMAT": "json",
}


@dataclass
class Emulators:
    slack: SlackEmulator
    intacct: IntacctEmulator


@pytest.fixture
def emulators() -> Iterator[Emulators]:
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    try:
        yield Emulators(slack, intacct)
    finally:
        slack.stop()
        intacct.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL database (two instances need a shared server database)."""
    for url in _postgres_database():
        upgrade(url)
        yield url


def _env(folder: Path, emulators: Emulators, **extra: str) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return process_env(folder, emulators.slack, emulators.intacct, **FAST, **extra)


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`countersign serve` as its own process (Popen, so a test can kill -9 it); stops it."""
    subprocess.run([COUNTERSIGN, "db", "upgrade"], env=env, check=True, capture_output=True)
    with log.open("ab") as out:
        process = subprocess.Popen([COUNTERSIGN, "serve"], env=env, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{env['PORT']}"
        wait_for(lambda: answers_200(f"{url}/readyz"), timeout=30, what="countersign serve")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def _event(n: int) -> dict[str, Any]:
    return {
        "event_id": f"evt-load-{n:04d}",
        "source": "salesforce",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00-05:00",
        "requested_by": {"slack_user_id": "U0REQUEST1"},
        "customer": {"id": f"C-{n}", "name": f"Customer {n}"},
        "invoice": {"key": f"INV-LOAD-{n}", "currency": "USD", "amount": "1000.00"},
        "details": {"discount_pct": "25"},
        "reason": "load test",
    }


@dataclass
class Sender:
    """The billing system: sends each event, retrying until it is acknowledged (2xx)."""

    urls: list[str]
    count: int
    acked: set[str] = field(default_factory=set)
    failures: int = 0
    thread: threading.Thread | None = None

    def start(self) -> Sender:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            for n in range(self.count):
                event = _event(n)
                body = json.dumps(event).encode()
                url = self.urls[n % len(self.urls)]
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
                    try:
                        answer = http.post(f"{url}/billing-events", content=body, headers=headers)
                    except httpx.TransportError:
                        answer = None
                    if answer is not None and 200 <= answer.status_code < 300:
                        self.acked.add(event["event_id"])
                        break
                    self.failures += 1
                    time.sleep(0.2)

    def join(self, timeout: float) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the sender did not finish"


def _stored_event_ids(db: Database) -> set[str]:
    with db.transaction() as session:
        return set(session.exec(select(BillingEventRow.event_id)).all())


def _pending_jobs(db: Database) -> int:
    with db.transaction() as session:
        return session.exec(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.state != "done")
        ).one()


def _cards_per_exception(slack: SlackEmulator, channel: str = "C0BILLING") -> Counter[int]:
    """How many cards each exception has in the channel, by the metadata each card carries."""
    counts: Counter[int] = Counter()
    for message in slack.messages(channel):
        metadata = message.metadata or {}
        if metadata.get("event_type") == CARD_METADATA_TYPE:
            counts[int(metadata["event_payload"]["exception_id"])] += 1
    return counts


def _at_rest_with_one_card_each(db: Database, slack: SlackEmulator, timeout: float) -> None:
    """Wait until the outbox is done; then every exception has exactly one card, and it is the
    card the exception points at."""
    wait_for(lambda: _pending_jobs(db) == 0, timeout=timeout, what="the outbox to come to rest")
    with db.transaction() as session:
        exceptions = {row.id: row.message_ts for row in session.exec(select(ExceptionRow)).all()}
    cards = _cards_per_exception(slack)
    duplicates = {e: n for e, n in cards.items() if n > 1}
    print(f"exceptions={len(exceptions)} cards={sum(cards.values())} duplicates={duplicates}")
    assert duplicates == {}
    assert set(cards) == set(exceptions)
    by_ts = {m.ts for m in slack.messages("C0BILLING")}
    assert all(ts in by_ts for ts in exceptions.values())


@pytest.mark.parametrize("hold", [4.0, None], ids=["answer-after-timeout", "connection-dropped"])
def test_a_card_post_whose_answer_is_lost_gives_one_card(
    tmp_path: Path, emulators: Emulators, hold: float | None
) -> None:
    """Slack accepts chat.postMessage but serve never hears back: still exactly one card."""
    env = _env(tmp_path, emulators)
    emulators.slack.lose_answer("chat.postMessage", hold_seconds=hold)
    with _serve(env, tmp_path / "serve.log"):
        url = f"http://127.0.0.1:{env['PORT']}"
        sender = Sender([url], 1).start()
        sender.join(30)
        db = Database(env["DATABASE_URL"])
        try:
            _at_rest_with_one_card_each(db, emulators.slack, timeout=30)
        finally:
            db.dispose()
    assert len(emulators.slack.calls("chat.postMessage")) == 1
    assert len(emulators.slack.calls("conversations.history")) == 1


def _posting(db: Database) -> bool:
    """True while a card post has started and its ts is not stored: the moment to kill."""
    with db.transaction() as session:
        started = select(ExceptionRow.id).where(
            col(ExceptionRow.card_post_started_at).is_not(None),
            col(ExceptionRow.message_ts).is_(None),
        )
        return session.exec(started).first() is not None


def test_kill_9_during_a_load_loses_nothing_acknowledged_and_posts_no_duplicate(
    tmp_path: Path, emulators: Emulators, database_url: str
) -> None:
    """300 events, serve killed -9 in the middle of a card post, restarted: all kept, one card
    each, the interrupted post found again rather than repeated (SQLite and PostgreSQL)."""
    env = _env(tmp_path, emulators, DATABASE_URL=database_url)
    url = f"http://127.0.0.1:{env['PORT']}"
    slack = emulators.slack
    slack.slow_down(0.5, "chat.postMessage")  # a post lasts long enough to be killed inside
    log = tmp_path / "serve.log"
    sender = Sender([url], 300)
    db = Database(env["DATABASE_URL"])
    try:
        with _serve(env, log) as first:
            sender.start()
            wait_for(lambda: len(sender.acked) >= 120, timeout=90, what="120 events acknowledged")
            wait_for(lambda: _posting(db), timeout=30, what="a card post under way")
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        acked_before_kill = set(sender.acked)
        posts_before_kill = len(slack.calls("chat.postMessage"))
        lost_at_kill = acked_before_kill - _stored_event_ids(db)
        slack.slow_down(0.01, "chat.postMessage")
        with _serve(env, log):
            sender.join(180)
            _at_rest_with_one_card_each(db, slack, timeout=180)
            lost = sender.acked - _stored_event_ids(db)
    finally:
        db.dispose()
    lookups = len(slack.calls("conversations.history"))
    print(
        f"acked={len(sender.acked)} acked_before_kill={len(acked_before_kill)}"
        f" posts_before_kill={posts_before_kill} sender_retries={sender.failures}"
        f" lost_at_kill={len(lost_at_kill)} lost={len(lost)} history_lookups={lookups}"
        f" deleted={len(slack.calls('chat.delete'))}"
    )
    assert lost_at_kill == set()
    assert lost == set()
    assert len(sender.acked) == 300
    assert lookups >= 1  # the post cut off by the kill was looked for before any re-post


def test_two_instances_on_postgresql_behind_a_slow_slack_post_one_card_each(
    tmp_path: Path, emulators: Emulators, pg_url: str
) -> None:
    """Two `serve` processes share one PostgreSQL database, Slack answers slowly and drops the
    answer to 5 posts: one card each."""
    slack = emulators.slack
    slack.slow_down(0.3)  # every Web API call takes 0.3 s
    slack.lose_answer("chat.postMessage", times=5)  # posted, but the connection drops
    ports = free_ports(2)
    envs = [
        _env(tmp_path / f"instance-{n}", emulators, DATABASE_URL=pg_url, PORT=str(port))
        for n, port in enumerate(ports)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    with _serve(envs[0], tmp_path / "a.log"), _serve(envs[1], tmp_path / "b.log"):
        sender = Sender(urls, 60).start()
        sender.join(120)
        db = Database(pg_url)
        try:
            _at_rest_with_one_card_each(db, slack, timeout=120)
            assert _stored_event_ids(db) == sender.acked
            with db.transaction() as session:
                workers = set(session.exec(select(OutboxRow.claimed_by)).all())
        finally:
            db.dispose()
    assert len(sender.acked) == 60
    assert workers == {None}  # every claim was settled by its holder
    assert len(slack.calls("chat.postMessage")) == 60  # the 5 lost posts were found, not redone
