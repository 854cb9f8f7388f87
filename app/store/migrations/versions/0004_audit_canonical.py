"""audit entries keep the exact canonical text that was hashed

Revision ID: 0004
Revises: 0003 (card post marker)
Create Date: 2026-12-01 21:50:00.000000

Existing entries get their canonical text rebuilt from their columns, and their `detail`
rewritten in the canonical JSON form (same value), so `audit verify` takes its fast path on
them too. The backfill cannot launder a past edit: the stored hash was computed from the
original fields, so an entry altered before this migration still fails verification.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.store.types
from app.store import canonical_json
from app.store.audit import canonical

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PAGE = 5000


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite needs a default for NOT NULL), not a batch table copy.
    op.add_column(
        "audit_entry",
        sa.Column("canonical", sa.Text(), nullable=False, server_default=sa.text("''")),
    )
    entries = sa.table(
        "audit_entry",
        sa.column("seq", sa.Integer()),
        sa.column("at", app.store.types.UTCDateTime(timezone=True)),
        sa.column("exception_id", sa.Integer()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("detail", sa.JSON()),
    )
    update = sa.text("UPDATE audit_entry SET canonical = :c, detail = :d WHERE seq = :s")
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(entries).where(entries.c.seq > last).order_by(entries.c.seq).limit(_PAGE)
        ).all()
        if not rows:
            break
        bind.execute(update, [_backfill(row) for row in rows])
        last = rows[-1].seq
    if bind.dialect.name != "sqlite":
        op.alter_column("audit_entry", "canonical", server_default=None)


def _backfill(row: sa.Row[tuple[object, ...]]) -> dict[str, object]:
    text = canonical(row.seq, row.at, row.exception_id, row.actor, row.action, row.detail)
    return {"c": text, "d": canonical_json.dumps(row.detail), "s": row.seq}


def downgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_column("canonical")
