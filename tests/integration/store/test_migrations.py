"""The Alembic migrations build exactly the schema the models describe, and keep data."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel, select

from app.store.db import Database, make_engine
from app.store.migrate import alembic_config, current, upgrade
from app.store.tables import DecisionRow, ExceptionRow


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


def test_upgrade_keeps_data_written_under_the_first_revision(blank_database_url: str) -> None:
    """A database in use at 0001 upgrades to head with its exceptions and decisions intact."""
    upgrade(blank_database_url, "0001")
    engine = make_engine(blank_database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO billing_exception (id, type, source, event_id, customer_id,"
                " customer_name, invoice_key, currency, amount, details, state, route_name,"
                " route_reason, policy_hash, steps, current_step, invoice_fingerprint,"
                " created_at, updated_at) VALUES (1, 'invoice_dispute', 'crm', 'e-1', 'C-1',"
                " 'Acme', 'INV-1', 'USD', '10.00', '{}', 'open', 'disputes', 'type matched',"
                " :hash, '[]', 0, :hash, :at, :at)"
            ),
            {"hash": "0" * 64, "at": "2026-11-20 10:00:00+00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO decision (exception_id, step, approver, outcome, decided_at)"
                " VALUES (1, 0, 'U0FINMGR1', 'approve', '2026-11-20 11:00:00+00:00')"
            )
        )
    engine.dispose()
    upgrade(blank_database_url)
    head = ScriptDirectory.from_config(alembic_config(blank_database_url)).get_current_head()
    assert current(blank_database_url) == head
    database = Database(blank_database_url)
    with database.transaction() as session:
        row = session.get(ExceptionRow, 1)
        decisions = session.exec(select(DecisionRow)).all()
    database.dispose()
    assert row is not None
    assert (row.customer_name, row.timing) == ("Acme", {})
    assert [d.approver for d in decisions] == ["U0FINMGR1"]
