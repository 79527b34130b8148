"""A first-applied date typed as a month ("3/2025") is kept as a month, on drafts and
initiatives, and shown as one.

Revision ID: 0320
Revises: 0310
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0320"
down_revision = "0310"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("draft", "initiative"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("applied_month_only", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def downgrade() -> None:
    for table in ("draft", "initiative"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("applied_month_only")
