"""Targets and progress rollups: phases, targets per unit and phase, append-only deltas
folded into per-unit totals and per-day counts, authors per unit, member counts per bloc,
snapshots at a phase's end (storage/progress.py).

Revision ID: 0500
Revises: 0400
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0500"
down_revision = "0400"
branch_labels = None
depends_on = None

COUNTERS = ("registered", "valid", "under_review", "needs_revision", "invalid", "withdrawn",
            "participants")


def _counters() -> list[sa.Column]:
    return [*(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
            sa.Column("benefit_vnd", sa.BigInteger(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "phase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_phase_starts_on", "phase", ["starts_on"])
    op.create_table(
        "target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("bloc", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Numeric(14, 6), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["phase_id"], ["phase.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_target_phase_unit", "target", ["phase_id", "unit_id", "position"])
    op.create_table(
        "progress_delta",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("bloc", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        *_counters(),
        sa.Column("day_registered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_progress_delta_unit", "progress_delta", ["phase_id", "unit_id"])
    op.create_table(
        "progress_total",
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("bloc", sa.String(length=32), nullable=False),
        *_counters(),
        sa.PrimaryKeyConstraint("phase_id", "unit_id", "bloc"),
    )
    op.create_table(
        "progress_day",
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("registered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("phase_id", "unit_id", "day"),
    )
    op.create_table(
        "progress_author",
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=160), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("registered", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("phase_id", "unit_id", "author"),
    )
    op.create_index("ix_progress_author_top", "progress_author",
                    ["phase_id", "unit_id", "valid", "registered"])
    op.create_table(
        "unit_members",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("bloc", sa.String(length=32), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("unit_id", "bloc"),
    )
    op.create_table(
        "progress_snapshot",
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("bloc", sa.String(length=32), nullable=False),
        *_counters(),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("unit_members", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("phase_id", "unit_id", "bloc"),
    )
    op.create_index("ix_unit_cluster", "unit", ["cluster"])
    op.create_index("ix_initiative_author_unit", "initiative", ["author_unit_id", "submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_initiative_author_unit", table_name="initiative")
    op.drop_index("ix_unit_cluster", table_name="unit")
    for table in ("progress_snapshot", "unit_members", "progress_author", "progress_day",
                  "progress_total", "progress_delta", "target", "phase"):
        op.drop_table(table)
