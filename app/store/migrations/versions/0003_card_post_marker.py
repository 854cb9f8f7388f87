"""card post marker: when a card post began whose outcome is not known yet

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable ADD COLUMN: no table copy on SQLite, existing rows need no value.
    op.add_column(
        "billing_exception",
        sa.Column(
            "card_post_started_at", app.store.types.UTCDateTime(timezone=True), nullable=True
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("billing_exception", schema=None) as batch_op:
        batch_op.drop_column("card_post_started_at")
