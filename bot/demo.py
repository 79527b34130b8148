"""The demo data set: the unions named in the programme documents (see bot/data/README.md)."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from storage import queries
from storage.queries import UnitRow

DATA_DIR = Path(__file__).resolve().parent / "data"


def demo_units() -> list[UnitRow]:
    with (DATA_DIR / "demo_units.csv").open(encoding="utf-8", newline="") as fp:
        return [
            UnitRow(code=r["code"], name=r["name"], parent_code=r["parent_code"] or None,
                    kind=r["kind"], bloc=r["bloc"] or "other",
                    member_count=int(r["member_count"] or 0), cluster=r["cluster"] or None,
                    is_demo=True)
            for r in csv.DictReader(fp)
        ]


async def seed_if_empty(engine: AsyncEngine) -> int:
    """Load the demo units when the directory is empty; returns how many were loaded."""
    async with engine.begin() as conn:
        if await conn.run_sync(queries.count_units):
            return 0
        return await conn.run_sync(queries.insert_units, demo_units())
