"""Slack-bound outbox jobs: post the card, refresh it, add thread notes, DM people.

Each handler reads the exception as it is when the job runs, so a late or repeated refresh
always shows the latest state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.domain.events import ExceptionType
from app.domain.lifecycle import State, exception_label
from app.domain.money import format_money
from app.flows.ports import ChatPort, DecisionLine, ExceptionCard, RetryLater
from app.store import audit
from app.store.db import Database
from app.store.tables import DecisionRow, ExceptionRow

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
    is_open = row.state == State.OPEN
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
        step_text=step_text(row),
        approvers=tuple(step["approvers"]) if is_open else (),
        decisions=tuple(
            DecisionLine(
                d.approver, d.outcome, d.decided_at.strftime("%Y-%m-%d %H:%M UTC"), d.reason
            )
            for d in decisions
        ),
        note=row.state_note,
        open=is_open,
    )


def step_text(row: ExceptionRow) -> str:
    """Where the approval stands: the pending step while open, the outcome once decided."""
    count = len(row.steps)
    if not count:
        return "Auto-approved by policy"
    if row.state == State.REJECTED:
        return f"Rejected at step {row.current_step + 1} of {count}"
    if row.state != State.OPEN:
        return f"Approval complete: {_count(count, 'step')} approved"
    step = row.steps[row.current_step]
    people = len(step["approvers"])
    return (
        f"Step {row.current_step + 1} of {count}: {step['quorum']} of "
        f"{_count(people, 'approver')} must approve"
    )


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


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
                raise RetryLater("the card is not posted yet", after=2)
            card, channel, ts = build_card(session, row), row.channel, row.message_ts
        self._chat.update_card(channel, ts, card)

    def thread_note(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, int(payload["exception_id"]))
            if row is None or not row.channel:
                return
            if not row.message_ts:
                raise RetryLater("the card is not posted yet", after=2)
            channel, ts = row.channel, row.message_ts
        self._chat.post_thread(channel, ts, str(payload["text"]))

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
