"""Rollups counted from scratch: the check the tests make (a recount equals what the
readers see) and the rebuild after a phase's dates change. Slow: never per request."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, delete, func, select

from storage.models import initiative_t, unit_t
from storage.models_progress import (
    progress_author_t,
    progress_day_t,
    progress_delta_t,
    progress_total_t,
)
from storage.progress import (
    COUNTERS,
    REGISTERED,
    apply_change,
    contribution,
    fold,
    phase_of,
    sum_cols,
    vector,
)
from storage.progress_units import parents

# --------------------------------------------------------------------------- recount

def recount(conn: Connection) -> tuple[dict[tuple[int, int, str], dict[str, int]],
                                       dict[tuple[int, int, date], int]]:
    """Every unit's figures counted from scratch (tests, `rebuild`): slow, never per request."""
    parent = parents(conn)
    bloc_of = dict(conn.execute(select(unit_t.c.id, unit_t.c.bloc)).all())
    totals: dict[tuple[int, int, str], dict[str, int]] = {}
    day_counts: dict[tuple[int, int, date], int] = defaultdict(int)
    people: dict[tuple[int, int], set[str]] = defaultdict(set)
    ids = conn.execute(select(initiative_t.c.id).order_by(initiative_t.c.id)).scalars().all()
    phase_cache: dict[date, int | None] = {}
    for ini in ids:
        c = contribution(conn, initiative_id=ini)
        assert c is not None
        if c.day not in phase_cache:
            phase_cache[c.day] = phase_of(conn, c.day)
        phase_id = phase_cache[c.day]
        if phase_id is None:
            continue
        v = vector(c, 1)
        bloc = bloc_of.get(c.base_unit_id) or "other"
        if c.status in REGISTERED:
            people[(phase_id, c.base_unit_id)].update(k for k, _n in c.authors)
        node: int | None = c.base_unit_id
        while node is not None:
            t = totals.setdefault((phase_id, node, bloc), dict.fromkeys(COUNTERS, 0))
            for k, n in v.items():
                t[k] += n
            if v["registered"]:
                day_counts[(phase_id, node, c.day)] += 1
            node = parent.get(node)
    for (phase_id, base), keys in people.items():
        bloc = bloc_of.get(base) or "other"
        node = base
        while node is not None:
            totals.setdefault((phase_id, node, bloc),
                              dict.fromkeys(COUNTERS, 0))["participants"] += len(keys)
            node = parent.get(node)
    return totals, dict(day_counts)


def rebuild(conn: Connection) -> None:
    """Throw the rollups away and count again from the initiatives (after phases change)."""
    for t in (progress_delta_t, progress_total_t, progress_day_t, progress_author_t):
        conn.execute(delete(t))
    ids = conn.execute(select(initiative_t.c.id).order_by(initiative_t.c.id)).scalars().all()
    for ini in ids:
        apply_change(conn, None, contribution(conn, initiative_id=ini))
    fold(conn)


def stored_totals(conn: Connection) -> tuple[dict[tuple[int, int, str], dict[str, int]],
                                             dict[tuple[int, int, date], int]]:
    """The rollups as a reader sees them (totals + unfolded deltas), non-zero only."""
    totals: dict[tuple[int, int, str], dict[str, int]] = {}
    for table in (progress_total_t, progress_delta_t):
        q = select(table.c.phase_id, table.c.unit_id, table.c.bloc, *sum_cols(table)).group_by(
            table.c.phase_id, table.c.unit_id, table.c.bloc)
        for r in conn.execute(q):
            t = totals.setdefault((r.phase_id, r.unit_id, r.bloc), dict.fromkeys(COUNTERS, 0))
            for c in COUNTERS:
                t[c] += int(getattr(r, c))
    day_counts: dict[tuple[int, int, date], int] = defaultdict(int)
    for p, u, d, n in conn.execute(select(progress_day_t.c.phase_id, progress_day_t.c.unit_id,
                                          progress_day_t.c.day, progress_day_t.c.registered)):
        day_counts[(p, u, d)] += n
    q = (select(progress_delta_t.c.phase_id, progress_delta_t.c.unit_id, progress_delta_t.c.day,
                func.sum(progress_delta_t.c.day_registered))
         .where(progress_delta_t.c.day.is_not(None))
         .group_by(progress_delta_t.c.phase_id, progress_delta_t.c.unit_id,
                   progress_delta_t.c.day))
    for p, u, d, n in conn.execute(q):
        day_counts[(p, u, d)] += int(n or 0)
    return ({k: v for k, v in totals.items() if any(v.values())},
            {k: v for k, v in day_counts.items() if v})

