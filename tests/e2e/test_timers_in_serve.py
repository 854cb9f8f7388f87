"""Reminders, escalations and expiry fire in a running `countersign serve`, each once, and
never after a decision; two servers on one PostgreSQL database act on each timer once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app import webhook
from app.domain.lifecycle import State
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow
from tests.e2e.harness import process_env, serve_process, wait_for

# `expires`: reminder at 3 s, escalation to the CFO at 4 s, rejected at 5 s (the second
# reminder, due at 6 s, never comes). `catch-all`: escalation at 2 s, reminder at 5 s.
POLICY = """\
version: 1
timezone: UTC
admin_channel: C0ADMIN
groups:
  finance_managers: [U0FINMGR1, U0FINMGR2]
  cfo: [U0CFO1]
defaults:
  channel: C0BILLING
  calendar: none
routes:
  - name: expires
    when: {type: non_standard_discount, details.discount_pct: {gte: 50}}
    remind_every: 3s
    expire_after: 5s
    on_expire: reject
    steps:
      - approvers: [group:finance_managers]
        escalate_after: 4s
        escalate_to: [group:cfo]
  - name: catch-all
    remind_every: 5s
    expire_after: 30s
    on_expire: reject
    steps:
      - approvers: [group:finance_managers]
        escalate_after: 2s
        escalate_to: [group:cfo]
