"""A lighter outbox row to write: a campaign queues a million of them in a minute.

- `ix_outbox_chat` (channel, chat_id, id, over every row ever sent) goes: its one reader,
  `mark_unreachable`, asks for a chat's pending rows, which `ix_outbox_chat_active` holds.
- The foreign key from `outbox.account_id` to `account` goes: accounts are never deleted,
  every writer takes the id from an account row it has just read, and PostgreSQL checked
  it per row by locking the account row (`FOR KEY SHARE`): a write to the account's page
  and a WAL record per message, half of the server's time to queue a campaign's batch.
- A campaign's rows are keyed by (`campaign_slot_id`, `account_id`), two integers in a
  partial unique index, instead of the text dedupe key "camp:<campaign>:<slot>:<account>";
  rows queued before get their slot from that key (which they keep).

Revision ID: 0740
Revises: 0730
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0740"
down_revision = "0730"
branch_labels = None
depends_on = None

# SQLite: the baseline's foreign key has no name; batch mode names it by this convention.
_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
CAMPAIGN = sa.text("campaign_slot_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_outbox_chat", table_name="outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("outbox_account_id_fkey", "outbox", type_="foreignkey")
        op.add_column("outbox", sa.Column("campaign_slot_id", sa.Integer(), nullable=True))
    else:
        with op.batch_alter_table("outbox", naming_convention=_NAMES) as batch:
            batch.drop_constraint("fk_outbox_account_id_account", type_="foreignkey")
            batch.add_column(sa.Column("campaign_slot_id", sa.Integer(), nullable=True))
    conn = op.get_bind()
    slots = conn.execute(sa.text("SELECT id, campaign_id, slot_key FROM campaign_slot")).all()
    for slot_id, campaign_id, slot_key in slots:
        prefix = f"camp:{campaign_id}:{slot_key}:"
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        conn.execute(sa.text("UPDATE outbox SET campaign_slot_id = :slot WHERE dedupe_key >= "
                             ":prefix AND dedupe_key < :upper"),
                     {"slot": slot_id, "prefix": prefix, "upper": upper})
    op.create_index("uq_outbox_campaign", "outbox", ["campaign_slot_id", "account_id"],
                    unique=True, sqlite_where=CAMPAIGN, postgresql_where=CAMPAIGN)


def downgrade() -> None:
    op.drop_index("uq_outbox_campaign", table_name="outbox")
    conn = op.get_bind()
    # Rows queued since keep a text key (the one this revision's upgrade read).
    rows = conn.execute(sa.text(
        "SELECT o.id, s.campaign_id, s.slot_key, o.account_id FROM outbox o "
        "JOIN campaign_slot s ON s.id = o.campaign_slot_id WHERE o.dedupe_key IS NULL")).all()
    for row_id, campaign_id, slot_key, account_id in rows:
        conn.execute(sa.text("UPDATE outbox SET dedupe_key = :key WHERE id = :id"),
                     {"key": f"camp:{campaign_id}:{slot_key}:{account_id}", "id": row_id})
    if conn.dialect.name == "postgresql":
        op.drop_column("outbox", "campaign_slot_id")
        op.create_foreign_key("outbox_account_id_fkey", "outbox", "account",
                              ["account_id"], ["id"])
    else:
        with op.batch_alter_table("outbox") as batch:
            batch.drop_column("campaign_slot_id")
            batch.create_foreign_key("fk_outbox_account_id_account", "account",
                                     ["account_id"], ["id"])
    op.create_index("ix_outbox_chat", "outbox", ["channel", "chat_id", "id"])
