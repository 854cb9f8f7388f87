"""The database floor of intake's write path: the driver alone, running intake's own SQL.

What this store layout costs at the driver, whatever Python builds the statements: the SQL that
`Intake.receive_items` sends to write a batch of 1,000 events is captured once (SQLAlchemy's
`before_cursor_execute`, with the parameters as the driver receives them, already bound and
encoded), then replayed with nothing but the DBAPI connection: cursor.execute for each
statement (a SELECT's rows fetched), cursor.executemany where intake used it, and a commit
where intake's transaction committed (two: intake writes 500 events per transaction). On
SQLite the BEGIN IMMEDIATE that app/store/db.py issues is a statement like the others, and the
replay's sqlite3 connection is set up as Countersign's are (isolation_level None, the same
PRAGMAs); on PostgreSQL the replay runs on a psycopg connection of Countersign's own pool, and
the pool's pre-ping (a SELECT 1 at each checkout, so at each transaction) is recorded and
replayed too. No ORM, no validation, no routing, no JSON encoding or hashing is left: what
remains is what any implementation of this layout pays to get these rows into the database.

The raw floor is bench_intake.py's: one row per event (its JSON text) in one table, one
executemany in one transaction, captured from the same code and replayed the same way (on
SQLite in a file of its own, on PostgreSQL beside intake's tables). The ratio of the two
replays is the part of intake's gap to the raw floor that the rows it writes cost by
themselves, with their indexes, before any of Countersign's Python. With bench_intake.py's
policies and events (the catch-all route: no reminders, no notice channels) an event writes
its exception, the event, one audit entry and two outbox jobs (card and snapshot), and each
transaction moves the audit head; a route with reminders or notice channels adds timer and
outbox rows.

Every replay starts from the state the capture started from (a database that has taken one
warm-up batch), and must write: after each, every table it inserted into has grown by exactly
the captured rows (the outbox's ON CONFLICT DO NOTHING would otherwise skip a repeat quietly).
SQLite: the warm database file is copied before the capture, and each round replays on a fresh
copy of it (copied, opened and its schema read before the clock starts; its statements are
prepared afresh, which the second transaction shows costs next to nothing). PostgreSQL (when
BENCH_DATABASE_URL is set; a fresh database on that server, dropped afterwards): after the
capture and after each replay the rows added are deleted (those above each table's largest key
before the capture), the few rows updated (the audit head) are put back as they were and the
tables vacuumed, so the ids the captured statements carry are free again and no dead rows pile
up; the sequences move on, which no captured statement depends on.

Last, in each round after the two replays, the whole in-process `receive_items` of a comparable
batch (fresh event ids, on the database captured on: SQLite keeps its rows, PostgreSQL's are
deleted as above), to show the driver's share of it. Wall-clock milliseconds per 1,000 events,
minimum and median of ROUNDS rounds (BENCH_ROUNDS, default 5), the three measured interleaved;
the minimum is the figure to compare (a busy machine slows PostgreSQL's server most).

  python bench/bench_write_floor.py               # the figures
  python bench/bench_write_floor.py --statements  # and the captured statements"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, func, insert, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.flows.intake import Incoming, Intake
from app.routing import load_policy_set
from app.store import bulk, migrate
from app.store.db import SQLITE_PRAGMAS, Database
from app.web import incoming_events
from bench.bench_intake import POLICIES, RAW_TABLE, create_raw_table, load
from bench.bench_intake import event as billing_event
from tests.databases import scratch_postgres

EVENTS = 1000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PING = "SELECT 1"  # what SQLAlchemy's pre-ping sends (DefaultDialect.do_ping)
_TABLE = re.compile(r'^\s*(INSERT\s+INTO|COPY|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    """One call at the driver, as intake made it; `statement` None is a commit. A COPY
    (PostgreSQL, app/store/bulk.py) is `many` with its rows as the parameters."""

    statement: str | None
    parameters: Any = None
    many: bool = False

    @property
    def rows(self) -> int:
        return len(self.parameters) if self.many else 1

    @property
    def copy(self) -> bool:
        return (self.statement or "").startswith("COPY ")

    @property
    def written(self) -> tuple[str, str] | None:
        """(verb, table) of a statement that writes rows, else None."""
        found = _TABLE.match(self.statement or "")
        if not found:
            return None
        verb = found[1].split()[0].upper()
        return ("INSERT" if verb == "COPY" else verb, found[2])


COMMIT = Step(None)


@contextmanager
def capturing(db: Database) -> Iterator[list[Step]]:
    """The calls the block makes at the driver of `db`'s engine, in order, with its commits
    (a rollback fails the bench: the write path was not the one meant)."""
    steps: list[Step] = []
    engine, dialect = db.engine, db.engine.dialect

    def on_execute(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        steps.append(Step(statement, list(parameters) if many else parameters, many))

    def on_commit(_conn: Any) -> None:
        steps.append(COMMIT)

    def on_rollback(_conn: Any) -> None:
        raise SystemExit("a transaction rolled back during the capture")

    original_ping, original_copy = dialect.do_ping, bulk._copy

    def copy(connection: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
        steps.append(Step(statement, list(rows), many=True))
        original_copy(connection, statement, rows)

    def ping(dbapi_connection: Any) -> bool:
        steps.append(Step(PING, ()))
        return original_ping(dbapi_connection)

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", on_execute),
        ("commit", on_commit),
        ("rollback", on_rollback),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    setattr(dialect, "do_ping", ping)  # noqa: B010 (the pool calls dialect.do_ping)
    bulk._copy = copy  # COPY goes to the driver's own cursor.copy, unseen by the events above
    try:
        yield steps
    finally:
        bulk._copy = original_copy
        delattr(dialect, "do_ping")
        for name, listener in listeners:
            event.remove(engine, name, listener)


def replay(connection: Any, steps: list[Step]) -> list[float]:
    """Seconds the driver takes to run each of `steps` on a DBAPI connection."""
    cursor = connection.cursor()
    clock = time.perf_counter
    times = []
    for step in steps:
        started = clock()
        if step.statement is None:
            connection.commit()
        elif step.copy:
            with cursor.copy(step.statement) as copy:
                for row in step.parameters:
                    copy.write_row(row)
        elif step.many:
            cursor.executemany(step.statement, step.parameters)
        else:
            cursor.execute(step.statement, step.parameters)
            if cursor.description is not None:
                cursor.fetchall()
        times.append(clock() - started)
    cursor.close()
    return times


def expected_growth(steps: list[Step]) -> dict[str, int]:
    """Rows each table gains from the steps' INSERTs, in the order first inserted into."""
    growth: dict[str, int] = {}
    for step in steps:
        written = step.written
        if written and written[0] == "INSERT":
            growth[written[1]] = growth.get(written[1], 0) + step.rows
        elif written and written[0] == "DELETE":
            raise SystemExit(f"a DELETE in the write path: {step.statement}")
    return growth


