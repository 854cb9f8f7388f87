"""Set-based intake and group commit through `countersign serve`: concurrent single events,
duplicates in one batch, and the same event delivered concurrently."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import WEBHOOK_SECRET
from app.sandbox.slack_emulator import SlackEmulator
from app.store.tables import AuditEntryRow, BillingEventRow, ExceptionRow
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, process_env, rows, serve_process, wait_for
from tests.e2e.test_walking_skeleton import discount_event


@dataclass
class Served:
    url: str
    env: dict[str, str]
    slack: SlackEmulator

    def post(self, document: Any) -> httpx.Response:
        """POST a signed billing event (or batch), each call on its own connection."""
        body = json.dumps(document).encode()
        headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
        with httpx.Client(timeout=30) as http:
            return http.post(f"{self.url}/billing-events", content=body, headers=headers)


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    """Countersign in its own process on each database, the emulators in this one."""
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(
        tmp_path,
        slack,
        intacct,
        DATABASE_URL=database_url,
        COUNTERSIGN_POLICIES=POLICIES,
        OUTBOX_POLL_SECONDS="0.2",
    )
    try:
        with serve_process(env) as url:
            yield Served(url, env, slack)
    finally:
        slack.stop()
        intacct.stop()


def _verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, "audit", "verify"], env=env, capture_output=True, text=True, check=False
    )


def test_concurrent_single_events_each_get_their_own_exception(served: Served) -> None:
    """20 concurrent single events: each answered 202 with its own exception, all stored, one
    card each, and the audit chain verifies."""
    events = [discount_event(f"evt-gc-{n}") for n in range(20)]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(served.post, events))
    assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert [b["event_id"] for b in bodies] == [e["event_id"] for e in events]
    assert len({b["exception"] for b in bodies}) == 20
    stored = rows(served.env["DATABASE_URL"], BillingEventRow)
    assert sorted(r.event_id for r in stored) == sorted(e["event_id"] for e in events)
    wait_for(lambda: len(served.slack.messages("C0BILLING")) == 20, what="20 cards")
    verified = _verify(served.env)
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout


def test_a_batch_answers_in_batch_and_stored_duplicates(served: Served) -> None:
    """A batch holding one event twice and one already stored: one exception each, the repeats
    answered "duplicate" with the first one's exception."""
    first = served.post(discount_event("evt-stored"))
    assert first.status_code == 202
    batch = {
        "events": [
            discount_event("evt-new"),
            discount_event("evt-new"),
            discount_event("evt-stored"),
            discount_event("evt-other"),
        ]
    }
    answer = served.post(batch)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["created", "duplicate", "duplicate", "created"]
    assert results[1]["exception"] == results[0]["exception"]
    assert results[2]["exception"] == first.json()["exception"]
    assert [r["http_status"] for r in results] == [202, 200, 200, 202]
    exceptions = rows(served.env["DATABASE_URL"], ExceptionRow)
    assert sorted(e.event_id for e in exceptions) == ["evt-new", "evt-other", "evt-stored"]
    opened = [
        e for e in rows(served.env["DATABASE_URL"], AuditEntryRow) if e.action == "exception.opened"
    ]
    assert len(opened) == 3
    wait_for(lambda: len(served.slack.messages("C0BILLING")) == 3, what="3 cards")


def test_the_same_event_delivered_concurrently_opens_one_exception(served: Served) -> None:
    """The same event in 10 concurrent batches (each with an event of its own) and 10
    concurrent singles: one exception for it, every delivery answered with that exception, the
    other events all created."""
    shared = discount_event("evt-shared")
    batches = [{"events": [discount_event(f"evt-own-{n}"), shared]} for n in range(10)]
    with ThreadPoolExecutor(20) as pool:
        batch_answers = pool.map(served.post, batches)
        single_answers = pool.map(served.post, [shared] * 10)
        answers = [a.json()["results"] for a in batch_answers]
        singles = [a.json() for a in single_answers]
    assert all(results[0]["status"] == "created" for results in answers)
    shared_answers = [results[1] for results in answers] + singles
    assert sorted(a["status"] for a in shared_answers) == ["created"] + ["duplicate"] * 19
    assert len({a["exception"] for a in shared_answers}) == 1
    exceptions = rows(served.env["DATABASE_URL"], ExceptionRow)
    assert len(exceptions) == 11
    wait_for(lambda: len(served.slack.messages("C0BILLING")) == 11, what="11 cards")
    assert _verify(served.env).returncode == 0
