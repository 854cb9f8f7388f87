"""delegations, and the delegator a decision was made for

Revision ID: 0006
Revises: 0005 (changes requested)
Create Date: 2026-12-02 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delegation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delegator", sa.String(length=40), nullable=False),
        sa.Column("delegator_email", sa.String(length=254), nullable=True),
        sa.Column("delegate", sa.String(length=40), nullable=False),
        sa.Column("starts_at", app.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("ends_at", app.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", app.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", app.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_delegation_delegator"), "delegation", ["delegator"], unique=False)
    op.create_index(op.f("ix_delegation_delegate"), "delegation", ["delegate"], unique=False)
    op.add_column("decision", sa.Column("on_behalf_of", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_column("on_behalf_of")
    op.drop_index(op.f("ix_delegation_delegate"), table_name="delegation")
    op.drop_index(op.f("ix_delegation_delegator"), table_name="delegation")
    op.drop_table("delegation")
