"""Slack-bound outbox jobs: post the card, refresh it, add thread notes, DM people.

Each handler reads the exception as it is when the job runs, so a late or repeated refresh
always shows the latest state.

One card per exception, whatever happens. Slack has no idempotency key for chat.postMessage,
so a post whose answer is lost (a timeout or dropped connection after Slack accepted it, a
crash before the ts was stored) may have posted a card nobody knows about. Therefore:
1. before posting, `card_post_started_at` is committed on the exception, by the one attempt
   that finds it unset (of two fresh attempts at once, the other backs off); it is cleared
   when the ts is stored, or when Slack's answer says nothing was posted (429, refusal);
2. each card carries message metadata naming its exception (see app/slack/chat.py);
3. when a post starts while the marker is still set (an earlier attempt's outcome is unknown:
   its answer was lost, its process died, or its claim was taken over), the channel's history
   since the marker is searched for this exception's cards first: the oldest is adopted, any
   others are deleted, and only when there is none is a card posted;
4. the ts is stored only if no other attempt stored one already (a worker that overran its
   lease); the loser deletes its own card.
So the search (conversations.history, rate-limited) runs only after an unknown outcome, never
on the normal path or after a plain 429. The card is drawn from a read-only transaction (no
write lock while the job only looks), and the job is completed in the transaction that stores
the ts (app/store/outbox.py `finish`): a posted card costs the claim, the marker and the record.

A refresh or thread note for a card that is not posted yet waits for the post (which makes it
due the moment it lands); when no card is coming (an auto-approved exception, or a post that
was parked) a refresh has nothing to do and a note goes to the channel as a plain message."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.domain.events import ExceptionType
from app.domain.lifecycle import State, exception_label
from app.domain.money import format_money
from app.domain.quorum import Requirement, describe_needs, describe_rule, shortfall
from app.flows import delegation, jobs
from app.flows.decide import approved_names, set_aside_count
from app.flows.ports import (
    ChangesLine,
    ChatPort,
    DecisionLine,
    DeliveryFailed,
    ExceptionCard,
    OutcomeUnknown,
    Paced,
    RetryLater,
)
from app.store import audit, canonical_json, outbox
from app.store.db import Database
from app.store.tables import DecisionRow, ExceptionRow, OutboxRow, sa_table

CARD_WAITERS = (jobs.UPDATE_CARD, jobs.THREAD_NOTE)

log = structlog.get_logger("countersign.notify")
# How far before the marker to search: covers a skew between our clock and Slack's ts.
CARD_SEARCH_MARGIN = timedelta(minutes=5)

_STATE_TEXT = {
    State.OPEN: "Waiting for approval",
    State.CHANGES_REQUESTED: "Changes requested — waiting for the requester to resubmit",
    State.APPROVED: "Approved — releasing the invoice in Intacct",
    State.REJECTED: "Rejected — the invoice stays held",
    State.RELEASED: "Approved and released in Intacct",
    State.RELEASE_BLOCKED: "Approved but NOT released — the invoice changed",
    State.RELEASE_FAILED: "Approved but NOT released — Intacct refused",
}


def build_card(session: Session, row: ExceptionRow, now: datetime | None = None) -> ExceptionCard:
    """The facts an approver needs, from the stored exception and its decisions (and, given
    `now`, who decides for an approver who delegated)."""
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
                d.approver,
                d.outcome,
                d.decided_at.strftime("%Y-%m-%d %H:%M UTC"),
                d.reason,
                d.on_behalf_of,
            )
            for d in decisions
        ),
        stand_ins=tuple(
            (held.delegate, held.delegator, held.until.isoformat())
            for held in delegation.stand_ins(session, step["approvers"], now)
        )
        if is_open and now is not None
        else (),
        note=row.state_note,
        changes=changes_line(row),
        open=is_open,
        step=row.current_step,
        version=len(decisions) + set_aside_count(row),
    )


def card_record(card: ExceptionCard) -> dict[str, Any]:
    """What a card showed, for the audit: its facts (as JSON) and their sha256, so an evidence
    packet can show what the approvers saw and prove it is what was sent."""
    facts = json.loads(json.dumps(dataclasses.asdict(card)))
    digest = hashlib.sha256(canonical_json.dumps(facts).encode()).hexdigest()
    return {"card": facts, "card_sha256": digest}


def changes_line(row: ExceptionRow) -> ChangesLine | None:
    """The open request for changes, as the card shows it (None when there is none)."""
    asked = row.change_request
    if row.state != State.CHANGES_REQUESTED or not asked:
        return None
    at = datetime.fromisoformat(str(asked["at"])).strftime("%Y-%m-%d %H:%M UTC")
    return ChangesLine(
        str(asked["by"]), at, str(asked["note"]), resubmitting=bool(asked.get("resubmitted_at"))
    )


def step_text(row: ExceptionRow) -> str:
    """Where the approval stands: the pending step while open, the outcome once decided."""
    count = len(row.steps)
    if not count:
        return "Auto-approved by policy"
    if row.state == State.REJECTED:
        return f"Rejected at step {row.current_step + 1} of {count}"
    if row.state == State.CHANGES_REQUESTED:
        return f"Changes requested at step {row.current_step + 1} of {count}"
    if row.state != State.OPEN:
        return f"Approval complete: {_count(count, 'step')} approved"
    step = row.steps[row.current_step]
    people = len(step["approvers"])
    where = f"Step {row.current_step + 1} of {count}"
    if step.get("require"):
        rules = [Requirement.from_json(r) for r in step["require"]]
        needs = shortfall(rules, approved_names(row, row.current_step))
        return f"{where}: needs {describe_rule(rules)}; still {describe_needs(needs)}"
    return f"{where}: {step['quorum']} of {_count(people, 'approver')} must approve"


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def unposted_in(channel: str) -> Any:
    """The ids of the channel's exceptions whose card is not posted yet (a subquery)."""
    exceptions = sa_table(ExceptionRow)
    return select(exceptions.c.id).where(
        exceptions.c.channel == channel, exceptions.c.message_ts.is_(None)
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
        exception_id = int(payload["exception_id"])
        with self._db.reading() as session:
            row = session.get(ExceptionRow, exception_id)
            if row is None or row.message_ts or not row.channel:
                return
            channel, unsure_since = row.channel, row.card_post_started_at
            try:  # Paced: back at its slot, and the card not drawn for nothing
                self._chat.card_slot(channel)
            except Paced as wait:
                self._put_back(channel, now, now + timedelta(seconds=wait.wait))
                raise
            card = build_card(session, row, now)
        if unsure_since is None:
            self._mark_posting(exception_id, now)
        ts, adopted = None, False
        if unsure_since is not None:
            found = self._chat.find_cards(channel, exception_id, unsure_since - CARD_SEARCH_MARGIN)
            for extra in found[1:]:
                self._delete_duplicate(exception_id, channel, extra, now)
            ts, adopted = (found[0], True) if found else (None, False)
        if ts is None:
            # OutcomeUnknown and any unexpected error keep the marker: the next attempt looks
            # for this post before posting again.
            try:
                ts = self._chat.post_card(channel, card)
            except OutcomeUnknown:
                raise
            except (RetryLater, DeliveryFailed):
                self._clear_marker(exception_id)  # Slack answered: nothing was posted
                raise
        kept = self._record_card(exception_id, channel, ts, adopted, now, card)
        if kept != ts:
            self._delete_duplicate(exception_id, channel, ts, now)

    def _put_back(self, channel: str, now: datetime, until: datetime) -> None:
        """The channel has no slot before `until`: its other cards due now are not due before
        then either. One UPDATE for all of them, so a flood of cards into one channel costs
        one look per slot, not one claim per card, and leaves the workers to the others."""
        with self._db.transaction() as session:
            outbox.put_back(
                session,
                kind=jobs.POST_CARD,
                exception_ids=unposted_in(channel),
                now=now,
                until=until,
            )

    def _mark_posting(self, exception_id: int, now: datetime) -> None:
        """Commit the marker (step 1 above), unless another attempt got further meanwhile
        (set the marker or stored a ts): then this one starts over, from what that one did."""
        table = sa_table(ExceptionRow)
        mark = (
            update(table)
            .where(
                table.c.id == exception_id,
                table.c.message_ts.is_(None),
                table.c.card_post_started_at.is_(None),
            )
            .values(card_post_started_at=now)
        )
        with self._db.transaction() as session:
            if not session.connection().execute(mark).rowcount:
                raise RetryLater("another attempt at this card started meanwhile")

    def _clear_marker(self, exception_id: int) -> None:
        with self._db.transaction() as session:
            row = session.get(ExceptionRow, exception_id)
            if row is not None and not row.message_ts:
                row.card_post_started_at = None
                session.add(row)

    def _record_card(
        self,
        exception_id: int,
        channel: str,
        ts: str,
        adopted: bool,
        now: datetime,
        card: ExceptionCard,
    ) -> str:
        """Store `ts` as the card unless another attempt stored one first; return the kept ts."""
        table = ExceptionRow.__table__  # type: ignore[attr-defined]
        store = (
            update(table)
            .where(table.c.id == exception_id, table.c.message_ts.is_(None))
            .values(message_ts=ts, card_post_started_at=None)
        )
        with self._db.transaction() as session:
            if not session.connection().execute(store).rowcount:
                row = session.get(ExceptionRow, exception_id)
                return row.message_ts if row is not None and row.message_ts else ts
            outbox.make_due(session, kinds=CARD_WAITERS, now=now, exception_id=exception_id)
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="card.posted",
                exception_id=exception_id,
                detail={"channel": channel, "ts": ts, "adopted": adopted} | card_record(card),
            )
            outbox.finish(session)  # the card is stored: the job is done in the same commit
        return ts

    def _delete_duplicate(self, exception_id: int, channel: str, ts: str, now: datetime) -> None:
        log.warning("card.duplicate", exception_id=exception_id, channel=channel, ts=ts)
        self._chat.delete_card(channel, ts)
        with self._db.transaction() as session:
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="card.duplicate_deleted",
                exception_id=exception_id,
                detail={"channel": channel, "ts": ts},
            )

    def update_card(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.reading() as session:
            row = session.get(ExceptionRow, int(payload["exception_id"]))
            if row is None or not row.channel:
                return
            if not row.message_ts:
                if card_coming(session, int(payload["exception_id"])):
                    raise RetryLater("waiting for the card to be posted")
                return  # no card to refresh: it will not be posted
            card, channel, ts = build_card(session, row, now), row.channel, row.message_ts
        self._chat.update_card(channel, ts, card)
        with self._db.transaction() as session:  # what the card shows from now on
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="card.updated",
                exception_id=card.exception_id,
                detail={"channel": channel, "ts": ts} | card_record(card),
            )
            outbox.finish(session)

    def thread_note(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.reading() as session:
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
        resubmit = bool(payload.get("resubmit"))
        wanted = State.CHANGES_REQUESTED if resubmit else State.OPEN
        with self._db.reading() as session:
            row = session.get(ExceptionRow, int(payload["exception_id"]))
            if row is None or row.state != wanted:
                return  # decided (or resubmitted) since: a reminder about it would only confuse
            card = dataclasses.replace(build_card(session, row, now), resubmit=resubmit)
        self._chat.dm_card(str(payload["user"]), str(payload["intro"]), card)