def counts(connection: Any, tables: list[str]) -> dict[str, int]:
    """Rows in each table, read on a DBAPI connection (and its transaction ended)."""
    cursor = connection.cursor()
    found = {}
    for table in tables:
        cursor.execute(f"SELECT count(*) FROM {table}")
        found[table] = int(cursor.fetchone()[0])
    cursor.close()
    connection.commit()
    return found


def timed_replay(connection: Any, steps: list[Step]) -> list[float]:
    """Replay the steps on a connection to the state they were captured on; check they wrote."""
    growth = expected_growth(steps)
    before = counts(connection, list(growth))
    elapsed = replay(connection, steps)
    after = counts(connection, list(growth))
    grew = {table: after[table] - before[table] for table in growth}
    if grew != growth:
        raise SystemExit(f"the replay did not write what intake wrote: {grew} != {growth}")
    return elapsed


# --- the databases: the state before the capture, a connection per round ----------------------


class SqliteState:
    """The file as it was before the capture; each round replays on a fresh copy of it."""

    def __init__(self, db: Database, folder: Path) -> None:
        self.path = Path(make_url(db.url).database or "")
        self.folder = folder
        db.dispose()  # the last connection closed checkpoints the WAL into the file
        self.pristine = folder / f"{self.path.stem}-pristine.db"
        shutil.copyfile(self.path, self.pristine)
        self.rounds = 0

    def reset(self) -> None:
        """The copy was taken: nothing to undo (what the original gains stays there)."""

    @contextmanager
    def connection(self) -> Iterator[Any]:
        self.rounds += 1
        copy = self.folder / f"{self.path.stem}-replay-{self.rounds}.db"
        shutil.copyfile(self.pristine, copy)
        # as app/store/db.py opens them: check_same_thread, timeout, BEGIN issued by us, PRAGMAs
        connection = sqlite3.connect(copy, check_same_thread=False, timeout=30)
        connection.isolation_level = None
        for pragma in SQLITE_PRAGMAS:
            connection.execute(f"PRAGMA {pragma}")
        try:
            yield connection
        finally:
            connection.close()
            for leftover in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
                leftover.unlink(missing_ok=True)


