"""What the health and metrics endpoints read from the database: the schema's revision,
without taking a lock, and the outbox's backlog."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from sqlalchemy import Connection, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import outbox_t
from storage.outbox import ACTIVE


async def schema_revision(*, engine: AsyncEngine) -> str | None:
    """The database's Alembic revision; None when it has none (never migrated). Raises when
    the database cannot be reached.

    Read-only on both backends. (`storage.migrate.current` goes through a transaction, which
    on SQLite is a `BEGIN IMMEDIATE`: the write lock, queued behind every writer, for a probe
    that runs every few seconds.)"""
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The driver's own connection is in autocommit mode (storage.engine): a lone
            # SELECT takes no lock a writer waits for.
            raw = (await conn.get_raw_connection()).driver_connection
            try:
                cursor = await raw.execute("SELECT version_num FROM alembic_version")
            except sqlite3.OperationalError:   # no such table
                return None
            row = await cursor.fetchone()
            await cursor.close()
            return row[0] if row else None
        if await conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
            return None
        return await conn.scalar(text("SELECT version_num FROM alembic_version"))


def outbox_backlog(conn: Connection, *, now: datetime) -> dict[tuple[str, str], int]:
    """Active outbox rows by (channel, state): `due` (pending, to be sent now), `scheduled`
    (pending, for later: a digest at its hour) and `sending` (claimed). Only active rows are
    read, found through the due index (status first)."""
    due = func.sum(case((outbox_t.c.not_before <= now, 1), else_=0))
    rows = conn.execute(
        select(outbox_t.c.channel, outbox_t.c.status, func.count(), due)
        .where(outbox_t.c.status.in_(ACTIVE))
        .group_by(outbox_t.c.channel, outbox_t.c.status))
    out: dict[tuple[str, str], int] = {}
    for channel, status, count, due_now in rows:
        if status == "sending":
            out[(channel, "sending")] = count
        else:
            out[(channel, "due")] = int(due_now or 0)
            out[(channel, "scheduled")] = count - int(due_now or 0)
    return out
