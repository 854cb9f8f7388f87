"""Reading the audit log in bulk: one read-only snapshot, rows streamed as plain text tuples.

No ORM objects and no write lock. On SQLite a deferred BEGIN (WAL mode: readers never block the
writer and see one consistent snapshot); on PostgreSQL a REPEATABLE READ, READ ONLY transaction
with a server-side cursor, so memory stays constant however long the chain is."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from app.store.db import Database

_PAGE = 5_000


class EntryText(NamedTuple):
    """One entry as stored: `at` in the canonical ISO form, `detail` as its JSON text."""

    seq: int
    at: str
    exception_id: int | None
    actor: str
    action: str
    detail: str
    prev_hash: str
    hash: str
    canonical: str


# The entries as text, per dialect; SQLAlchemy stores SQLite datetimes as
# 'YYYY-MM-DD HH:MM:SS.ffffff' UTC, PostgreSQL's json type keeps the text it was given.
_ROWS = {
    "sqlite": (
        "SELECT seq, substr(at, 1, 10) || 'T' || substr(at, 12) || '+00:00', exception_id,"
        " actor, action, detail, prev_hash, hash, canonical FROM audit_entry"
    ),
    "postgresql": (
        "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00',"
        " exception_id, actor, action, detail::text, prev_hash, hash, canonical FROM audit_entry"
    ),
}
# The chain for `verify`: the database rebuilds each entry's canonical text from its columns
# and compares it with the stored one (C inside the database, see app/store/audit.py), so only
# the hashed text and a flag cross to Python.
_CHAIN = {
    "sqlite": """
        SELECT seq, prev_hash, hash, canonical, canonical = (
            '{"action":' || json_quote(action) || ',"actor":' || json_quote(actor)
            || ',"at":"' || substr(at, 1, 10) || 'T' || substr(at, 12) || '+00:00"'
            || ',"detail":' || detail || ',"exception_id":' || coalesce(exception_id, 'null')
            || ',"seq":' || seq || '}'
        ) FROM audit_entry WHERE seq > ? ORDER BY seq
    """,
    "postgresql": """
        SELECT seq, prev_hash, hash, canonical, canonical = (
            '{"action":' || to_json(action)::text || ',"actor":' || to_json(actor)::text
            || ',"at":"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
            || '+00:00","detail":' || detail::text
            || ',"exception_id":' || coalesce(exception_id::text, 'null')
            || ',"seq":' || seq::text || '}'
        ) FROM audit_entry WHERE seq > ? ORDER BY seq
    """,
}
_RANGE = " WHERE seq > ? AND seq <= ? ORDER BY seq"
_OF_ONE = " WHERE seq > ? AND seq <= ? AND exception_id = ? ORDER BY seq"
_BOUNDS = {
    "sqlite": (
        "SELECT min(seq), max(seq) FROM audit_entry"
        " WHERE substr(at, 1, 10) || 'T' || substr(at, 12) || '+00:00' >= ?"
        " AND substr(at, 1, 10) || 'T' || substr(at, 12) || '+00:00' < ?"
    ),
    "postgresql": (
        "SELECT min(seq), max(seq) FROM audit_entry"
        " WHERE to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00' >= ?"
        " AND to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00' < ?"
    ),
}
_LAST = 2**62
_NAMES = itertools.count(1)


class Snapshot:
    """The audit log as of one moment; see `snapshot()`."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._connection = connection
        self.dialect = dialect
        self._mark = "?" if dialect == "sqlite" else "%s"

    def _one(self, sql: str, *params: Any) -> Any:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql.replace("?", self._mark), params)
            return cursor.fetchone()
        finally:
            cursor.close()

    def head(self) -> tuple[int, str] | None:
        row = self._one("SELECT seq, hash FROM audit_head WHERE id = 1")
        return None if row is None else (int(row[0]), str(row[1]))

    def entry_hash(self, seq: int) -> str | None:
        row = self._one("SELECT hash FROM audit_entry WHERE seq = ?", seq)
        return None if row is None else str(row[0])

    def seq_bounds(self, since: str | None, until: str | None) -> tuple[int, int] | None:
        """The first and last seq with since <= at < until (ISO UTC texts); None if none."""
        row = self._one(_BOUNDS[self.dialect], since or "", until or "~")
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])

    def entry(self, seq: int) -> EntryText | None:
        row = self._one(_ROWS[self.dialect] + " WHERE seq = ?", seq)
        return None if row is None else EntryText._make(row)

    def chain(self, after: int = 0) -> Iterator[tuple[int, str, str, str, bool]]:
        """(seq, prev_hash, hash, canonical, columns say what canonical says) after `after`."""
        return self._stream(_CHAIN[self.dialect], (after,))

    def entries(
        self, after: int = 0, upto: int | None = None, exception_id: int | None = None
    ) -> Iterator[EntryText]:
        """Entries with seq > after (and <= upto, of one exception) in seq order, streamed."""
        bound = _LAST if upto is None else upto
        params: tuple[int, ...]
        if exception_id is None:
            sql, params = _ROWS[self.dialect] + _RANGE, (after, bound)
        else:
            sql, params = _ROWS[self.dialect] + _OF_ONE, (after, bound, exception_id)
        return map(EntryText._make, self._stream(sql, params))

    def _stream(self, sql: str, params: tuple[int, ...]) -> Iterator[Any]:
        if self.dialect == "sqlite":
            cursor = self._connection.cursor()
            cursor.arraysize = _PAGE
        else:  # a server-side cursor: the server keeps the result, we hold one page
            cursor = self._connection.cursor(name=f"countersign_audit_{next(_NAMES)}")
            cursor.itersize = _PAGE
        try:
            cursor.execute(sql.replace("?", self._mark), params)
            while page := cursor.fetchmany(_PAGE):
                yield from page
        finally:
            cursor.close()


@contextmanager
def snapshot(db: Database) -> Iterator[Snapshot]:
    """A read-only view of the audit log that takes no write lock."""
    connection = db.engine.raw_connection()
    try:
        connection.rollback()  # start clean (a pool ping may have opened a transaction)
        cursor = connection.cursor()
        if db.dialect == "sqlite":
            cursor.execute("BEGIN DEFERRED")  # a read transaction; never BEGIN IMMEDIATE
        else:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.close()
        yield Snapshot(connection, db.dialect)
    finally:
        connection.rollback()
        connection.close()