class PostgresState:
    """Each table's largest key and the small tables' rows, taken before the capture; the
    rows added since are deleted and the small tables put back after the capture and after
    each round (then the tables touched are vacuumed)."""

    SMALL = 20  # tables of at most this many rows are kept whole (the audit head: one)

    def __init__(self, db: Database) -> None:
        self.db = db
        self.meta = MetaData()
        self.meta.reflect(db.engine)
        self.marks: dict[str, int] = {}
        self.kept: dict[str, list[dict[str, Any]]] = {}
        with db.engine.connect() as connection:
            for name, table in self.meta.tables.items():
                keys = list(table.primary_key.columns)
                largest = connection.execute(select(func.max(keys[0]))).scalar() if keys else ""
                if len(keys) == 1 and (largest is None or isinstance(largest, int)):
                    self.marks[name] = largest or 0
                rows = connection.execute(select(table).limit(self.SMALL + 1)).mappings().all()
                if len(rows) <= self.SMALL:
                    self.kept[name] = [dict(row) for row in rows]
        self.steps: list[Step] = []

    def watch(self, steps: list[Step]) -> None:
        self.steps = steps

    def reset(self) -> None:
        inserted = list(expected_growth(self.steps))
        updated = {w[1] for s in self.steps if (w := s.written) and w[0] == "UPDATE"}
        if missing := updated - set(self.kept):
            raise SystemExit(f"cannot put back the rows updated in {sorted(missing)}")
        if missing := set(inserted) - set(self.marks):
            raise SystemExit(f"cannot delete the rows added to {sorted(missing)} (no integer key)")
        with self.db.engine.begin() as connection:
            for name in reversed(inserted):  # the rows that point at others first
                table = self.meta.tables[name]
                (key,) = table.primary_key.columns
                connection.execute(table.delete().where(key > self.marks[name]))
            for name in sorted(updated):
                table = self.meta.tables[name]
                connection.execute(table.delete())
                if self.kept[name]:
                    connection.execute(insert(table), self.kept[name])
        with self.db.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            for name in [*inserted, *sorted(updated)]:
                connection.exec_driver_sql(f"VACUUM {name}")

    @contextmanager
    def connection(self) -> Iterator[Any]:
        pooled = self.db.engine.raw_connection()  # one of Countersign's own, pinged
        try:
            yield pooled.driver_connection
        finally:
            pooled.close()
            self.reset()


# --- one database --------------------------------------------------------------------------------


def batch(tag: str, now: datetime) -> list[Incoming]:
    body = json.dumps({"events": [billing_event(f"{tag}-{i}") for i in range(EVENTS)]})
    return incoming_events(body, now)[1]


def raw_store(db: Database, items: list[Incoming]) -> None:
    """bench_intake.py's raw floor: one row per event, one executemany, one transaction."""
    mark = "?" if db.dialect == "sqlite" else "%s"
    rows = [(json.dumps(json.loads(item.raw)),) for item in items]
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"INSERT INTO {RAW_TABLE} (body) VALUES ({mark})", rows)


def ms(values: list[float]) -> tuple[float, float]:
    """(min, median) in milliseconds per 1,000 events."""
    return min(values) * 1000, statistics.median(values) * 1000


