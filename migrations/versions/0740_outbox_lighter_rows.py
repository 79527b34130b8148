"""A lighter outbox row to write: a campaign queues a million of them in a minute.

- `ix_outbox_chat` (channel, chat_id, id, over every row ever sent) goes: its one reader,
  `mark_unreachable`, asks for a chat's pending rows, which `ix_outbox_chat_active` holds.
- The foreign key from `outbox.account_id` to `account` goes: accounts are never deleted,
  every writer takes the id from an account row it has just read, and PostgreSQL checked
  it per row by locking the account row (`FOR KEY SHARE`): a write to the account's page
  and a WAL record per message, half of the server's time to queue a campaign's batch.

Revision ID: 0740
Revises: 0730
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0740"
down_revision = "0730"
branch_labels = None
depends_on = None

# SQLite: the baseline's foreign key has no name; batch mode names it by this convention.
_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    op.drop_index("ix_outbox_chat", table_name="outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("outbox_account_id_fkey", "outbox", type_="foreignkey")
    else:
        with op.batch_alter_table("outbox", naming_convention=_NAMES) as batch:
            batch.drop_constraint("fk_outbox_account_id_account", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key("outbox_account_id_fkey", "outbox", "account",
                              ["account_id"], ["id"])
    else:
        with op.batch_alter_table("outbox") as batch:
            batch.create_foreign_key("fk_outbox_account_id_account", "account",
                                     ["account_id"], ["id"])
    op.create_index("ix_outbox_chat", "outbox", ["channel", "chat_id", "id"])
