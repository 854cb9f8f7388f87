"""invoice snapshot and change request on the exception

Revision ID: 0005
Revises: 0004 (audit canonical text)
Create Date: 2026-12-02 00:40:00.000000

`invoice_snapshot` keeps the invoice as read from Intacct when approvers were shown it (lines,
dates, customer, total), so a change after approval can be shown as approved vs current.
`change_request` keeps the open request for changes (who asked what, when). Both are nullable:
older rows have neither, and keep their claim fingerprint (see app/domain/invoice.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: no table copy on SQLite, existing rows need no value.
    op.add_column("billing_exception", sa.Column("invoice_snapshot", sa.JSON(), nullable=True))
    op.add_column("billing_exception", sa.Column("change_request", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_exception", schema=None) as batch_op:
        batch_op.drop_column("change_request")
        batch_op.drop_column("invoice_snapshot")
