"""Rollups counted from scratch: the check the tests make (a recount equals what the
readers see) and the rebuild after a phase's dates change. Slow: never per request."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from storage.models import initiative_author_t, initiative_t, unit_t
from storage.models_progress import (
    phase_t,
    progress_author_t,
    progress_day_t,
    progress_delta_t,
    progress_total_t,
)
from storage.progress import (
    COUNTERS,
    REGISTERED,
    author_key,
    contribution,
    local_day,
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


def rebuild(conn: Connection, *, batch: int = 5000) -> None:
    """Throw the rollups away and count again from the initiatives (after phases change),
    in bulk: the initiatives and their authors are read a batch at a time (two queries per
    batch, whatever its size), counted per grassroots union, phase and day, rolled up each
    union's chain once, and written with multi-row INSERTs — not one contribution, chain
    and delta write per initiative as a change makes them."""
    for t in (progress_delta_t, progress_total_t, progress_day_t, progress_author_t):
        conn.execute(delete(t))
    parent = parents(conn)
    bloc_of = dict(conn.execute(select(unit_t.c.id, unit_t.c.bloc)).all())
    spans = conn.execute(select(phase_t.c.id, phase_t.c.starts_on, phase_t.c.ends_on)
                         .order_by(phase_t.c.starts_on.desc())).all()
    phase_cache: dict[date, int | None] = {}

    def phase_of_day(day: date) -> int | None:
        if day not in phase_cache:     # as storage.progress.phase_of: the latest start
            phase_cache[day] = next((p.id for p in spans if p.starts_on <= day <= p.ends_on),
                                    None)
        return phase_cache[day]

    base_totals: dict[tuple[int, int, str], list[int]] = {}
    base_days: dict[tuple[int, int, date], int] = defaultdict(int)
    base_authors: dict[tuple[int, int, str], list[Any]] = {}      # name, registered, valid
    i, a = initiative_t, initiative_author_t
    last = 0
    while True:
        rows = conn.execute(select(i.c.id, i.c.author_unit_id, i.c.unit_id, i.c.submitted_at,
                                   i.c.status, i.c.benefit_vnd).where(i.c.id > last)
                            .order_by(i.c.id).limit(batch)).all()
        if not rows:
            break
        names: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
        for ini, name, person in conn.execute(
                select(a.c.initiative_id, a.c.name, a.c.person_id)
                .where(a.c.initiative_id > last, a.c.initiative_id <= rows[-1].id)
                .order_by(a.c.initiative_id, a.c.position)):
            names[ini].append((name, person))
        last = rows[-1].id
        for r in rows:
            day = local_day(r.submitted_at)
            phase_id = phase_of_day(day)
            if phase_id is None:
                continue
            base = r.author_unit_id or r.unit_id
            bloc = bloc_of.get(base) or "other"
            t = base_totals.setdefault((phase_id, base, bloc), [0] * len(COUNTERS))
            reg = r.status in REGISTERED
            t[COUNTERS.index(r.status)] += 1
            if reg:
                t[0] += 1
                t[COUNTERS.index("benefit_vnd")] += int(r.benefit_vnd or 0)
                base_days[(phase_id, base, day)] += 1
            keys = {author_key(person_id=person, name=name, base_unit_id=base): name[:128]
                    for name, person in names.get(r.id, ())
                    if person is not None or name.strip()}
            for key, name in keys.items():
                got = base_authors.setdefault((phase_id, base, key), [name, 0, 0])
                got[0] = name
                got[1] += reg
                got[2] += r.status == "valid"
    for (phase_id, base, _key), (_n, reg, _v) in base_authors.items():
        if reg > 0:
            bloc = bloc_of.get(base) or "other"
            base_totals.setdefault((phase_id, base, bloc), [0] * len(COUNTERS))[
                COUNTERS.index("participants")] += 1
    _write_rolled_up(conn, parent, base_totals, base_days, base_authors)


def _chain(parent: dict[int, int | None], unit: int) -> list[int]:
    out: list[int] = []
    node: int | None = unit
    while node is not None and len(out) < 64:
        out.append(node)
        node = parent.get(node)
    return out


def _write_rolled_up(conn: Connection, parent: dict[int, int | None],
                     base_totals: dict[tuple[int, int, str], list[int]],
                     base_days: dict[tuple[int, int, date], int],
                     base_authors: dict[tuple[int, int, str], list[Any]]) -> None:
    totals: dict[tuple[int, int, str], list[int]] = {}
    for (phase_id, base, bloc), v in base_totals.items():
        for u in _chain(parent, base):
            t = totals.setdefault((phase_id, u, bloc), [0] * len(COUNTERS))
            for k, n in enumerate(v):
                t[k] += n
    day_counts: dict[tuple[int, int, date], int] = defaultdict(int)
    for (phase_id, base, day), n in base_days.items():
        for u in _chain(parent, base):
            day_counts[(phase_id, u, day)] += n
    authors: dict[tuple[int, int, str], list[Any]] = {}
    for (phase_id, base, key), (name, reg, val) in base_authors.items():
        if reg <= 0 and val <= 0:
            continue
        for u in _chain(parent, base):
            got = authors.setdefault((phase_id, u, key), [name, 0, 0])
            got[0] = name
            got[1] += reg
            got[2] += val
    _insert(conn, progress_total_t, [
        {"phase_id": p, "unit_id": u, "bloc": b, "parent_id": parent.get(u),
         **dict(zip(COUNTERS, v, strict=True))}
        for (p, u, b), v in totals.items() if any(v)])
    _insert(conn, progress_day_t, [{"phase_id": p, "unit_id": u, "day": d, "registered": n}
                                   for (p, u, d), n in day_counts.items() if n])
    _insert(conn, progress_author_t, [
        {"phase_id": p, "unit_id": u, "author": k, "name": name, "registered": reg,
         "valid": val} for (p, u, k), (name, reg, val) in authors.items()])


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    for k in range(0, len(rows), 5000):
        conn.execute(insert(table), rows[k:k + 5000])


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

