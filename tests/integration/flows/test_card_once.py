"""One card per exception through the real outbox worker, Slack adapter and Slack emulator:
lost answers, dropped connections, a crash after the post, races, and takeovers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlmodel import col, select
from structlog.testing import capture_logs

from app.flows import jobs
from app.flows.notify import SlackJobs, build_card
from app.flows.outbox_worker import OutboxWorker
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.chat import SlackChat, card_metadata
from app.slack.render import BlockRenderer
from app.store import outbox
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow, OutboxRow
from tests.factories import open_exception

CHANNEL = "C0BILLING"


class SettableClock:
    """Real time to start with, moved forward by hand (the Clock protocol, not a mock)."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


def _chat(slack: SlackEmulator, timeout: int = 1) -> SlackChat:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=timeout)
    return SlackChat(client, BlockRenderer())


def _worker(db: Database, chat: SlackChat, clock: SettableClock, name: str = "w1") -> OutboxWorker:
    return OutboxWorker(db, {jobs.POST_CARD: SlackJobs(db, chat).post_card}, clock, worker_id=name)


def _queue_card(db: Database, exception_id: int, now: datetime) -> None:
    with db.transaction() as session:
        outbox.enqueue(
            session,
            kind=jobs.POST_CARD,
            payload={"exception_id": exception_id},
            exception_id=exception_id,
            now=now,
        )


def _drain_until_rest(worker: OutboxWorker, clock: SettableClock, db: Database) -> None:
    """Drain, moving the clock past each backoff, until no job is pending."""
    for _ in range(10):
        worker.drain()
        with db.transaction() as session:
            pending = session.exec(select(OutboxRow).where(OutboxRow.state == "pending")).all()
        if not pending:
            return
        clock.advance(301)
    raise AssertionError("the outbox did not come to rest")


def _cards(slack: SlackEmulator, exception_id: int) -> list[str]:
    wanted = card_metadata(exception_id)
    return [m.ts for m in slack.messages(CHANNEL) if m.metadata == wanted]


def _stored(db: Database, exception_id: int) -> ExceptionRow:
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        return row


def _audit(db: Database, action: str) -> list[AuditEntryRow]:
    with db.transaction() as session:
        return list(
            session.exec(
                select(AuditEntryRow)
                .where(AuditEntryRow.action == action)
                .order_by(col(AuditEntryRow.seq))
            ).all()
        )


def _one_card_stored(db: Database, slack: SlackEmulator, exception_id: int) -> str:
    (ts,) = _cards(slack, exception_id)
    row = _stored(db, exception_id)
    assert (row.message_ts, row.card_post_started_at) == (ts, None)
    return ts


@pytest.mark.parametrize("hold", [3.0, None], ids=["answer-after-timeout", "connection-dropped"])
def test_a_post_whose_answer_is_lost_leaves_one_card(
    db: Database, slack: SlackEmulator, hold: float | None
) -> None:
    """Slack posts the card but the answer never arrives: the retry finds and adopts it."""
    clock = SettableClock()
    exception_id = open_exception(db)
    _queue_card(db, exception_id, clock.now())
    slack.lose_answer("chat.postMessage", hold_seconds=hold)
    _drain_until_rest(_worker(db, _chat(slack), clock), clock, db)
    ts = _one_card_stored(db, slack, exception_id)
    assert len(slack.calls("chat.postMessage")) == 1  # slack_sdk did not re-send it either
    assert len(slack.calls("conversations.history")) == 1
    (posted,) = _audit(db, "card.posted")
    where = {k: posted.detail[k] for k in ("channel", "ts", "adopted")}
    assert where == {"channel": CHANNEL, "ts": ts, "adopted": True}
    assert posted.detail["card"]["exception_id"] == exception_id  # what the card showed


def test_a_rate_limited_post_is_retried_without_a_history_search(
    db: Database, slack: SlackEmulator
) -> None:
    """A 429 says nothing was posted: the retry posts straight away, no lookup."""
    clock = SettableClock()
    exception_id = open_exception(db)
    _queue_card(db, exception_id, clock.now())
    slack.rate_limit("chat.postMessage", times=2)
    _drain_until_rest(_worker(db, _chat(slack), clock), clock, db)
    _one_card_stored(db, slack, exception_id)
    assert len(slack.calls("chat.postMessage")) == 3
    assert slack.calls("conversations.history") == []


def _post_behind_our_back(
    db: Database, chat: SlackChat, exception_id: int, count: int
) -> list[str]:
    """What a worker that died mid-post leaves: the marker set, card(s) in Slack, no ts."""
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        row.card_post_started_at = datetime.now(UTC)
        session.add(row)
        card = build_card(session, row)
    return [chat.post_card(CHANNEL, card) for _ in range(count)]


def test_a_crash_after_slack_posted_is_reconciled_by_the_next_attempt(
    db: Database, slack: SlackEmulator
) -> None:
    """A worker died after Slack took the post (marker set, no ts): the next one adopts it."""
    clock = SettableClock()
    exception_id = open_exception(db)
    chat = _chat(slack)
    (orphan,) = _post_behind_our_back(db, chat, exception_id, 1)
    _queue_card(db, exception_id, clock.now())
    _drain_until_rest(_worker(db, chat, clock), clock, db)
    assert _one_card_stored(db, slack, exception_id) == orphan
    assert len(slack.calls("chat.postMessage")) == 1


