"""What a sandbox click did, told as the person clicking would see it.

`sandbox click` plays Slack: it presses a button on the card in the Slack emulator. Countersign
acks every click with an empty 200, so what happened is read afterwards: a decision recorded in
the sandbox database and the card updated in the emulator, or the private (ephemeral) message
Countersign sent that user, or the error it put in the reject dialog."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, func, select

from app.domain.lifecycle import State, exception_label, parse_label
from app.store.db import Database
from app.store.tables import AuditEntryRow, DecisionRow, ExceptionRow, OutboxRow

T = TypeVar("T")


class NotRecorded(Exception):
    """The click changed nothing; the message says why, in one line."""


@dataclass(frozen=True)
class Card:
    exception_id: int
    label: str
    channel: str
    ts: str


def wait(probe: Callable[[], T | None], seconds: float) -> T | None:
    """Poll `probe` until it returns something, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


class SandboxRecords:
    """The sandbox database, read-only: where a card is, who decided, whether work is queued."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
            raise NotRecorded(
                f"no sandbox database at {parsed.database}; start `countersign sandbox up` "
                "(make run) first, and run this with the DATABASE_URL it prints"
            )
        self._db = Database(url)

    def close(self) -> None:
        self._db.dispose()

    def card(self, text: str) -> Card:
        """The card of exception `text` (BX-000001); unknown, or no card yet, is NotRecorded."""
        try:
            exception_id = parse_label(text)
        except ValueError as error:
            raise NotRecorded(str(error)) from None
        label = exception_label(exception_id)

        def read() -> ExceptionRow | None:
            row: ExceptionRow | None = self._read(lambda s: s.get(ExceptionRow, exception_id))
            return row

        def settled_row() -> tuple[ExceptionRow | None] | None:
            found = read()  # an open exception's card is posted just after the event is taken
            return (
                None if found and found.state == State.OPEN and not found.message_ts else (found,)
            )

        looked_up = wait(settled_row, 5)
        row = looked_up[0] if looked_up else read()
        if row is None:
            raise NotRecorded(f"{label} does not exist")
        if not row.message_ts or not row.channel:
            if row.state == State.OPEN:
                raise NotRecorded(f"{label} has no card yet; try again in a moment")
            how = "approved automatically by its route" if not row.steps else "decided"
            raise NotRecorded(f"{label} has no card to click: it was {how} (now {row.state})")
        return Card(exception_id, label, row.channel, row.message_ts)

    def decisions_by(self, exception_id: int, user: str) -> int:
        query = select(func.count(col(DecisionRow.id))).where(
            DecisionRow.exception_id == exception_id, DecisionRow.approver == user
        )
        return int(self._read(lambda session: session.exec(query).one()))

    def settled(self, exception_id: int) -> bool:
        """True when no outbox job of the exception waits to run (card update, release …)."""
        query = select(func.count(col(OutboxRow.id))).where(
            OutboxRow.exception_id == exception_id, OutboxRow.state == "pending"
        )
        return int(self._read(lambda session: session.exec(query).one())) == 0

    def recorded(self, card: Card, user: str) -> str:
        """One line on the latest decision `user` made on the exception, and where it stands."""

        def read(session: Any) -> tuple[ExceptionRow, DecisionRow]:
            decision = session.exec(
                select(DecisionRow)
                .where(DecisionRow.exception_id == card.exception_id, DecisionRow.approver == user)
                .order_by(col(DecisionRow.id).desc())
            ).first()
            return session.get(ExceptionRow, card.exception_id), decision

        row, decision = self._read(read)
        steps = len(row.steps)
        verb = "approved" if decision.outcome == "approve" else "rejected"
        done = f"{card.label}: {user} {verb} step {decision.step + 1} of {steps}"
        if row.state != State.OPEN:
            return f"{done}; the exception is now {row.state}."
        if row.current_step == decision.step:
            return f"{done}; step {decision.step + 1} needs more approvals."
        return f"{done}; waiting for step {row.current_step + 1} of {steps}."

    def exception(self, exception_id: int) -> ExceptionRow:
        """The exception as stored now (detached from the session)."""

        def read(session: Any) -> ExceptionRow:
            row: ExceptionRow = session.get(ExceptionRow, exception_id)
            session.expunge(row)
            return row

        return self._read(read)

    def audit_count(self, exception_id: int, action: str) -> int:
        query = select(func.count(col(AuditEntryRow.seq))).where(
            AuditEntryRow.exception_id == exception_id, AuditEntryRow.action == action
        )
        return int(self._read(lambda session: session.exec(query).one()))

    def last_audit(self, exception_id: int, action: str) -> dict[str, Any] | None:
        query = (
            select(AuditEntryRow.detail)
            .where(AuditEntryRow.exception_id == exception_id, AuditEntryRow.action == action)
            .order_by(col(AuditEntryRow.seq).desc())
        )
        found: dict[str, Any] | None = self._read(lambda session: session.exec(query).first())
        return found

    def _read(self, query: Callable[[Any], T]) -> T:
        try:
            with self._db.transaction() as session:
                return query(session)
        except SQLAlchemyError as error:
            raise NotRecorded(
                f"cannot read the sandbox database ({type(error).__name__}); is this the "
                "DATABASE_URL `countersign sandbox up` printed?"
            ) from None


class EmulatedSlack:
    """What the Slack emulator shows, over its /_emulator/ HTTP surface."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._http = httpx.Client(timeout=10)

    def close(self) -> None:
        self._http.close()

    def private_notes(self, user: str) -> list[str]:
        """The ephemeral messages shown to `user`, oldest first."""
        state = self._http.get(f"{self._url}_emulator/state").json()
        return [e["text"] for e in state.get("ephemerals", []) if e.get("user") == user]

    def button_in_dms(self, label: str, action_id: str) -> tuple[str, str] | None:
        """(channel, ts) of the latest DM about `label` that carries the button `action_id`."""
        state = self._http.get(f"{self._url}_emulator/state").json()
        dms = set(state.get("dm_channels", {}).values())
        found = None
        for message in state.get("messages", []):
            if message["channel"] not in dms or label not in message.get("text", ""):
                continue
            actions = [
                element.get("action_id")
                for block in message.get("blocks") or []
                if block.get("type") == "actions"
                for element in block.get("elements", [])
            ]
            if action_id in actions:
                found = (str(message["channel"]), str(message["ts"]))
        return found

    def opened_views(self) -> list[dict[str, Any]]:
        return list(self._http.get(f"{self._url}_emulator/views").json()["opened"])

    def card_text(self, card: Card) -> str:
        answer = self._http.get(
            f"{self._url}_emulator/message", params={"channel": card.channel, "ts": card.ts}
        )
        return str(answer.json().get("text", "")) if answer.status_code == 200 else "(gone)"


def dialog_error(answer: httpx.Response) -> str | None:
    """The error Countersign put in a submitted dialog (response_action: errors), if any."""
    if not answer.content:
        return None
    try:
        body = answer.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("response_action") == "errors":
        return "; ".join(str(text) for text in body.get("errors", {}).values())
    return None
