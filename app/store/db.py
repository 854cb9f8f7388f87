"""Engine and transactions. SQLite runs in WAL mode with write transactions taken up front
(BEGIN IMMEDIATE) so that concurrent writers queue instead of failing; PostgreSQL uses psycopg 3.
Both pool their connections: SQLite's PRAGMAs run once per connection, not per transaction.

`reading()` is a transaction that only reads. On SQLite it runs on connections of their own
that begin DEFERRED and are `query_only`: in WAL mode such a reader sees one consistent
snapshot, never waits for the write lock and never holds it, so a job that only looks (is the
card posted? what does the exception say now?) does not queue behind intake's writes
(sqlite.org/wal.html, "readers do not block writers and a writer does not block readers")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from app.store import canonical_json


def normalize_url(url: str) -> str:
    """postgresql:// means psycopg 3 here; everything else is passed through."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str) -> Engine:
    """Create the engine with the settings each backend needs to be safe under concurrency."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        # a host that silently drops packets must not hold /readyz or start-up for the OS's
        # TCP timeout (minutes): give up on a connection attempt after 5 s
        connect_args={"connect_timeout": 5},
        json_serializer=canonical_json.dumps,
    )


# Every SQLite connection's settings (the README's durability note states synchronous=NORMAL).
SQLITE_PRAGMAS = ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL")


def _sqlite_engine(url: str, *, read_only: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.database in (None, "", ":memory:"):
        raise ValueError(
            "use a file for SQLite (sqlite:///./countersign.db); memory is per connection"
        )
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=QueuePool,
        pool_size=8,
        max_overflow=24,
        pool_timeout=30,
        json_serializer=canonical_json.dumps,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")  # a write here is a bug: refuse it
        cursor.close()

    begin = "BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """The one handle flows use: `with db.transaction() as session:` commits or rolls back."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        # SQLite's readers get connections of their own (see `reading`); engines connect lazily
        sqlite = self.dialect == "sqlite"
        self._reader = _sqlite_engine(self.url, read_only=True) if sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads (a write in it fails on SQLite): one consistent view,
        without taking SQLite's write lock. PostgreSQL's readers never wait for writers anyway:
        there it is an ordinary transaction, rolled back at the end. What was read stays
        readable after the block (closing the session rolls back without expiring it)."""
        with Session(self._reader or self.engine, expire_on_commit=False) as session:
            yield session

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
        if self._reader is not None:
            self._reader.dispose()