def test_two_cards_found_keep_the_oldest_and_delete_the_other(
    db: Database, slack: SlackEmulator
) -> None:
    """Should two cards of one exception exist, the oldest is kept and the other deleted."""
    clock = SettableClock()
    exception_id = open_exception(db)
    chat = _chat(slack)
    first, second = _post_behind_our_back(db, chat, exception_id, 2)
    _queue_card(db, exception_id, clock.now())
    _drain_until_rest(_worker(db, chat, clock), clock, db)
    assert _one_card_stored(db, slack, exception_id) == first
    (deleted,) = _audit(db, "card.duplicate_deleted")
    assert deleted.detail["ts"] == second


def test_other_exceptions_cards_are_not_adopted(db: Database, slack: SlackEmulator) -> None:
    """The lookup matches this exception's metadata only, across history pages."""
    clock = SettableClock()
    chat = _chat(slack)
    others = [open_exception(db) for _ in range(3)]
    for other in others:
        _queue_card(db, other, clock.now())
    _drain_until_rest(_worker(db, chat, clock), clock, db)
    exception_id = open_exception(db)
    _post_behind_our_back(db, chat, exception_id, 0)  # marker only: nothing reached Slack
    people = WebClient(token=slack.bot_token, base_url=slack.api_url)  # not paced: others
    for n in range(205):  # more than one conversations.history page (200) of other messages
        people.chat_postMessage(channel=CHANNEL, text=f"chatter {n}")
    _queue_card(db, exception_id, clock.now())
    _drain_until_rest(_worker(db, chat, clock), clock, db)
    for one in [*others, exception_id]:
        _one_card_stored(db, slack, one)
    assert len(slack.calls("conversations.history")) == 2


def _race(db: Database, slack: SlackEmulator, exception_id: int, now: datetime) -> list[str]:
    """Two post_card attempts started together; what each raised (empty: it returned)."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            SlackJobs(db, _chat(slack, timeout=5)).post_card({"exception_id": exception_id}, now)
        except Exception as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return outcomes


def test_two_fresh_attempts_at_once_leave_one_card(db: Database, slack: SlackEmulator) -> None:
    """Two attempts starting together: the one that marks the post first posts; the other
    either backs off (it read no marker) or searches and posts, and its card is deleted."""
    clock = SettableClock()
    exception_id = open_exception(db)
    slack.slow_down(0.5, "chat.postMessage")
    assert set(_race(db, slack, exception_id, clock.now())) <= {"RetryLater"}
    _one_card_stored(db, slack, exception_id)
    posted, deleted = slack.calls("chat.postMessage"), slack.calls("chat.delete")
    assert len(posted) - len(deleted) == 1


def test_two_attempts_after_an_unknown_outcome_leave_one_card(
    db: Database, slack: SlackEmulator
) -> None:
    """Two attempts racing after a lost answer (a lease overrun): both search, find nothing
    and post; the first ts stored wins and the other card is deleted."""
    clock = SettableClock()
    exception_id = open_exception(db)
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        row.card_post_started_at = clock.now()  # an earlier attempt's outcome is unknown
        session.add(row)
    slack.slow_down(0.5, "chat.postMessage")
    assert _race(db, slack, exception_id, clock.now()) == []
    kept = _one_card_stored(db, slack, exception_id)
    deletes = [c.args["ts"] for c in slack.calls("chat.delete")]
    assert len(slack.calls("chat.postMessage")) == 2
    assert len(deletes) == 1
    assert deletes[0] != kept


def test_a_worker_whose_job_was_taken_over_does_not_overwrite_the_result(
    db: Database, slack: SlackEmulator
) -> None:
    """A stalls past its lease, B takes the job over and finishes; A's late outcome is dropped."""
    clock = SettableClock()
    exception_id = open_exception(db)
    _queue_card(db, exception_id, clock.now())
    chat = _chat(slack)
    jobs_b = SlackJobs(db, chat)
    worker_b = OutboxWorker(db, {jobs.POST_CARD: jobs_b.post_card}, clock, worker_id="B")
    calls: list[str] = []

    def stalled_post(payload: dict[str, object], now: datetime) -> None:
        calls.append("A")
        clock.advance(outbox.LEASE.total_seconds() + 1)  # A stalls past its lease ...
        assert worker_b.drain() == 1  # ... and B takes the job over and posts the card
        raise RuntimeError("A's late failure")

    worker_a = OutboxWorker(db, {jobs.POST_CARD: stalled_post}, clock, worker_id="A")
    with capture_logs() as logs:
        assert worker_a.drain() == 1
    assert calls == ["A"]
    _one_card_stored(db, slack, exception_id)
    with db.transaction() as session:
        row = session.exec(select(OutboxRow)).one()
    assert (row.state, row.last_error, row.attempts) == ("done", None, 2)
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["outbox.claim_lost"]
