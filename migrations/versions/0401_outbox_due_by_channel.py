"""The outbox's due index leads with status and channel: a claim walks one channel's pending
rows in its order (priority, due time, age) and stops after the rows it takes. Without the
channel in the index, PostgreSQL planned claims before the table had statistics through the
chat index and a sort of every queued row (1.8 s with 200,000 queued; 0.15 ms with it).

Revision ID: 0401
Revises: 0600
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0401"
down_revision = "0600"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox",
                    ["status", "channel", "priority", "not_before", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "priority", "not_before", "id"])
