"""Schema migrations: bring a database to the newest revision of `migrations/` (Alembic).

Several processes may start at once on one database; one migrates, the others wait, then find
it at the head. PostgreSQL: a session advisory lock held for the whole upgrade. SQLite: the
whole upgrade is one `BEGIN IMMEDIATE` transaction (see storage.engine), so the others wait
on the write lock, up to the engine's 30 s busy timeout. Either lock is taken before Alembic
runs, which matters within one process too: Alembic keeps its running context in module
globals, so two upgrades must never interleave in it.

A database made before migrations existed has the baseline's tables and no `alembic_version`:
it is stamped at the baseline, then upgraded like any other.
"""

from __future__ import annotations

import logging
import zlib
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import migrations

log = logging.getLogger(__name__)

SCRIPTS = Path(migrations.__file__).parent   # installed with the package: any folder works
BASELINE = "0001"
# The tables of the baseline revision: what a database made before migrations holds.
BASELINE_TABLES = frozenset({
    "unit", "unit_term", "unit_term_count", "person", "role_grant", "one_time_code", "account",
    "draft", "initiative", "initiative_author", "initiative_event", "initiative_term",
    "pending_alert", "outbox", "inbound_event"})
# pg_advisory_lock(key, scope): `key` is this program's migrations, `scope` the schema, so
# runs in different schemas of one database (the tests) do not wait for each other.
LOCK_KEY = 0x736B6D67  # "skmg"


class MigrationError(RuntimeError):
    """The database is in a state no revision can start from."""


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


@cache
def head() -> str:
    """The newest revision."""
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None, "migrations/versions holds no revision"
    return rev


async def current(*, engine: AsyncEngine) -> str | None:
    """The database's revision; None when it was never migrated (empty, or made before
    migrations existed)."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision())


async def at_head(*, engine: AsyncEngine) -> bool:
    return await current(engine=engine) == head()


async def upgrade(*, engine: AsyncEngine) -> None:
    """Migrate the database to the newest revision (a no-op when it is there already)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await _upgrade_postgresql(conn)
        else:
            await conn.run_sync(_upgrade_sqlite)


def lock_id(schema: str) -> dict[str, int]:
    """The advisory lock migrations of `schema` hold on PostgreSQL."""
    # crc32 is unsigned; pg_advisory_lock takes two signed 32-bit ints.
    return {"key": LOCK_KEY, "scope": zlib.crc32(schema.encode()) - (1 << 31)}


async def _upgrade_postgresql(conn: AsyncConnection) -> None:
    lock = lock_id(await conn.scalar(text("SELECT current_schema()")) or "")
    await conn.execute(text("SELECT pg_advisory_lock(:key, :scope)"), lock)
    await conn.commit()   # the lock is the session's; Alembic runs its own transactions
    try:
        await conn.run_sync(_stamp_and_upgrade)
    finally:
        await conn.rollback()   # whatever a failure left open, so that the unlock can run
        await conn.execute(text("SELECT pg_advisory_unlock(:key, :scope)"), lock)
        await conn.commit()


def _upgrade_sqlite(conn: Connection) -> None:
    # Batch revisions copy a table, drop the old one and rename the copy: with foreign keys
    # enforced the drop fails while other tables refer to it. The pragma is a no-op inside a
    # transaction, so it is set around it, and every reference is checked before the commit.
    _pragma(conn, "foreign_keys=OFF")
    try:
        with conn.begin():   # BEGIN IMMEDIATE: other processes wait here
            _stamp_and_upgrade(conn)
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise MigrationError(f"the upgrade broke foreign keys: {broken[:5]}")
    finally:
        _pragma(conn, "foreign_keys=ON")


def _pragma(conn: Connection, setting: str) -> None:
    """Run a PRAGMA outside any transaction (exec_driver_sql would begin one)."""
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(f"PRAGMA {setting}")
    finally:
        cur.close()


def _stamp_and_upgrade(conn: Connection) -> None:
    made_before = _made_before_migrations(conn)
    if conn.dialect.name == "postgresql":
        conn.commit()   # ends the inspection's transaction: Alembic begins its own
    cfg = _config(conn)
    if made_before:
        log.warning("database made before migrations: stamping it at the baseline (%s)",
                    BASELINE)
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, "head")


def _made_before_migrations(conn: Connection) -> bool:
    """True for a database with the baseline's tables and no revision recorded."""
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    if "alembic_version" in tables or not tables & BASELINE_TABLES:
        return False
    missing = BASELINE_TABLES - tables
    if missing or "grassroots" not in {c["name"] for c in insp.get_columns("unit_term")}:
        # An older layout still, which the version before migrations rebuilt at start-up.
        raise MigrationError(
            "this database is older than the last version without migrations (missing: "
            f"{', '.join(sorted(missing)) or 'unit_term.grassroots'}): start that version "
            "(commit ebd58da) once, which brings its tables up to date, then upgrade")
    return True
