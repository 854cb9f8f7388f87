"""The audit log: append-only, each entry chained to the previous one by sha256.

hash(n) = sha256(hash(n-1) + "\n" + canonical JSON of entry n's fields). The head row is locked
while appending (a row lock on PostgreSQL, the write lock on SQLite), so the chain has one order
even with several app instances. `verify` recomputes everything and names the first bad entry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select

from app.store.tables import AuditEntryRow, AuditHeadRow

GENESIS = "0" * 64
_HEAD = "countersign.audit_head"  # the locked head row, kept for the rest of the transaction


def _canonical(
    seq: int, at: datetime, exception_id: int | None, actor: str, action: str, detail: Any
) -> str:
    body = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "exception_id": exception_id,
        "actor": actor,
        "action": action,
        "detail": detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction: SessionTransaction) -> None:
    """The head is only ours until the outermost transaction ends."""
    if transaction.parent is None:
        session.info.pop(_HEAD, None)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    exception_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntryRow:
    """Add one entry to the chain inside the caller's transaction."""
    head = _locked_head(session)
    # Round-trip through JSON so that what we hash is exactly what the store gives back.
    clean = json.loads(json.dumps(detail or {}, default=str))
    seq = head.seq + 1
    digest = chain_hash(head.hash, _canonical(seq, at, exception_id, actor, action, clean))
    entry = AuditEntryRow(
        seq=seq,
        at=at,
        exception_id=exception_id,
        actor=actor,
        action=action,
        detail=clean,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.add(head)
    return entry


@dataclass(frozen=True)
class Entry:
    """An entry to append; the chain gives it its seq and hashes."""

    at: datetime
    actor: str
    action: str
    exception_id: int | None = None
    detail: dict[str, Any] | None = None


def append_many(session: Session, entries: list[Entry]) -> None:
    """Append entries in order inside the caller's transaction: the head is locked once, the
    chain computed in memory, the rows written by one multi-row INSERT, the head updated once."""
    if not entries:
        return
    head = _locked_head(session)
    seq, prev_hash = head.seq, head.hash
    rows = []
    for entry in entries:
        seq += 1
        values = _entry_values(seq, prev_hash, entry)
        rows.append(values)
        prev_hash = values["hash"]
    session.execute(insert(AuditEntryRow.__table__), rows)  # type: ignore[attr-defined]
    head.seq, head.hash = seq, prev_hash
    session.add(head)


def _entry_values(seq: int, prev_hash: str, entry: Entry) -> dict[str, Any]:
    """The stored columns of entry `seq`, chained to `prev_hash`."""
    # Round-trip through JSON so that what we hash is exactly what the store gives back.
    clean = json.loads(json.dumps(entry.detail or {}, default=str))
    canonical = _canonical(seq, entry.at, entry.exception_id, entry.actor, entry.action, clean)
    return {
        "seq": seq,
        "at": entry.at,
        "exception_id": entry.exception_id,
        "actor": entry.actor,
        "action": entry.action,
        "detail": clean,
        "prev_hash": prev_hash,
        "hash": chain_hash(prev_hash, canonical),
    }


def _locked_head(session: Session) -> AuditHeadRow:
    """The head row, locked until the transaction ends (first use in it takes the lock)."""
    head: AuditHeadRow | None = session.info.get(_HEAD)
    if head is None:
        head = session.exec(select(AuditHeadRow).with_for_update()).first()
        if head is None:
            raise RuntimeError("the audit head row is missing: run `countersign db upgrade`")
        session.info[_HEAD] = head
    return head


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problem: str | None = None
    bad_seq: int | None = None


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Recompute the chain from the first entry; report the first entry that does not hold."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = session.exec(
            select(AuditEntryRow)
            .where(col(AuditEntryRow.seq) > last_seq)
            .order_by(col(AuditEntryRow.seq))
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return VerifyResult(False, count, f"entry {expected_seq} is missing", expected_seq)
            if row.prev_hash != prev_hash:
                return VerifyResult(
                    False, count, f"entry {row.seq} does not point at entry {row.seq - 1}", row.seq
                )
            canonical = _canonical(
                row.seq, row.at, row.exception_id, row.actor, row.action, row.detail
            )
            if chain_hash(prev_hash, canonical) != row.hash:
                return VerifyResult(
                    False, count, f"entry {row.seq} was altered: its hash does not match", row.seq
                )
            prev_hash, expected_seq, count = row.hash, expected_seq + 1, count + 1
        last_seq = rows[-1].seq
    head = session.get(AuditHeadRow, 1)
    if head is not None and (head.seq != count or head.hash != prev_hash):
        return VerifyResult(
            False,
            count,
            f"entries after {count} were removed (the head says {head.seq})",
            count + 1,
        )
    return VerifyResult(True, count)
