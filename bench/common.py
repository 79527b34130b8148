"""What the directory and similar-initiative benchmarks share: fresh databases and percentiles."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import make_engine


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


@asynccontextmanager
async def sqlite_file() -> AsyncIterator[AsyncEngine]:
    """An engine on a new SQLite file (WAL), deleted afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        try:
            yield engine
        finally:
            await engine.dispose()


@asynccontextmanager
async def pg_schema(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a new PostgreSQL schema of its own, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(url, schema=schema)
        try:
            yield engine
        finally:
            await engine.dispose()
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()