"""
SIGNING_SECRET = "timers-signing-secret-not-real"
WEBHOOK_SECRET = "timers-webhook-secret-not-real"


@dataclass
class Served:
    urls: list[str]
    database_url: str
    slack: SlackEmulator
    intacct: IntacctEmulator

    def send(self, pct: str, number: int, server: int = 0) -> None:
        event = {
            "event_id": f"evt-timer-{number}",
            "source": "salesforce",
            "type": "non_standard_discount",
            "occurred_at": "2026-11-23T10:00:00Z",
            "requested_by": {"slack_user_id": "U0REQUEST1"},
            "customer": {"id": "C-ACME", "name": "Acme Corp"},
            "invoice": {
                "key": f"INV-KEY-T{number}",
                "number": f"INV-T{number}",
                "currency": "USD",
                "amount": "1000.00",
            },
            "details": {"discount_pct": pct},
        }
        body = httpx.Request("POST", "/", json=event).content
        headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
        answer = httpx.post(
            f"{self.urls[server]}/billing-events", content=body, headers=headers, timeout=10
        )
        assert answer.status_code == 202, answer.text

    def dms(self, user: str, containing: str) -> list[Any]:
        channel = self.slack.dm_channel(user)
        return [m for m in self.slack.messages(channel) if containing in m.text + str(m.blocks)]

    def exceptions(self) -> dict[int, ExceptionRow]:
        database = Database(self.database_url)
        try:
            with database.transaction() as session:
                return {row.id or 0: row for row in session.exec(select(ExceptionRow)).all()}
        finally:
            database.dispose()

    def audit_count(self, action: str, exception_id: int) -> int:
        database = Database(self.database_url)
        try:
            with database.transaction() as session:
                rows = session.exec(
                    select(AuditEntryRow).where(
                        col(AuditEntryRow.action) == action,
                        col(AuditEntryRow.exception_id) == exception_id,
                    )
                ).all()
                return len(rows)
        finally:
            database.dispose()


@contextmanager
def _serve(tmp_path: Path, database_url: str, servers: int) -> Iterator[Served]:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "routes.yml").write_text(POLICY)
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    for number in range(1, 9):
        intacct.add_invoice(
            f"INV-KEY-T{number}",
            number=f"INV-T{number}",
            customer_id="C-ACME",
            customer_name="Acme Corp",
            currency="USD",
            amount="1000.00",
        )
    try:
        with ExitStack() as running:
            urls = []
            for n in range(servers):
                folder = tmp_path / f"server{n}"
                folder.mkdir()
                env = process_env(
                    folder,
                    slack,
                    intacct,
                    DATABASE_URL=database_url,
                    COUNTERSIGN_POLICIES=str(tmp_path / "policies"),
                    SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
                    TIMER_SWEEP_SECONDS="0.2",
                    OUTBOX_POLL_SECONDS="0.2",
                )
                urls.append(running.enter_context(serve_process(env)))
            yield Served(urls, database_url, slack, intacct)
    finally:
        slack.stop()
        intacct.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """One `countersign serve` process with second-long timers, on SQLite."""
    with _serve(tmp_path, f"sqlite:///{tmp_path / 'countersign.db'}", servers=1) as running:
        yield running


def test_reminder_escalation_and_expiry_each_fire_once(served: Served) -> None:
    """Left alone, an exception is reminded, escalated and rejected by expiry, once each."""
    served.send("60", 1)
    wait_for(lambda: served.exceptions()[1].state == State.REJECTED, timeout=20, what="the expiry")
    time.sleep(2.5)  # past the second reminder's time: it must not come
    for approver in ("U0FINMGR1", "U0FINMGR2"):
        assert len(served.dms(approver, "Reminder: BX-000001")) == 1, approver
    assert served.dms("U0CFO1", "Reminder: BX-000001") == []
    assert len(served.dms("U0CFO1", "Escalated to you: BX-000001")) == 1
    assert len(served.dms("U0REQUEST1", "BX-000001 was rejected: expired")) == 1
    for action in ("timer.reminded", "timer.escalated", "timer.expired"):
        assert served.audit_count(action, 1) == 1, action
    (card,) = [m for m in served.slack.messages("C0BILLING") if m.thread_ts is None]
    notes = [m.text for m in served.slack.thread("C0BILLING", card.ts)]
    assert sum("Rejected by policy" in note for note in notes) == 1
    assert "Expired" in str(served.slack.message("C0BILLING", card.ts).blocks)
    scraped = httpx.get(f"{served.urls[0]}/metrics", timeout=10).text  # counted, once each
    for kind in ("remind", "escalate", "expire"):
        assert f'countersign_timers_fired_total{{kind="{kind}"}} 1.0' in scraped, kind


def test_escalated_approver_decides_from_the_dm_and_nothing_fires_after(
    served: Served,
) -> None:
    """The escalation DM's Approve button records the CFO's decision; no timer fires after."""
    served.send("25", 2)
    (dm,) = wait_for(
        lambda: served.dms("U0CFO1", "Escalated to you: BX-000001"), timeout=15, what="the DM"
    )
    delivery = SlackDelivery(
        app_url=f"{served.urls[0]}/slack/events",
        signing_secret=SIGNING_SECRET,
        emulator_url=served.slack.url,
    )
    with delivery:
        click = delivery.click(dm.channel, dm.ts, ActionId.APPROVE, "U0CFO1")
    assert click.status_code == 200, click.text
    wait_for(lambda: served.exceptions()[1].state == State.RELEASED, timeout=15, what="the release")
    assert served.intacct.submissions("INV-KEY-T2") == 1
    assert served.audit_count("decision.recorded", 1) == 1
    dms_after_decision = {u: len(served.dms(u, "BX-000001")) for u in ("U0FINMGR1", "U0CFO1")}
    time.sleep(4)  # past the reminder (5 s after the event)
    assert {u: len(served.dms(u, "BX-000001")) for u in dms_after_decision} == dms_after_decision
    assert served.dms("U0FINMGR1", "Reminder: BX-000001") == []
    assert served.audit_count("timer.reminded", 1) == 0
    assert served.audit_count("timer.expired", 1) == 0
    assert served.audit_count("timer.escalated", 1) == 1


@pytest.mark.parametrize("blank_database_url", ["postgresql"], indirect=True)
def test_two_servers_on_one_postgresql_act_on_each_timer_once(
    tmp_path: Path, blank_database_url: str
) -> None:
    """Two `serve` processes sweeping one PostgreSQL database: each timer acts exactly once."""
    with _serve(tmp_path, blank_database_url, servers=2) as served:
        for number in range(1, 7):
            served.send("60", number, server=number % 2)
        wait_for(
            lambda: [r.state for r in served.exceptions().values()] == [State.REJECTED] * 6,
            timeout=30,
            what="every exception to expire",
        )
        time.sleep(2)
        for exception_id in range(1, 7):
            label = f"BX-{exception_id:06d}"
            for approver in ("U0FINMGR1", "U0FINMGR2"):
                assert len(served.dms(approver, f"Reminder: {label}")) == 1, (label, approver)
            assert len(served.dms("U0CFO1", f"Escalated to you: {label}")) == 1, label
            for action in ("timer.reminded", "timer.escalated", "timer.expired", "card.posted"):
                assert served.audit_count(action, exception_id) == 1, (label, action)
        cards = [m for m in served.slack.messages("C0BILLING") if m.thread_ts is None]
        assert len(cards) == 6
