"""The demo data set: the unions named in the programme documents (see bot/data/README.md)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.directory import parse
from storage import directory as store
from storage import progress_units as progress_store
from storage import queries
from storage.queries import UnitRow

DATA_DIR = Path(__file__).resolve().parent / "data"


def demo_units() -> list[UnitRow]:
    """The demo directory, read as any directory file is (it is one)."""
    parsed = parse((DATA_DIR / "demo_units.csv").read_bytes(), is_demo=True)
    assert not parsed.problems, parsed.problems
    return parsed.rows


async def seed_if_empty(engine: AsyncEngine) -> int:
    """Load the demo units when the directory is empty; returns how many were loaded."""
    rows = demo_units()
    async with engine.begin() as conn:
        if await conn.run_sync(queries.count_units):
            return 0
        added = (await conn.run_sync(store.apply_units, rows, {})).added
        await conn.run_sync(progress_store.rebuild_members)
        return added
