"""The outbox across processes: a priority per row (replies and alerts before digests before
campaigns), the sender that claimed a row and a heartbeat per sender (a dead sender's rows are
claimed again at once), pacing shared through the database (the next send slot per channel,
the next send time per chat), and dedupe keys in byte order (a key prefix is an index range).

Revision ID: 0400
Revises: 0320
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0400"
down_revision = "0320"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('pending', 'sending')")
SENDING = sa.text("status = 'sending'")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("outbox", "dedupe_key", type_=sa.String(length=128, collation="C"),
                        existing_type=sa.String(length=128), existing_nullable=True)
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "priority", "not_before", "id"])
    op.create_index("ix_outbox_chat_active", "outbox", ["channel", "chat_id", "priority", "id"],
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_index("ix_outbox_sending", "outbox", ["channel", "chat_id"],
                    sqlite_where=SENDING, postgresql_where=SENDING)
    op.create_table(
        "outbox_sender",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outbox_channel",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "outbox_chat",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id"),
    )
    op.create_index("ix_outbox_chat_next_at", "outbox_chat", ["next_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_chat_next_at", table_name="outbox_chat")
    op.drop_table("outbox_chat")
    op.drop_table("outbox_channel")
    op.drop_table("outbox_sender")
    op.drop_index("ix_outbox_sending", table_name="outbox")
    op.drop_index("ix_outbox_chat_active", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "not_before", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("outbox", "dedupe_key", type_=sa.String(length=128),
                        existing_type=sa.String(length=128, collation="C"),
                        existing_nullable=True)
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("priority")
