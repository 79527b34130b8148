"""A version of the unit directory, bumped by the database itself whenever a unit is
added, removed, renamed, recoded or moved: a process keeps the unit rows and unit searches
its chat steps read (storage/unit_cache.py) and checks this one row once per batch instead
of reading the units again for every message.

Triggers, not the code that writes units, so that every write counts: an import, a move,
an administrator's UPDATE in psql. On SQLite a later revision that rebuilds `unit` (batch
mode) drops its triggers; tests/test_unit_cache.py checks they exist at the head.

Revision ID: 0770
Revises: 0760
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0770"
down_revision = "0760"
branch_labels = None
depends_on = None

# The columns a cached unit row holds (storage.queries.UnitHit) or that place it.
WATCHED = "code, name, parent_id, depth, kind"
SQLITE_TRIGGERS = {
    "unit_version_insert": "AFTER INSERT ON unit",
    "unit_version_update": f"AFTER UPDATE OF {WATCHED} ON unit",
    "unit_version_delete": "AFTER DELETE ON unit",
}


def upgrade() -> None:
    op.create_table(
        "directory_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO directory_version (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION bump_directory_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE directory_version SET n = n + 1 WHERE id = 1;
                RETURN NULL;
            END $$""")
        # Once per statement: an import of 100,000 units bumps it once.
        op.execute(f"""
            CREATE TRIGGER unit_version AFTER INSERT OR DELETE OR TRUNCATE
                OR UPDATE OF {WATCHED} ON unit
            FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version()""")
    else:
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(f"""
                CREATE TRIGGER {name} {when}
                BEGIN UPDATE directory_version SET n = n + 1 WHERE id = 1; END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER unit_version ON unit")
        op.execute("DROP FUNCTION bump_directory_version()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("directory_version")
