"""The audit log: append-only, each entry chained to the previous one by sha256.

hash(n) = sha256(hash(n-1) + "\\n" + canonical(n)), where canonical(n) is the JSON of entry n's
fields (seq, at, exception_id, actor, action, detail; sorted keys, no spaces). The exact text
that was hashed is stored in the `canonical` column. The head row is locked while appending (a
row lock on PostgreSQL, the write lock on SQLite), so the chain has one order even with several
app instances.

`verify` streams the entries in one read-only snapshot (no write lock: a live server keeps
appending) and, for each entry, checks three things:
1. it is the next seq and carries the previous entry's hash;
2. sha256(previous hash + canonical) is its stored hash (the stored text, so nothing is
   re-encoded);
3. the columns people read (at, actor, action, exception_id, detail) say what was hashed. Fast
   path: the database rebuilds the canonical text from the columns by string concatenation
   (it stores `detail` in the same canonical JSON form, see app/store/canonical_json.py; JSON
   string quoting is json_quote/to_json) and compares it with the stored text, in C, so only
   the text and a flag reach Python. An equal rebuild proves every column equals the hashed
   value, because each piece is self-delimiting (JSON strings, digits) between fixed keys. Only
   when it differs is the row read and compared in Python field by field (slow path), which
   either names the altered field or accepts a `detail` stored in another JSON spelling of
   exactly the same canonical value.
So altering any column, the canonical text, or the hash is detected for every entry, not a
sample, at the cost of one string comparison in the database and one sha256 per entry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, event, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from app.store import bulk, canonical_json
from app.store.audit_read import EntryText, Snapshot
from app.store.tables import AuditEntryRow, AuditHeadRow, sa_table

GENESIS = "0" * 64
_HEAD = "countersign.audit_head"  # the locked head row, kept for the rest of the transaction
_LAST_AT = "countersign.audit_last_at"  # the time of the chain's last entry, under that lock
_quote = json.encoder.encode_basestring  # the C encoder json.dumps(ensure_ascii=False) uses


def at_text(at: datetime) -> str:
    """A timestamp as it appears in the canonical form: 2026-11-23T09:00:00.000000+00:00."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(
    seq: int, at: datetime, exception_id: int | None, actor: str, action: str, detail: Any
) -> str:
    body = {
        "seq": seq,
        "at": at_text(at),
        "exception_id": exception_id,
        "actor": actor,
        "action": action,
        "detail": detail,
    }
    return canonical_json.dumps(body)


