"""The audit log is a hash chain that `verify` checks end to end, read-only and from a snapshot."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.store import audit
from app.store.audit_read import snapshot
from app.store.db import Database
from app.store.tables import AuditEntryRow

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _write(db: Database, count: int) -> None:
    with db.transaction() as session:
        for n in range(count):
            audit.append(
                session,
                at=T0 + timedelta(seconds=n),
                actor="U0TEST",
                action="test.entry",
                exception_id=n,
                detail={"n": n, "amount": "12.50", "note": 'café ✓ "quoted"'},
            )


def _verify(db: Database, since: int | None = None) -> audit.VerifyResult:
    with snapshot(db) as view:
        return audit.verify(view, since)


def _tamper(db: Database, sql: str, **params: object) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(sql), params)


def test_intact_chain_verifies(db: Database) -> None:
    """A chain written by append() verifies and counts every entry."""
    _write(db, 5)
    result = _verify(db)
    assert (result.ok, result.entries, result.last_seq) == (True, 5, 5)


def test_each_entry_points_at_the_previous_hash(db: Database) -> None:
    """Entry n carries entry n-1's hash; the first carries the genesis hash."""
    _write(db, 3)
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT seq, prev_hash, hash FROM audit_entry ORDER BY seq")
        ).all()
    assert rows[0].prev_hash == audit.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]


def test_stored_canonical_is_what_was_hashed(db: Database) -> None:
    """The canonical column holds the exact text whose sha256 chains the entry."""
    _write(db, 2)
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT prev_hash, hash, canonical FROM audit_entry ORDER BY seq")
        ).all()
    assert all(audit.chain_hash(r.prev_hash, r.canonical) == r.hash for r in rows)
    assert json.loads(rows[1].canonical)["detail"]["note"] == 'café ✓ "quoted"'


def test_altered_detail_is_named(db: Database) -> None:
    """Editing one entry's detail makes verify name that entry and the field."""
    _write(db, 4)
    _tamper(db, "UPDATE audit_entry SET detail = :d WHERE seq = 3", d='{"n": 99}')
    result = _verify(db)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert "entry 3 was altered: its detail" in (result.problem or "")


def test_altered_actor_is_named(db: Database) -> None:
    """Editing who acted, a plain column, is detected even though the hash still holds."""
    _write(db, 4)
    _tamper(db, "UPDATE audit_entry SET actor = 'U0OTHER' WHERE seq = 2")
    result = _verify(db)
    assert (result.ok, result.bad_seq) == (False, 2)
    assert "its actor does not match" in (result.problem or "")


def test_altered_time_is_named(db: Database) -> None:
    """Moving an entry's timestamp is detected."""
    _write(db, 3)
    _tamper(db, "UPDATE audit_entry SET at = :at WHERE seq = 2", at=T0 + timedelta(days=1))
    result = _verify(db)
    assert (result.ok, result.bad_seq) == (False, 2)
    assert "its at does not match" in (result.problem or "")


def test_altered_canonical_is_named(db: Database) -> None:
    """Editing the stored canonical text itself breaks that entry's hash."""
    _write(db, 4)
    _tamper(
        db, "UPDATE audit_entry SET canonical = replace(canonical, '12.50', '1.25') WHERE seq = 2"
    )
    result = _verify(db)
    assert (result.ok, result.bad_seq) == (False, 2)
    assert "entry 2 was altered: its hash does not match" in (result.problem or "")


def test_detail_in_another_json_spelling_still_verifies(db: Database) -> None:
    """The same detail value stored with other spacing/key order is not an alteration."""
    _write(db, 3)
    _tamper(
        db,
        "UPDATE audit_entry SET detail = :d WHERE seq = 2",
        d=json.dumps({"note": 'café ✓ "quoted"', "n": 1, "amount": "12.50"}, indent=1),
    )
    assert _verify(db).ok


def test_deleted_entry_is_named(db: Database) -> None:
    """Deleting an entry from the middle is reported as that entry missing."""
    _write(db, 4)
    _tamper(db, "DELETE FROM audit_entry WHERE seq = 2")
    result = _verify(db)
    assert (result.ok, result.bad_seq) == (False, 2)
    assert result.problem == "entry 2 is missing"


def test_truncated_tail_is_detected(db: Database) -> None:
    """Deleting the newest entries is caught by the head row."""
    _write(db, 4)
    _tamper(db, "DELETE FROM audit_entry WHERE seq >= 3")
    result = _verify(db)
    assert result.ok is False
    assert result.bad_seq == 3


