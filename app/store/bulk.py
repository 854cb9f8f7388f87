"""Append-only rows written in bulk, for the paths that write thousands in one transaction.

Inside `batched_inserts(session)`, `insert_row` collects rows and the block ends with one
multi-row INSERT per table (a pipelined executemany on PostgreSQL) instead of an ORM object
and a statement per row. Outside such a block `insert_row` inserts at once. Code that updates
a table with collected rows must call `flush` first, so that the update sees them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, insert
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