def rebuild(
    seq: int, at: str, exception_id: int | None, actor: str, action: str, detail: str
) -> str:
    """The canonical text from column texts (`at` as at_text, `detail` as stored JSON)."""
    eid = "null" if exception_id is None else str(exception_id)
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},"at":"{at}","detail":{detail},'
        f'"exception_id":{eid},"seq":{seq}}}'
    )


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction: SessionTransaction) -> None:
    """The head is only ours until the outermost transaction ends."""
    if transaction.parent is None:
        session.info.pop(_HEAD, None)
        session.info.pop(_LAST_AT, None)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def entry_values(
    prev_hash: str,
    seq: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    exception_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit_entry row as a dict (canonical text and hash included), for bulk inserts."""
    values, _ = _values(prev_hash, seq, at, actor, action, exception_id, detail)
    return values


def _values(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    exception_id: int | None,
    detail: dict[str, Any] | None,
) -> tuple[dict[str, Any], str]:
    """The row and its `detail` in canonical JSON. The canonical text is assembled from that
    JSON (`rebuild`, the same text `canonical` gives), so detail is encoded once."""
    # Round-trip through JSON so that what we hash is exactly what the store gives back.
    clean = json.loads(json.dumps(detail or {}, default=str))
    detail_text = canonical_json.dumps(clean)
    text = rebuild(seq, at_text(at), exception_id, actor, action, detail_text)
    values = {
        "seq": seq,
        "at": at,
        "exception_id": exception_id,
        "actor": actor,
        "action": action,
        "detail": clean,
        "prev_hash": prev_hash,
        "hash": chain_hash(prev_hash, text),
        "canonical": text,
    }
    return values, detail_text


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
    at = _in_order(session, at)
    values = entry_values(
        head.hash,
        head.seq + 1,
        at=at,
        actor=actor,
        action=action,
        exception_id=exception_id,
        detail=detail,
    )
    entry = AuditEntryRow(**values)
    session.add(entry)
    _advance(session, head, entry.seq, entry.hash)
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
        values, detail_text = _values(
            prev_hash,
            seq,
            _in_order(session, entry.at),
            entry.actor,
            entry.action,
            entry.exception_id,
            entry.detail,
        )
        values["detail"] = canonical_json.Encoded(detail_text)  # stored as hashed, not re-encoded
        rows.append(values)
        prev_hash = values["hash"]
    bulk.insert_many(session, _ENTRIES, rows)
    _advance(session, head, seq, prev_hash)


def _in_order(session: Session, at: datetime) -> datetime:
    """`at`, or the time of the entry before it if that is later: under the head lock, so the
    chain's timestamps never go backwards even when a transaction that took its time earlier
    (its `now` read before another's) appends after it. An auditor reads seq and time as one
    order; the entry says when it joined the chain, never earlier than its predecessor."""
    last: datetime | None = session.info.get(_LAST_AT)
    if last is None:
        head = _locked_head(session)
        last = session.connection().execute(_LAST_ENTRY_AT, {"seq": head.seq}).scalar()
    stamped = at if last is None or at >= last else last
    session.info[_LAST_AT] = stamped
    return stamped


@dataclass
class _Head:
    """The chain's head as this transaction holds it (locked) and moves it."""

    seq: int
    hash: str


_ENTRIES = sa_table(AuditEntryRow)
_HEADS = sa_table(AuditHeadRow)
_LOCK_HEAD = sa_select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1).with_for_update()
_MOVE_HEAD = (
    update(_HEADS).where(_HEADS.c.id == 1).values(seq=bindparam("seq"), hash=bindparam("hash"))
)
_LAST_ENTRY_AT = sa_select(_ENTRIES.c.at).where(_ENTRIES.c.seq == bindparam("seq"))


def _locked_head(session: Session) -> _Head:
    """The head row, locked until the transaction ends (first use in it takes the lock)."""
    head: _Head | None = session.info.get(_HEAD)
    if head is None:
        row = session.connection().execute(_LOCK_HEAD).first()
        if row is None:
            raise RuntimeError("the audit head row is missing: run `countersign db upgrade`")
        head = _Head(row.seq, row.hash)
        session.info[_HEAD] = head
    return head


def _advance(session: Session, head: _Head, seq: int, hash_: str) -> None:
    """Move the locked head to the entry just appended."""
    session.connection().execute(_MOVE_HEAD, {"seq": seq, "hash": hash_})
    head.seq, head.hash = seq, hash_


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int  # entries checked
    problem: str | None = None
    bad_seq: int | None = None
    last_seq: int = 0
    head_hash: str = GENESIS
    checkpoints: int = 0  # anchored checkpoints the chain was compared with


def _parse_at(value: str) -> datetime:
    """A stored timestamp as read (SQLite may hold one written in another ISO spelling)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value.removesuffix("+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def field_problem(row: EntryText) -> str | None:
    """Slow path: which column no longer says what was hashed (None: the row holds)."""
    try:
        hashed = json.loads(row.canonical)
        detail = json.loads(row.detail)
        at = at_text(_parse_at(row.at))
    except ValueError:
        return "its stored fields cannot be read"
    columns = {
        "seq": row.seq,
        "at": at,
        "exception_id": row.exception_id,
        "actor": row.actor,
        "action": row.action,
        "detail": detail,
    }
    if not isinstance(hashed, dict):
        return "its canonical text is not an entry"
    for name, value in columns.items():
        if hashed.get(name) != value or type(hashed.get(name)) is not type(value):
            return f"its {name} does not match what was hashed"
    if canonical_json.dumps(hashed) != row.canonical:
        return "its canonical text is not in canonical form"
    return None


def verify(
    snapshot: Snapshot, since: int | None = None, checkpoints: Mapping[int, str] | None = None
) -> VerifyResult:
    """Check the chain (from entry `since`, trusted, when given) against its head and the
    anchored checkpoints {seq: hash}; report the first entry that does not hold."""
    anchors = dict(checkpoints or {})
    start_seq, prev_hash = 0, GENESIS
    if since:
        known = snapshot.entry_hash(since)
        if known is None:
            return VerifyResult(False, 0, f"there is no entry {since} to start from", since)
        start_seq, prev_hash = since, known
    seen = 0
    if start_seq in anchors:
        seen += 1
        if anchors[start_seq] != prev_hash:
            return _anchor_broken(0, start_seq, prev_hash)
    expected, count = start_seq + 1, 0
    sha256 = hashlib.sha256
    for seq, prev, digest, text, same in snapshot.chain(after=start_seq):
        if seq != expected or prev != prev_hash:
            problem = f"entry {expected} is missing" if seq != expected else None
            problem = problem or f"entry {seq} does not point at entry {seq - 1}"
            return VerifyResult(False, count, problem, expected, expected - 1, prev_hash)
        if sha256(f"{prev}\n{text}".encode()).hexdigest() != digest:
            problem = f"entry {seq} was altered: its hash does not match"
            return VerifyResult(False, count, problem, seq, seq - 1, prev_hash)
        if not same and (problem := _columns_problem(snapshot, seq)) is not None:
            return VerifyResult(False, count, problem, seq, seq - 1, prev_hash)
        prev_hash, expected, count = digest, expected + 1, count + 1
        if seq in anchors:
            seen += 1
            if anchors[seq] != digest:
                return _anchor_broken(count, seq, prev_hash)
    last = expected - 1
    head = snapshot.head()
    if head is None:
        return VerifyResult(False, count, "the audit head row is missing", last + 1, last)
    head_seq, head_hash = head
    if head_seq != last or head_hash != prev_hash:
        if head_seq > last:
            problem = f"entries after {last} were removed (the head says {head_seq})"
        elif head_seq < last:
            problem = f"entries after {head_seq} are not in the chain's head (added behind it)"
        else:
            problem = f"the head's hash is not entry {last}'s hash"
        return VerifyResult(False, count, problem, min(head_seq, last) + 1, last, prev_hash)
    beyond = [seq for seq in anchors if seq > last]
    if beyond:
        return VerifyResult(
            False,
            count,
            f"entries after {last} were removed and the head rewritten"
            f" (a checkpoint recorded entry {max(beyond)})",
            last + 1,
            last,
            prev_hash,
        )
    return VerifyResult(True, count, None, None, last, prev_hash, seen)


def _anchor_broken(count: int, seq: int, found: str) -> VerifyResult:
    return VerifyResult(
        False,
        count,
        f"entry {seq} was rewritten: its hash differs from the anchored checkpoint",
        seq,
        seq,
        found,
    )


def _columns_problem(snapshot: Snapshot, seq: int) -> str | None:
    """The database's rebuild differed: compare in Python, field by field (slow path)."""
    row = snapshot.entry(seq)
    if row is None:
        return f"entry {seq} vanished while it was being checked"
    rebuilt = rebuild(row.seq, row.at, row.exception_id, row.actor, row.action, row.detail)
    problem = None if rebuilt == row.canonical else field_problem(row)
    return None if problem is None else f"entry {seq} was altered: {problem}"