def test_verify_since_starts_from_a_known_good_entry(db: Database) -> None:
    """--since N trusts entry N's hash and checks only what follows it."""
    _write(db, 6)
    _tamper(db, "UPDATE audit_entry SET actor = 'U0OTHER' WHERE seq = 2")
    assert _verify(db).bad_seq == 2
    result = _verify(db, since=3)
    assert (result.ok, result.entries, result.last_seq) == (True, 3, 6)
    _tamper(db, "UPDATE audit_entry SET actor = 'U0OTHER' WHERE seq = 5")
    assert _verify(db, since=3).bad_seq == 5


def test_verify_since_an_unknown_entry_is_refused(db: Database) -> None:
    """Starting from an entry that does not exist is a failure, not an empty success."""
    _write(db, 2)
    result = _verify(db, since=9)
    assert (result.ok, result.problem) == (False, "there is no entry 9 to start from")


def test_concurrent_appends_keep_one_chain(db: Database) -> None:
    """Appends from several threads at once still form one unbroken chain."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: _write(db, 5), range(6)))
    result = _verify(db)
    assert (result.ok, result.entries) == (True, 30)


def test_appends_succeed_while_a_verify_is_in_progress(db: Database) -> None:
    """Verify takes no write lock: another connection appends and commits mid-verify."""
    _write(db, 50)
    appended = threading.Event()
    errors: list[BaseException] = []

    def append_now() -> None:
        try:
            _write(db, 3)
        except BaseException as error:  # the assertion below reports it
            errors.append(error)
        appended.set()

    with snapshot(db) as view:
        rows = view.entries()
        next(rows)  # the read transaction is open and reading
        writer = threading.Thread(target=append_now)
        writer.start()
        assert appended.wait(timeout=10), "the append was blocked by the verify"
        writer.join()
        consumed = 1 + sum(1 for _ in rows)
    assert errors == []
    assert consumed == 50  # the verify saw its snapshot, not the rows appended meanwhile
    result = _verify(db)
    assert (result.ok, result.entries) == (True, 53)


def test_verify_of_one_snapshot_holds_while_appends_continue(db: Database) -> None:
    """A full verify running during a stream of appends reports an intact chain."""
    _write(db, 200)
    stop = threading.Event()

    def keep_appending() -> None:
        while not stop.is_set():
            _write(db, 1)

    writer = threading.Thread(target=keep_appending)
    writer.start()
    try:
        results = [_verify(db) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    assert all(r.ok for r in results), [r.problem for r in results]
    assert _verify(db).ok


def test_the_database_confirms_the_columns_for_appended_entries(db: Database) -> None:
    """For entries written by append() (quotes, newlines, non-ASCII included) the database's
    own rebuild of the canonical text matches, so verify never needs its slow path."""
    with db.transaction() as session:
        audit.append(
            session,
            at=T0,
            actor='Zoë "Z" O\'Neil\n\t\x01',
            action="test.ünïcode",
            exception_id=None,
            detail={"b": [1, 2.5, None, True], "a": {"y": "→", "x": "\\"}},
        )
    _write(db, 2)
    with snapshot(db) as view:
        flags = [bool(row[4]) for row in view.chain()]
    assert flags == [True, True, True]
    assert _verify(db).ok


def test_an_entry_added_behind_the_head_is_detected(db: Database) -> None:
    """A well-chained entry appended without moving the head is reported, not accepted."""
    _write(db, 2)
    with db.engine.connect() as connection:
        prev = connection.execute(text("SELECT hash FROM audit_entry WHERE seq = 2")).scalar_one()
    values = audit.entry_values(str(prev), 3, at=T0, actor="U0X", action="test.entry")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_entry (seq, at, exception_id, actor, action, detail,"
                " prev_hash, hash, canonical) VALUES (:seq, :at, NULL, :actor, :action, '{}',"
                " :prev_hash, :hash, :canonical)"
            ),
            values,
        )
    result = _verify(db)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert result.problem == "entries after 2 are not in the chain's head (added behind it)"


def test_timestamps_never_go_backwards_along_the_chain(db: Database) -> None:
    """An entry whose transaction read the clock before its predecessor's is stamped with its
    predecessor's time, by append and append_many, across transactions; the chain verifies."""
    later = T0 + timedelta(minutes=5)
    with db.transaction() as session:
        audit.append(session, at=later, actor="U0A", action="test.late")
    with db.transaction() as session:
        audit.append(session, at=T0, actor="U0B", action="test.early")
        audit.append_many(
            session,
            [
                audit.Entry(at=T0 + timedelta(minutes=1), actor="U0C", action="test.batch"),
                audit.Entry(at=later + timedelta(minutes=1), actor="U0D", action="test.after"),
            ],
        )
    times = _times(db)
    assert times == [later, later, later, later + timedelta(minutes=1)]
    assert _verify(db).ok


def _times(db: Database) -> list[datetime]:
    with Session(db.engine) as session:
        rows = session.exec(select(AuditEntryRow).order_by(col(AuditEntryRow.seq))).all()
        return [row.at for row in rows]
