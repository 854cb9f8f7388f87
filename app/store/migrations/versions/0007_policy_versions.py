"""policy versions: every policy set loaded, with its files, and its approval under change control

Revision ID: 0007
Revises: 0006 (delegation)
Create Date: 2026-12-02 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("loaded_at", app.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("applied_at", app.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approvers", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("card_ts", sa.String(length=40), nullable=True),
        sa.Column("base_hash", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=254), nullable=True),
        sa.Column("decided_at", app.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("policy_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_version_content_hash"), ["content_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_policy_version_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("policy_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_version_status"))
        batch_op.drop_index(batch_op.f("ix_policy_version_content_hash"))
    op.drop_table("policy_version")
