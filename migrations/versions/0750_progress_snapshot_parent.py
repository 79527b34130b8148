"""A phase's frozen figures keep each unit's parent, as the live totals do (0700): an ended
phase's children page and rankings read one index range (phase, parent) of the snapshot,
ordered in the database, instead of a lookup per child unit. And an outbox row may carry a
reply's chart or report (`outbox.attachment`: what to make, as JSON), so a reply recovered
through the outbox keeps its file.

Revision ID: 0750
Revises: 0740
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0750"
down_revision = "0740"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("progress_snapshot", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.execute("UPDATE progress_snapshot SET parent_id = "
               "(SELECT unit.parent_id FROM unit WHERE unit.id = progress_snapshot.unit_id)")
    # unit_id last: a parent's children come in unit order, so grouping them per unit needs
    # no sort (else SQLite groups along the primary key: the whole phase, not one parent)
    op.create_index("ix_progress_snapshot_parent", "progress_snapshot",
                    ["phase_id", "parent_id", "unit_id"])
    op.add_column("outbox", sa.Column("attachment", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("attachment")
    op.drop_index("ix_progress_snapshot_parent", table_name="progress_snapshot")
    with op.batch_alter_table("progress_snapshot") as batch:
        batch.drop_column("parent_id")
