"""The rollups' upkeep (part of the worker's `upkeep` job, every five minutes, see
bot/jobs.py): fold the deltas into the totals, and freeze each phase that has ended (once).
Between folds the readers add the few unfolded deltas (a national peak of some tens of
thousands of initiatives a day leaves a few hundred rows) to the totals."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import progress as store
from storage.models import phase_t

log = logging.getLogger(__name__)

def ended_unfrozen(conn: Connection, *, now: datetime) -> list[int]:
    today = store.local_day(now)
    return list(conn.execute(select(phase_t.c.id).where(
        phase_t.c.ends_on < today, phase_t.c.snapshot_at.is_(None))).scalars())


def upkeep_sync(conn: Connection, *, now: datetime) -> tuple[int, int]:
    """Returns (deltas folded, phases frozen)."""
    folded = store.fold(conn)
    frozen = 0
    for phase_id in ended_unfrozen(conn, now=now):
        store.snapshot(conn, phase_id=phase_id, now=now)
        frozen += 1
    return folded, frozen


async def progress_upkeep(engine: AsyncEngine, *, now: datetime) -> tuple[int, int]:
    async with engine.begin() as conn:
        folded, frozen = await conn.run_sync(lambda c: upkeep_sync(c, now=now))
    if frozen:
        log.info("progress: %d deltas folded, %d ended phases frozen", folded, frozen)
    return folded, frozen
