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


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


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
    assert current(blank_database_url) == _head(blank_database_url)
    database = Database(blank_database_url)
    with database.transaction() as session:
        row = session.get(ExceptionRow, 1)
        decisions = session.exec(select(DecisionRow)).all()
    database.dispose()
    assert row is not None
    assert (row.customer_name, row.timing) == ("Acme", {})
    assert [d.approver for d in decisions] == ["U0FINMGR1"]


def test_upgrade_backfills_the_audit_canonical_text(blank_database_url: str) -> None:
    """Entries written before 0003 get their canonical text; an edit made earlier still shows."""
    import json
    from datetime import UTC, datetime

    from app.store import audit
    from app.store.audit_read import snapshot

    upgrade(blank_database_url, "0002")
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    prev, rows = audit.GENESIS, []
    for seq in (1, 2, 3):
        detail = {"n": seq, "amount": "9.99"}
        digest = audit.chain_hash(prev, audit.canonical(seq, at, seq, "U0A", "t.x", detail))
        rows.append({"s": seq, "at": at, "d": json.dumps(detail), "p": prev, "h": digest})
        prev = digest
    rows[1]["d"] = json.dumps({"n": 2, "amount": "0.01"})  # altered before the migration
    database = Database(blank_database_url)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_entry (seq, at, exception_id, actor, action, detail,"
                " prev_hash, hash) VALUES (:s, :at, :s, 'U0A', 't.x', :d, :p, :h)"
            ),
            rows,
        )
        connection.execute(text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": prev})
    upgrade(blank_database_url)
    with snapshot(database) as view:
        result = audit.verify(view)
        entries = list(view.entries())
    database.dispose()
    assert (result.ok, result.bad_seq) == (False, 2)
    assert entries[0].canonical == audit.canonical(
        1, at, 1, "U0A", "t.x", {"n": 1, "amount": "9.99"}
    )
    assert entries[2].detail == '{"amount":"9.99","n":3}'
