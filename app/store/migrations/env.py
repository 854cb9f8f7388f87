"""Alembic environment: the URL comes from the caller (countersign db upgrade), never a file."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import app.store.tables  # noqa: F401 - registers the tables on SQLModel.metadata
from app.store.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # a batch migration copies tables; SQLite must not enforce keys meanwhile
            _driver(connection).execute("PRAGMA foreign_keys=OFF")  # outside any transaction
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                _check_foreign_keys(connection)
    engine.dispose()


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration broke foreign keys (table, rowid, parent): {broken[:5]}")


run_migrations()
