"""A version of the unit directory and the phases, bumped by the database itself whenever
a unit is added, removed, renamed, recoded, moved or given another bloc, or a phase is
added, removed or has its dates changed: a process keeps the unit rows, unit searches and
chains of unions (with the phase of a day) its chat steps read (storage/unit_cache.py) and
checks this one row once per batch instead of reading them again for every message.

Triggers, not the code that writes units, so that every write counts: an import, a move,
an administrator's UPDATE in psql. On SQLite a later revision that rebuilds `unit` or
`phase` (batch mode) drops their triggers; tests/test_unit_cache.py checks they exist at the
head.

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

# The columns a kept unit row holds (storage.queries.UnitHit), or a kept chain
# (storage.progress.chain_of), or that place them.
WATCHED = {"unit": "code, name, parent_id, depth, kind, bloc", "phase": "starts_on, ends_on"}
SQLITE_TRIGGERS = {
    f"{table}_version_{what}": f"AFTER {when} ON {table}"
    for table, cols in WATCHED.items()
    for what, when in (("insert", "INSERT"), ("update", f"UPDATE OF {cols}"),
                       ("delete", "DELETE"))
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
        for table, cols in WATCHED.items():
            op.execute(f"""
                CREATE TRIGGER {table}_version AFTER INSERT OR DELETE OR TRUNCATE
                    OR UPDATE OF {cols} ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version()""")
    else:
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(f"""
                CREATE TRIGGER {name} {when}
                BEGIN UPDATE directory_version SET n = n + 1 WHERE id = 1; END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_version ON {table}")
        op.execute("DROP FUNCTION bump_directory_version()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("directory_version")
