"""Append-only rows written in bulk, for the paths that write thousands in one transaction.

Inside `batched_inserts(session)`, `insert_row` collects rows and the block ends with one
multi-row INSERT per table (a pipelined executemany on PostgreSQL) instead of an ORM object
and a statement per row. Outside such a block `insert_row` inserts at once. Code that updates
a table with collected rows must call `flush` first, so that the update sees them.

`insert_many` writes rows of one shape at the driver's speed: one executemany on SQLite, and on
PostgreSQL one COPY FROM STDIN (the server takes the rows as one stream instead of parsing and
executing an INSERT per row: about three times faster for a thousand rows, measured on
PostgreSQL 15), except where a conflict must be skipped, which COPY cannot do."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

_PENDING = "countersign.bulk_inserts"


@contextmanager
def batched_inserts(session: Session) -> Iterator[None]:
    """Collect `insert_row` rows during the block; write them when it ends without error."""
    if _PENDING in session.info:  # nested: the outer block writes everything
        yield
        return
    session.info[_PENDING] = {}
    try:
        yield
        flush(session)
    finally:
        session.info.pop(_PENDING, None)


def insert_row(session: Session, table: Table, values: dict[str, Any]) -> None:
    """Insert one row now, or at the end of the enclosing `batched_inserts` block."""
    pending: dict[Table, list[dict[str, Any]]] | None = session.info.get(_PENDING)
    if pending is None:
        session.execute(insert(table), [values])
    else:
        pending.setdefault(table, []).append(values)


def flush(session: Session) -> None:
    """Write the rows collected so far (a no-op outside `batched_inserts`)."""
    pending: dict[Table, list[dict[str, Any]]] | None = session.info.get(_PENDING)
    if not pending:
        return
    for table, rows in list(pending.items()):
        session.execute(insert(table), rows)
    pending.clear()


# --- many rows of one shape, at the driver's speed ---------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """An INSERT compiled once for one table, column set and dialect: the statement, its
    parameters in order with each one's bind processor, the omitted columns' defaults, and
    whether the driver takes a dict per row (psycopg) or a sequence (sqlite3)."""

    sql: str
    parameters: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    defaults: dict[str, Any]
    named: bool
    copy: str | None  # PostgreSQL: the same rows as COPY ... FROM STDIN (None: use `sql`)


# Per dialect object (an engine's), dropped with it: its id could be reused by a later engine
# of the other kind, whose statements take another parameter style.
_SHAPES: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, tuple[str, ...], bool], _Shape]] = (
    weakref.WeakKeyDictionary()
)


def _shape(
    dialect: Dialect, table: Table, given: tuple[str, ...], ignore_conflicts: bool
) -> _Shape:
    shapes = _SHAPES.setdefault(dialect, {})
    key = (table.name, given, ignore_conflicts)
    shape = shapes.get(key)
    if shape is None:
        defaults: dict[str, Any] = {}
        for column in table.columns:
            if column.name in given or column.default is None:
                continue
            if not column.default.is_scalar:
                raise ValueError(f"insert_many into {table.name} needs {column.name} given")
            defaults[column.name] = column.default.arg  # type: ignore[attr-defined]
        statement: Any = (pg_insert if dialect.name == "postgresql" else sqlite_insert)(table)
        if ignore_conflicts:
            statement = statement.on_conflict_do_nothing()
        names = (*given, *defaults)
        compiled = statement.values({name: bindparam(name) for name in names}).compile(
            dialect=dialect
        )
        order = tuple(compiled.positiontup or names)
        parameters = tuple(
            (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in order
        )
        copy = None
        if dialect.name == "postgresql" and not ignore_conflicts:
            quote = dialect.identifier_preparer
            listed = ", ".join(quote.quote(name) for name in order)
            copy = f"COPY {quote.format_table(table)} ({listed}) FROM STDIN"
        shape = _Shape(compiled.string, parameters, defaults, not compiled.positional, copy)
        shapes[key] = shape
    return shape


def insert_many(
    session: Session, table: Table, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """Insert rows that all have the same keys with one executemany at the driver: each value
    goes through its column's bind processor, as SQLAlchemy's own insert would, without its
    per-row bookkeeping; omitted columns take their (scalar) defaults. With ignore_conflicts a
    row that breaks a unique constraint is skipped by the database (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    connection = session.connection()
    shape = _shape(connection.dialect, table, tuple(rows[0]), ignore_conflicts)
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError(f"insert_many into {table.name}: the rows differ in their columns")
    if shape.defaults:
        rows = [{**shape.defaults, **row} for row in rows]
    columns = []
    for name, process in shape.parameters:
        values = [row[name] for row in rows]
        columns.append(values if process is None else _processed(values, process))
    batch: list[Any] = list(zip(*columns, strict=True))
    if shape.copy is not None:
        _copy(connection, shape.copy, batch)
        return
    if shape.named:
        names = [name for name, _ in shape.parameters]
        batch = [dict(zip(names, values, strict=True)) for values in batch]
    connection.exec_driver_sql(shape.sql, batch)


def _copy(connection: Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """The rows through PostgreSQL's COPY, inside the connection's transaction; a refusal is
    raised as SQLAlchemy raises a refused INSERT (IntegrityError, DataError, ...)."""
    dbapi = connection.dialect.loaded_dbapi
    raw: Any = connection.connection.dbapi_connection
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as error:
        raise DBAPIError.instance(statement, None, error, dbapi.Error) from error


def _processed(values: list[Any], process: Callable[[Any], Any]) -> list[Any]:
    """`process` of each value, once per distinct object: the rows of a batch share many
    (its arrival time, a route's steps), and a bind processor costs a microsecond or two."""
    done: dict[int, Any] = {}
    out = []
    for value in values:
        key = id(value)  # stable: every value is held by its row until the insert is done
        if key not in done:
            done[key] = process(value)
        out.append(done[key])
    return out
