"""Campaigns: campaign, its slots (with the expansion cursor) and their units, the opt-out
and the per-person sends behind the cap; persons indexed by (unit, id) for streaming.

Revision ID: 0600
Revises: 0500
Create Date: 2026-12-03 07:32:00.274896
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0600'
down_revision = "0500"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign_send',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('person_id', 'day')
    )
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('bloc', sa.String(length=32), nullable=True),
    sa.Column('cluster', sa.String(length=128), nullable=True),
    sa.Column('below_pct', sa.Integer(), nullable=True),
    sa.Column('idle_days', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('once_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('at_time', sa.String(length=5), nullable=True),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('skipped_opted_out', sa.Integer(), nullable=False),
    sa.Column('skipped_capped', sa.Integer(), nullable=False),
    sa.Column('held_quiet', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_due', ['state', 'next_due_at'], unique=False)
        batch_op.create_index('ix_campaign_owner', ['owner_id', 'id'], unique=False)
        batch_op.create_index('ix_campaign_unit', ['unit_id', 'id'], unique=False)

    op.create_table('campaign_opt_out',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('person_id')
    )
    op.create_table('campaign_slot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('slot_key', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('cursor_unit', sa.Integer(), nullable=True),
    sa.Column('cursor', sa.BigInteger(), nullable=True),
    sa.Column('queued', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'slot_key', name='uq_campaign_slot')
    )
    with op.batch_alter_table('campaign_slot', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_slot_due', ['state', 'due_at'], unique=False)

    op.create_table('campaign_slot_unit',
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['slot_id'], ['campaign_slot.id'], ),
    sa.PrimaryKeyConstraint('slot_id', 'unit_id')
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index('ix_person_unit_person', ['unit_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index('ix_person_unit_person')

    op.drop_table('campaign_slot_unit')
    with op.batch_alter_table('campaign_slot', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_slot_due')

    op.drop_table('campaign_slot')
    op.drop_table('campaign_opt_out')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_unit')
        batch_op.drop_index('ix_campaign_owner')
        batch_op.drop_index('ix_campaign_due')

    op.drop_table('campaign')
    op.drop_table('campaign_send')
