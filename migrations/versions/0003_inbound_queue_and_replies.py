"""inbound_event keeps an event's chat and order, the event itself while it waits (webhooks
acknowledge once it is recorded), and its replies until they are sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

QUEUED = sa.text("payload IS NOT NULL")
UNSENT = sa.text("replies IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch:
        batch.add_column(sa.Column("chat_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch.add_column(sa.Column("replies", sa.Text(), nullable=True))
    op.create_index("ix_inbound_event_queued", "inbound_event", ["channel", "chat_id", "seq"],
                    sqlite_where=QUEUED, postgresql_where=QUEUED)
    op.create_index("ix_inbound_event_unsent", "inbound_event", ["received_at"],
                    sqlite_where=UNSENT, postgresql_where=UNSENT)


def downgrade() -> None:
    op.drop_index("ix_inbound_event_unsent", table_name="inbound_event")
    op.drop_index("ix_inbound_event_queued", table_name="inbound_event")
    with op.batch_alter_table("inbound_event") as batch:
        for column in ("replies", "payload", "seq", "chat_id"):
            batch.drop_column(column)
