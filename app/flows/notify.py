"""Slack-bound outbox jobs: post the card, refresh it, add thread notes, DM people.

Each handler reads the exception as it is when the job runs, so a late or repeated refresh
always shows the latest state. A refresh or thread note for a card that is not posted yet
waits for the post (which makes it due the moment it lands); when no card is coming (an
auto-approved exception, or a post that was parked) a refresh has nothing to do and a note
goes to the channel as a plain message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.domain.events import ExceptionType
from app.domain.lifecycle import State, exception_label
from app.domain.money import format_money
from app.flows import jobs
from app.flows.ports import ChatPort, DecisionLine, ExceptionCard, RetryLater
from app.store import audit, outbox
from app.store.db import Database
from app.store.tables import DecisionRow, ExceptionRow, OutboxRow

CARD_WAITERS = (jobs.UPDATE_CARD, jobs.THREAD_NOTE)

_STATE_TEXT = {
    State.OPEN: "Waiting for approval",
    State.APPROVED: "Approved — releasing the invoice in Intacct",
    State.REJECTED: "Rejected — the invoice stays held",
    State.RELEASED: "Approved and released in Intacct",
    State.RELEASE_BLOCKED: "Approved but NOT released — the invoice changed",
    State.RELEASE_FAILED: "Approved but NOT released — Intacct refused",
}


def build_card(session: Session, row: ExceptionRow) -> ExceptionCard:
    """The facts an approver needs, from the stored exception and its decisions."""
    assert row.id is not None
    decisions = session.exec(
        select(DecisionRow)
        .where(DecisionRow.exception_id == row.id)
        .order_by(col(DecisionRow.decided_at), col(DecisionRow.id))
    ).all()
    step: dict[str, Any] = row.steps[row.current_step] if row.steps else {"approvers": []}
    step_text = (
        f"Step {row.current_step + 1} of {len(row.steps)}: "
        f"{step['quorum']} of {len(step['approvers'])} approver(s) must approve"
        if row.steps
        else "Auto-approved by policy"
    )
    return ExceptionCard(
        exception_id=row.id,
        label=exception_label(row.id),
        type_label=ExceptionType(row.type).label,
        customer=row.customer_name + (f" ({row.customer_tier})" if row.customer_tier else ""),
        invoice=row.invoice_number or row.invoice_key,
        amount=format_money(row.amount, row.currency),
        figures=tuple((str(k), str(v)) for k, v in sorted(row.details.items())),
        reason=row.reason,
        requester=row.requested_by_slack or row.requested_by_email,
        route=row.route_name,
        state=_STATE_TEXT[State(row.state)],
        step_text=step_text,
        approvers=tuple(step["approvers"]),
        decisions=tuple(
            DecisionLine(
                d.approver, d.outcome, d.decided_at.strftime("%Y-%m-%d %H:%M UTC"), d.reason
            )
            for d in decisions
        ),
        note=row.state_note,
        open=row.state == State.OPEN,
    )


def card_coming(session: Session, exception_id: int) -> bool:
    """True while the exception's card post is still queued or retrying."""
    return (
        session.exec(
            select(OutboxRow.id).where(
                OutboxRow.exception_id == exception_id,
                OutboxRow.kind == jobs.POST_CARD,
                OutboxRow.state == "pending",
            )
        ).first()
        is not None
    )


class SlackJobs:
    def __init__(self, db: Database, chat: ChatPort) -> None:
        self._db, self._chat = db, chat

    def post_card(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, int(payload["exception_id"]))
            if row is None or row.message_ts or not row.channel:
                return
            card, channel = build_card(session, row), row.channel
        ts = self._chat.post_card(channel, card)
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, card.exception_id)
            assert row is not None
            row.message_ts = ts
            session.add(row)
            outbox.make_due(session, kinds=CARD_WAITERS, now=now, exception_id=row.id)
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="card.posted",
                exception_id=row.id,
                detail={"channel": channel, "ts": ts},
            )

    def update_card(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, int(payload["exception_id"]))
            if row is None or not row.channel:
                return
            if not row.message_ts:
                if card_coming(session, int(payload["exception_id"])):
                    raise RetryLater("waiting for the card to be posted")
                return  # no card to refresh: it will not be posted
            card, channel, ts = build_card(session, row), row.channel, row.message_ts
        self._chat.update_card(channel, ts, card)

    def thread_note(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, int(payload["exception_id"]))
            if row is None or not row.channel:
                return
            channel, ts = row.channel, row.message_ts
            if not ts and card_coming(session, int(payload["exception_id"])):
                raise RetryLater("waiting for the card to be posted")
        if ts:
            self._chat.post_thread(channel, ts, str(payload["text"]))
        else:  # no card to thread under: say it in the channel
            label = exception_label(int(payload["exception_id"]))
            self._chat.post_text(channel, f"{label}: {payload['text']}")

    def notify_user(self, payload: dict[str, Any], now: datetime) -> None:
        self._chat.notify_user(str(payload["user"]), str(payload["text"]))

    def channel_notice(self, payload: dict[str, Any], now: datetime) -> None:
        self._chat.post_text(str(payload["channel"]), str(payload["text"]))

    def dm_card(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, int(payload["exception_id"]))
            if row is None or row.state != State.OPEN:
                return  # decided since: a reminder about it would only confuse
            card = build_card(session, row)
        self._chat.dm_card(str(payload["user"]), str(payload["intro"]), card)
