"""Initiatives by the author's grassroots union: its support team sees them in its lists.

Revision ID: 0310
Revises: 0300
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0310"
down_revision = "0300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_initiative_author_unit_status", "initiative",
                    ["author_unit_id", "status", "submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_initiative_author_unit_status", table_name="initiative")