def bench_database(label: str, url: str, raw_url: str, folder: Path, listing: bool) -> None:
    now = datetime.now(UTC)
    migrate.upgrade(url)
    create_raw_table(raw_url)  # SQLite: a file of its own; PostgreSQL: beside intake's tables
    db, raw_db = Database(url), Database(raw_url)
    policies = load_policy_set(POLICIES)
    intake = Intake(db, lambda: policies, wake=lambda: None)
    intake.receive_items(batch("warm", now), via="webhook")
    raw_store(raw_db, batch("raw-warm", now))

    states: list[SqliteState | PostgresState]
    if db.dialect == "sqlite":
        states = [SqliteState(db, folder), SqliteState(raw_db, folder)]
    else:
        states = [PostgresState(db), PostgresState(raw_db)]
    items = batch("captured", now)
    with capturing(db) as steps:
        outcomes = intake.receive_items(items, via="webhook")
    if not all(o.status == "created" for o in outcomes):
        raise SystemExit(f"the captured batch was not all created: {outcomes[0]}")
    with capturing(raw_db) as raw_steps:
        raw_store(raw_db, items)
    for state, captured in zip(states, (steps, raw_steps), strict=True):
        if isinstance(state, PostgresState):
            state.watch(captured)
        state.reset()

    per_step: list[list[float]] = []
    raw_times, whole = [], []
    for round_ in range(ROUNDS):  # interleaved, so that a busy moment slows all three alike
        with states[0].connection() as connection:
            per_step.append(timed_replay(connection, steps))
        with states[1].connection() as connection:
            raw_times.append(sum(timed_replay(connection, raw_steps)))
        fresh = batch(f"in-process-{round_}", now)
        started = time.perf_counter()
        outcomes = intake.receive_items(fresh, via="webhook")
        whole.append(time.perf_counter() - started)
        assert all(o.status == "created" for o in outcomes), outcomes[0]
        states[0].reset()
    intake_times = [sum(times) for times in per_step]
    db.dispose()
    raw_db.dispose()
    report(label, steps, raw_steps, intake_times, raw_times, whole)
    if listing:  # each step's fastest time of the rounds
        for step, times in zip(steps, zip(*per_step, strict=True), strict=True):
            shown = " ".join((step.statement or "COMMIT").split())[:80]
            print(f"{label:10} {min(times) * 1000:6.2f} ms {step.rows:5,} rows  {shown}")


def report(
    label: str,
    steps: list[Step],
    raw_steps: list[Step],
    intake_times: list[float],
    raw_times: list[float],
    whole: list[float],
) -> None:
    def shape(captured: list[Step]) -> tuple[int, int, int]:
        statements = [s for s in captured if s.statement is not None]
        written = sum(s.rows for s in statements if s.written)
        return len(statements), captured.count(COMMIT), written

    statements, commits, written = shape(steps)
    raw_statements, _, raw_written = shape(raw_steps)
    by_table = expected_growth(steps)
    for step in steps:
        if (written_to := step.written) and written_to[0] == "UPDATE":
            by_table[written_to[1]] = by_table.get(written_to[1], 0) + step.rows
    tables = ", ".join(f"{table} {rows:,}" for table, rows in by_table.items())
    (low, mid), (raw_low, raw_mid), (all_low, all_mid) = (
        ms(intake_times),
        ms(raw_times),
        ms(whole),
    )
    print(
        f"{label:10} capture         {statements} statements in {commits} transactions,"
        f" {written:,} rows written: {written / EVENTS:4.2f} rows/event"
        f" (raw {raw_statements} statements, {raw_written:,} rows: {raw_written / EVENTS:4.2f})"
    )
    print(f"{label:10} rows by table   {tables}")
    print(
        f"{label:10} intake SQL      {low:7.1f} ms per 1,000 events at the driver"
        f" (min of {ROUNDS}; median {mid:.1f})"
    )
    print(f"{label:10} raw insert      {raw_low:7.1f} ms per 1,000 events (median {raw_mid:.1f})")
    print(
        f"{label:10} ratio           {low / raw_low:7.2f}x intake/raw"
        f" (medians {mid / raw_mid:.2f}x)"
    )
    print(
        f"{label:10} receive_items   {all_low:7.1f} ms per 1,000 events in-process"
        f" (median {all_mid:.1f}); the driver's share {low / all_low:4.0%}"
        f" (medians {mid / all_mid:.0%})",
        flush=True,
    )


def main() -> None:
    listing = "--statements" in sys.argv
    print(f"loadavg at start {load()}; {ROUNDS} rounds, batches of {EVENTS:,} events")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        url, raw_url = f"sqlite:///{folder}/countersign.db", f"sqlite:///{folder}/raw.db"
        bench_database("sqlite", url, raw_url, folder, listing)
    pg = os.environ.get("BENCH_DATABASE_URL")
    if pg:
        with tempfile.TemporaryDirectory() as name, scratch_postgres(pg, "cs_floor") as url:
            bench_database("postgresql", url, url, Path(name), listing)
    else:
        print("postgresql: set BENCH_DATABASE_URL to measure it too")
    print(f"measured in {time.perf_counter() - started:.0f} s; loadavg {load()}")


if __name__ == "__main__":
    main()
