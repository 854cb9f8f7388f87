"""How Slack's answers reach the outbox: a paced job keeps its budget and comes back at its
slot, errors a person must fix park the job with what to do (also when the admin channel
itself is the problem), and jobs run several at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlmodel import col, select

from app.flows import jobs
from app.flows.outbox_worker import OutboxWorker
from app.flows.ports import NeedsAttention, Paced
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.chat import SlackChat
from app.slack.render import BlockRenderer
from app.store import outbox
from app.store.db import Database
from app.store.tables import OutboxRow


class SettableClock:
    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


def _chat(slack: SlackEmulator) -> SlackChat:
    return SlackChat(WebClient(token=slack.bot_token, base_url=slack.api_url), BlockRenderer())


def _queue(db: Database, kind: str, payload: dict[str, Any], now: datetime) -> None:
    with db.transaction() as session:
        outbox.enqueue(session, kind=kind, payload=payload, now=now)


def _rows(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all())


@pytest.mark.parametrize(
    ("error", "extra", "advice"),
    [
        ("not_in_channel", {}, "invite @Countersign to channel C0BILLING"),
        ("is_archived", {}, "unarchive it"),
        ("channel_not_found", {}, "correct the channel in the policy"),
        ("invalid_auth", {}, "reinstall Countersign"),
        ("token_revoked", {}, "SLACK_BOT_TOKEN"),
        ("account_inactive", {}, "reinstall Countersign"),
        (
            "missing_scope",
            {"needed": "chat:write", "provided": "users:read"},
            "add the chat:write scope to the app and reinstall it",
        ),
    ],
)
def test_errors_a_person_must_fix_say_what_to_do(
    slack: SlackEmulator, error: str, extra: dict[str, str], advice: str
) -> None:
    """Each of Slack's fixable errors becomes NeedsAttention with its code and the fix."""
    slack.fail("chat.postMessage", error, **extra)
    with pytest.raises(NeedsAttention) as raised:
        _chat(slack).post_text("C0BILLING", "hello")
    assert raised.value.code == error
    assert advice in raised.value.reason
    if error == "missing_scope":
        assert "it has users:read" in raised.value.reason


def test_emulator_answers_not_in_channel_and_is_archived_as_slack_does(
    slack: SlackEmulator,
) -> None:
    """Bot not in a public channel, without chat:write.public: not_in_channel (posts, history);
    an archived one: is_archived."""
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    slack.revoke_scope("chat:write.public")
    slack.remove_bot("C0BILLING")
    slack.archive("C0ARDISPUTES")
    for call in (
        lambda: client.chat_postMessage(channel="C0BILLING", text="x"),
        lambda: client.conversations_history(channel="C0BILLING"),
    ):
        with pytest.raises(Exception, match="not_in_channel"):
            call()
    with pytest.raises(Exception, match="is_archived"):
        client.chat_postMessage(channel="C0ARDISPUTES", text="x")
    slack.invite_bot("C0BILLING")
    assert client.chat_postMessage(channel="C0BILLING", text="x")["ok"]


def test_a_429_pauses_that_channel_and_counts_against_the_waiting_budget(
    db: Database, slack: SlackEmulator
) -> None:
    """After a 429 the job is due again after exactly Retry-After, the attempt counted against
    its (tenfold) waiting budget, not parked; the other channel is not paused."""
    clock = SettableClock()
    chat = _chat(slack)
    slack.rate_limit("chat.postMessage", retry_after=2)
    handlers = {jobs.CHANNEL_NOTICE: lambda p, now: chat.post_text(p["channel"], p["text"])}
    worker = OutboxWorker(db, handlers, clock, max_attempts=1, linger_seconds=0)
    _queue(db, jobs.CHANNEL_NOTICE, {"channel": "C0BILLING", "text": "one"}, clock.now())
    assert worker.drain() == 1
    (row,) = _rows(db)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.available_at is not None
    due = row.available_at.replace(tzinfo=row.available_at.tzinfo or UTC) - clock.now()
    assert timedelta(seconds=2) <= due < timedelta(seconds=2.1)
    assert chat.pacer.paused_for("chat.postMessage", "C0BILLING") > 1.5
    assert chat.pacer.paused_for("chat.postMessage", "C0ARDISPUTES") == 0.0
    with pytest.raises(Paced):
        chat.post_text("C0BILLING", "too early")
    chat.post_text("C0ARDISPUTES", "another channel goes on")
    assert len(slack.calls("chat.postMessage")) == 2  # the 429 and the other channel's post


def test_a_job_slack_keeps_refusing_with_429_is_parked_after_its_waiting_budget(
    db: Database, slack: SlackEmulator
) -> None:
    """429 after 429: the job comes to rest, parked, once its waiting budget is spent."""
    clock = SettableClock()
    chat = _chat(slack)
    slack.rate_limit("chat.postMessage", times=10, retry_after=1)
    handlers = {jobs.CHANNEL_NOTICE: lambda p, now: chat.post_text(p["channel"], p["text"])}
    worker = OutboxWorker(
        db, handlers, clock, max_attempts=1, retry_later_attempts=2, linger_seconds=0
    )
    _queue(db, jobs.CHANNEL_NOTICE, {"channel": "C0BILLING", "text": "one"}, clock.now())
    worker.drain()
    time.sleep(1.1)  # the pacer's pause for Retry-After runs on the real clock
    clock.current += timedelta(seconds=2)
    worker.drain()
    (row,) = _rows(db)
    assert row.state == "dead"
    assert "rate-limited after 2 attempts" in (row.last_error or "")


def test_when_the_admin_channel_is_the_problem_the_notice_is_parked_unannounced(
    db: Database, slack: SlackEmulator
) -> None:
    """The bot is not in the admin channel either: the notice about the parked job is parked
    too, not announced again, and the worker's last problem names the admin channel."""
    clock = SettableClock()
    chat = _chat(slack)
    slack.revoke_scope("chat:write.public")
    slack.remove_bot("C0BILLING")
    slack.remove_bot("C0ADMIN")

    def notice(payload: dict[str, Any], now: datetime) -> None:
        chat.post_text(payload["channel"], payload["text"])

    worker = OutboxWorker(db, {jobs.CHANNEL_NOTICE: notice}, clock, admin_channel=lambda: "C0ADMIN")
    _queue(db, jobs.CHANNEL_NOTICE, {"channel": "C0BILLING", "text": "one"}, clock.now())
    assert worker.drain() == 2
    assert [r.state for r in _rows(db)] == ["dead", "dead"]
    assert worker.attention is not None
    assert "invite @Countersign to channel C0ADMIN" in worker.attention.reason
    assert slack.messages("C0ADMIN") == []


def test_jobs_run_several_at_a_time(db: Database) -> None:
    """With concurrency 4, four slow jobs overlap instead of running one after another."""
    clock = SettableClock()
    running, most = 0, 0
    lock = threading.Lock()

    def slow(payload: dict[str, Any], now: datetime) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)
        with lock:
            running -= 1

    worker = OutboxWorker(db, {"test.slow": slow}, clock, concurrency=4)
    for n in range(4):
        _queue(db, "test.slow", {"n": n}, clock.now())
    assert worker.drain() == 4
    assert most >= 2
    assert all(r.state == "done" for r in _rows(db))
