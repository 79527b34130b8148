"""A person's most recently used account found by an index: a campaign batch asks it for
each recipient (the latest reachable account), and PostgreSQL read every account of the
person and sorted them — about half of the audience query's time.

Revision ID: 0730
Revises: 0720
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0730"
down_revision = "0720"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_account_person_latest", "account", ["person_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_account_person_latest", table_name="account")
