"""outbox: an index by kind, so each destination's workers find their due jobs directly

Revision ID: 0008
Revises: 0007 (policy versions)
Create Date: 2026-12-02 08:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_kind_due", ["state", "kind", "available_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_kind_due")
