"""The seconds a channel's send slots were ever moved on after late sends
(`outbox_channel.shifted`): a late send moves them on only by what the shifts made since its
slot was handed out did not already.

Revision ID: 0720
Revises: 0700
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0720"
down_revision = "0700"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_channel") as batch:
        batch.add_column(sa.Column("shifted", sa.Double(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox_channel") as batch:
        batch.drop_column("shifted")
