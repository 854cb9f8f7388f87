"""The card of a policy change in the change-control channel: posted when a new hash is held,
refreshed when it is approved, rejected or superseded. Each handler reads the version as it is
when the job runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from app.routing.policy_diff import changed_files, policy_diff
from app.store import audit
from app.store import policy_versions as versions
from app.store.db import Database
from app.store.tables import PolicyVersionRow

_STATE = {
    versions.PENDING: "Waiting for approval: the policy in force stays until then",
    versions.APPROVED: "Approved: in force",
    versions.REJECTED: "Rejected: not applied",
    versions.SUPERSEDED: "Superseded by a newer proposal: not applied",
}


@dataclass(frozen=True)
class PolicyChangeCard:
    """Everything a policy change card shows, as plain text; the Slack adapter renders it."""

    version_id: int
    proposed: str  # content hash
    in_force: str  # the hash in force when it was proposed
    loaded_by: str  # host/pid
    loaded_at: str
    files: tuple[str, ...]  # the files that changed
    diff: str  # unified diff, in full: the renderer fits it
    approvers: tuple[str, ...]
    state: str
    open: bool
    decided: str | None = None  # "by <@U…> at …"
    requested_by: str | None = None  # who asked for the reload (a Slack id or an e-mail)


class PolicyChatPort(Protocol):
    def post_policy_card(self, channel: str, card: PolicyChangeCard) -> str:
        """Post the card; return its ts."""

    def update_policy_card(self, channel: str, ts: str, card: PolicyChangeCard) -> None:
        """Replace the card in place."""


def build_policy_card(session: Session, row: PolicyVersionRow) -> PolicyChangeCard:
    base = versions.with_hash(session, row.base_hash) if row.base_hash else None
    old = versions.texts(base) if base is not None else []
    new = versions.texts(row)
    old_label = (row.base_hash or "none")[:12]
    decided = None
    if row.decided_by and row.decided_at:
        decided = f"by <@{row.decided_by}> at {row.decided_at:%Y-%m-%d %H:%M} UTC"
    assert row.id is not None
    return PolicyChangeCard(
        version_id=row.id,
        proposed=row.content_hash,
        in_force=row.base_hash or "",
        loaded_by=f"{row.host}/{row.pid}",
        loaded_at=f"{row.loaded_at:%Y-%m-%d %H:%M:%S} UTC",
        files=tuple(changed_files(old, new)),
        diff=policy_diff(old, new, old_label, row.content_hash[:12]),
        approvers=tuple(row.approvers),
        state=_STATE.get(row.status, row.status),
        open=row.status == versions.PENDING,
        decided=decided,
        requested_by=row.requested_by,
    )


class PolicyCards:
    def __init__(self, db: Database, chat: PolicyChatPort) -> None:
        self._db, self._chat = db, chat

    def post(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(PolicyVersionRow, int(payload["version"]))
            if row is None or row.card_ts or not row.channel or row.status != versions.PENDING:
                return  # posted already, or superseded before its card went out
            card, channel = build_policy_card(session, row), row.channel
        ts = self._chat.post_policy_card(channel, card)
        with self._db.transaction() as session:
            row = session.get(PolicyVersionRow, int(payload["version"]))
            if row is None:
                return
            row.card_ts = ts
            session.add(row)
            decided_meanwhile = card.open and row.status != versions.PENDING
            audit.append(
                session,
                at=now,
                actor="countersign",
                action="policy.card_posted",
                detail={"version": row.id, "channel": channel, "ts": ts},
            )
        if decided_meanwhile:  # decided while the post was on its way: show the outcome
            self.update(payload, now)

    def update(self, payload: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(PolicyVersionRow, int(payload["version"]))
            if row is None or not row.channel or not row.card_ts:
                return  # no card yet: the post shows the state as it is then
            card, channel, ts = build_policy_card(session, row), row.channel, row.card_ts
        self._chat.update_policy_card(channel, ts, card)
