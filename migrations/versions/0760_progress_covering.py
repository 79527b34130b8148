"""Rankings over thousands of siblings read their rows from indexes only: the children's
unit rows (id, code, member count), their live totals (unit, bloc, registered) and their
frozen figures are each one range of an index holding every column the ranking needs,
instead of one table row looked up per child (10,000 page reads scattered over the table
for a zone of 10,000 unions, a read that grew with the data).

Revision ID: 0760
Revises: 0750
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0760"
down_revision = "0750"
branch_labels = None
depends_on = None

TOTAL = ["phase_id", "parent_id", "unit_id", "bloc", "registered"]
SNAPSHOT = ["phase_id", "parent_id", "unit_id", "bloc", "registered", "members",
            "unit_members"]


def upgrade() -> None:
    op.create_index("ix_unit_parent_rank", "unit", ["parent_id", "code", "member_count"])
    op.drop_index("ix_progress_total_parent", table_name="progress_total")
    op.create_index("ix_progress_total_parent", "progress_total", TOTAL)
    op.drop_index("ix_progress_snapshot_parent", table_name="progress_snapshot")
    op.create_index("ix_progress_snapshot_parent", "progress_snapshot", SNAPSHOT)


def downgrade() -> None:
    op.drop_index("ix_progress_snapshot_parent", table_name="progress_snapshot")
    op.create_index("ix_progress_snapshot_parent", "progress_snapshot",
                    ["phase_id", "parent_id", "unit_id"])
    op.drop_index("ix_progress_total_parent", table_name="progress_total")
    op.create_index("ix_progress_total_parent", "progress_total", ["phase_id", "parent_id"])
    op.drop_index("ix_unit_parent_rank", table_name="unit")
