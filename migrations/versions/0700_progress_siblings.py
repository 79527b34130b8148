"""Progress rollups keep each unit's parent: a unit's children's totals are one index range
(phase, parent) instead of a probe per child or a hash join over the phase's totals; and the
initiative index on (author_unit_id, submitted_at) goes, (author_unit_id, status,
submitted_at) serving the same lookups.

Revision ID: 0700
Revises: 0401
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0700"
down_revision = "0401"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("progress_total", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.execute("UPDATE progress_total SET parent_id = "
               "(SELECT unit.parent_id FROM unit WHERE unit.id = progress_total.unit_id)")
    # not covering: SQLite would take a covering index on (phase_id, …) for a lookup by
    # (phase_id, unit_id) and walk the whole phase
    op.create_index("ix_progress_total_parent", "progress_total", ["phase_id", "parent_id"])
    op.drop_index("ix_initiative_author_unit", table_name="initiative")


def downgrade() -> None:
    op.create_index("ix_initiative_author_unit", "initiative", ["author_unit_id", "submitted_at"])
    op.drop_index("ix_progress_total_parent", table_name="progress_total")
    with op.batch_alter_table("progress_total") as batch:
        batch.drop_column("parent_id")
