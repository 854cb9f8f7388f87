"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import app.store.tables  # noqa: F401 - registers the tables
from app.store.db import Database


def test_migrated_schema_matches_models(db: Database) -> None:
    """After `db upgrade`, autogenerate finds nothing to change."""
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_audit_head_is_seeded(db: Database) -> None:
    """The migration creates the audit chain's head at the genesis hash."""
    from app.store.tables import AuditHeadRow

    with db.transaction() as session:
        head = session.get(AuditHeadRow, 1)
    assert head is not None
    assert (head.seq, head.hash) == (0, "0" * 64)
