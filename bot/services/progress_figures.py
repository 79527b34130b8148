"""What /tiendo, /bangxephang and /baocao compute from the rollups: a unit's targets (its own
and those passed down), each target's figure, and units ordered by their main target's %.

Ordering a unit's children reads one page from the database (`storage.progress_rank`):
the % of units with no target of their own comes from the ratio targets passed down to
them, computed in SQL; the few units with targets of their own are computed here and merged.
Both compute the % in tenths, rounded half up in integers (`tenths`), so they agree.
"""

from __future__ import annotations

import functools
import heapq
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from bot.services.progress_results import TargetFigure, UnitFigures
from storage import progress as store
from storage import progress_rank as rank
from storage import progress_read as reads
from storage import targets as target_store
from storage.models import unit_t
from storage.models_progress import target_t
from storage.progress_rank import Ranked, ahead_key, lagging_key, tenths

RATIO_KINDS = ("member_ratio", "per_member")
SQL_FROM = 200       # siblings from which the database orders them (see `ordered`)
UNIT_COLS = (unit_t.c.id, unit_t.c.code, unit_t.c.name, unit_t.c.kind, unit_t.c.bloc,
             unit_t.c.member_count, unit_t.c.parent_id, unit_t.c.cluster)

@dataclass(frozen=True, slots=True)
class Target:
    unit_id: int
    kind: str
    value: Decimal
    bloc: str | None
    note: str | None
    origin: str | None = None   # inherited from (code)


def targets_of(conn: Connection, *, phase_id: int, unit_ids: list[int] | None = None,
                parent_id: int | None = None) -> dict[int, list[Target]]:
    t = target_t
    q = select(t.c.unit_id, t.c.kind, t.c.value, t.c.bloc, t.c.note).where(t.c.phase_id == phase_id)
    if parent_id is not None:
        q = q.where(t.c.unit_id.in_(select(unit_t.c.id).where(unit_t.c.parent_id == parent_id)
                                    .scalar_subquery()))
    else:
        q = q.where(t.c.unit_id.in_(unit_ids or []))
    out: dict[int, list[Target]] = {}
    for r in conn.execute(q.order_by(t.c.unit_id, t.c.position, t.c.id)):
        out.setdefault(r.unit_id, []).append(
            Target(r.unit_id, r.kind, Decimal(r.value), r.bloc, r.note))
    return out


def effective(own: list[Target], inherited: list[Target]) -> list[Target]:
    """A unit's targets: its own, and its ancestors' ratio targets if it sets none."""
    if any(t.kind in RATIO_KINDS for t in own):
        return own
    return own + inherited


def chain_ratio(conn: Connection, phase_id: int, unit_id: int) -> tuple[list[Target],
                                                                          list[Target]]:
    """(the unit's targets, the ratio targets it passes down to children that set none)."""
    return chain_ratio_of(target_store.chain_targets(conn, unit_id=unit_id, phase_id=phase_id),
                          unit_id)


def chain_ratio_of(rows: Any, unit_id: int) -> tuple[list[Target], list[Target]]:
    """`chain_ratio` from the chain's rows (unit id, code, kind, value, bloc, note), nearest
    unit first."""
    by_unit: dict[int, list[Target]] = {}
    order: list[int] = []
    codes: dict[int, str] = {}
    for uid, code, kind, value, bloc, note in rows:
        if uid not in codes:
            order.append(uid)
            codes[uid] = code
        if kind is not None:
            by_unit.setdefault(uid, []).append(Target(uid, kind, Decimal(value), bloc, note))
    inherited: list[Target] = []
    for uid in order[1:]:
        ratios = [t for t in by_unit.get(uid, []) if t.kind in RATIO_KINDS]
        if ratios:
            inherited = [Target(t.unit_id, t.kind, t.value, t.bloc, t.note, codes[uid])
                         for t in ratios]
            break
    eff = effective(by_unit.get(unit_id, []), inherited)
    own_code = codes.get(unit_id)
    passed = [t if t.origin else Target(t.unit_id, t.kind, t.value, t.bloc, t.note, own_code)
              for t in eff if t.kind in RATIO_KINDS]
    return eff, passed


@functools.lru_cache(maxsize=1024)
def _ratio(value: Decimal) -> tuple[int, int]:
    return value.as_integer_ratio()


def goal_of(value: Decimal, basis: int) -> int:
    """value × basis, rounded half up, in integers (exact, and cheap for 10,000 units)."""
    num, den = _ratio(value)
    return (2 * num * basis + den) // (2 * den)


def figure(t: Target, figs: store.Figures, members: dict[str, int],
            own_members: int) -> TargetFigure | None:
    if t.bloc:
        reached = figs.get(t.bloc, {}).get("registered", 0)
    else:
        reached = sum(v.get("registered", 0) for v in figs.values())
    if t.kind == "count":
        basis = None
        goal = int(t.value)
    else:
        basis = members.get(t.bloc, 0) if t.bloc else (own_members or sum(members.values()))
        if t.origin and t.bloc and not basis:
            return None     # an inherited bloc target where that bloc has nobody
        goal = goal_of(t.value, basis)
    t10 = tenths(reached, goal)
    pct = t10 / 10 if t10 is not None else None
    return TargetFigure(t.kind, t.value, t.bloc, basis, goal, reached, pct,
                        max(0, goal - reached), t.origin, t.note)


def unit_figures(u: Any, figs: store.Figures, members: dict[str, int], own_members: int,
                  targets: list[Target]) -> UnitFigures:
    tot = {c: sum(v.get(c, 0) for v in figs.values()) for c in store.COUNTERS}
    tfs = tuple(f for f in (figure(t, figs, members, own_members) for t in targets)
                if f is not None)
    shown_members = own_members or sum(members.values()) or None
    return UnitFigures(
        u.id, u.code, u.name, u.kind, u.bloc, shown_members, tot["registered"], tot["valid"],
        tot["under_review"], tot["needs_revision"], tot["invalid"], tot["withdrawn"],
        tot["participants"], tot["benefit_vnd"], tfs, tfs[0].pct if tfs else None)


def own_members(conn: Connection, phase: Any, units: list[Any], *,
                 parent_id: int | None = None) -> dict[int, int]:
    if phase.snapshot_at is None:
        return {u.id: int(u.member_count or 0) for u in units}
    frozen = store.snapshot_unit_members(
        conn, phase_id=phase.id, parent_id=parent_id,
        unit_ids=None if parent_id is not None else [u.id for u in units])
    return {u.id: frozen.get(u.id, int(u.member_count or 0)) for u in units}


def full_figures(conn: Connection, phase: Any, ids: list[int],
                  targets: dict[int, list[Target]], passed: dict[int | None, list[Target]]
                  ) -> dict[int, UnitFigures]:
    """Every figure of a few units (the rows shown): one statement."""
    if not ids:
        return {}
    snap = phase.snapshot_at is not None
    read = reads.units(conn, phase_id=phase.id, unit_ids=ids, snapshot=snap)
    out = {}
    for u in read.units:
        own = int(u.member_count or 0)
        if snap:
            own = read.frozen.get(u.id, own)
        out[u.id] = unit_figures(u, read.figs.get(u.id, {}), read.members.get(u.id, {}), own,
                                 effective(targets.get(u.id, []), passed.get(u.parent_id, [])))
    return out


def main_tenths(targets: list[Target], reg: dict[str, int], total: int,
                mem: dict[str, int], members: int) -> int | None:
    """The % of the first target that applies, in tenths (as `figure` computes it)."""
    for t in targets:
        reached = reg.get(t.bloc, 0) if t.bloc else total
        if t.kind == "count":
            goal = int(t.value)
        else:
            basis = mem.get(t.bloc, 0) if t.bloc else members
            if t.origin and t.bloc and not basis:
                continue
            goal = goal_of(t.value, basis)
        return tenths(reached, goal)
    return None


_QUICK_COLS = (unit_t.c.id, unit_t.c.code, unit_t.c.parent_id, unit_t.c.member_count)


def quick(conn: Connection, phase: Any, *, parent_id: int | None = None,
          unit_ids: list[int] | None = None
          ) -> tuple[list[Ranked], dict[int, list[Target]], dict[int | None, list[Target]]]:
    """The children of `parent_id` (or the units `unit_ids`), each with its main target's %
    computed here: every unit of a report; the few with targets of their own in a ranking."""
    snap = phase.snapshot_at is not None
    if parent_id is not None:
        units = conn.execute(select(*_QUICK_COLS).where(unit_t.c.parent_id == parent_id)).all()
        where: dict[str, Any] = {"parent_id": parent_id}
    else:
        units = conn.execute(select(*_QUICK_COLS).where(unit_t.c.id.in_(unit_ids or []))).all()
        where = {"unit_ids": [u[0] for u in units]}
    if not units:
        return [], {}, {}
    reg = store.registered(conn, phase_id=phase.id, snapshot=snap, **where)
    if snap:
        frozen = store.snapshot_unit_members(conn, phase_id=phase.id, **where)
        own = {u[0]: frozen.get(u[0], u[3] or 0) for u in units}
    else:
        own = {u[0]: u[3] or 0 for u in units}
    targets = targets_of(conn, phase_id=phase.id, **where)
    passed = {p: chain_ratio(conn, phase.id, p)[1]
              for p in {u[2] for u in units} if p is not None}
    # the members per bloc are needed only for a bloc's target or a missing own count
    needs = any(t.bloc for ts in (*targets.values(), *passed.values()) for t in ts) or \
        not all(own.values())
    mem = store.members(conn, phase_id=phase.id if snap else None, **where) if needs else {}
    out = []
    none: dict[str, int] = {}
    no_targets: list[Target] = []
    for uid, code, parent, _count in units:
        r = reg.get(uid, none)
        m = mem.get(uid, none)
        total = sum(r.values())
        members = own[uid] or sum(m.values())
        mine = targets.get(uid)
        eff = effective(mine, passed.get(parent, no_targets)) if mine else \
            passed.get(parent, no_targets)
        out.append(Ranked(uid, code, total, members, main_tenths(eff, r, total, m, members)))
    return out, targets, passed


def one_unit(conn: Connection, phase: Any, unit: Any) -> UnitFigures:
    snap = phase.snapshot_at is not None
    figs = store.figures(conn, phase_id=phase.id, unit_ids=[unit.id], snapshot=snap)
    mem = store.members(conn, unit_ids=[unit.id], phase_id=phase.id if snap else None)
    own = own_members(conn, phase, [unit])
    eff, _passed = chain_ratio(conn, phase.id, unit.id)
    return unit_figures(unit, figs.get(unit.id, {}), mem.get(unit.id, {}), own[unit.id], eff)


def one_unit_read(read: reads.Read, phase: Any, unit: Any) -> UnitFigures:
    """`one_unit` from what `storage.progress_read.overview` read."""
    own = int(unit.member_count or 0)
    if phase.snapshot_at is not None:
        own = read.frozen.get(unit.id, own)
    eff, _passed = chain_ratio_of(read.chain, unit.id)
    return unit_figures(unit, read.figs.get(unit.id, {}), read.members.get(unit.id, {}), own,
                        eff)


def family_page(conn: Connection, phase: Any, *, parent_id: int, ahead: bool, offset: int,
                limit: int) -> tuple[list[tuple[int, Ranked]], dict[int, UnitFigures], int]:
    """A few children (fewer than `SQL_FROM`) ordered as `ordered` orders them, from one
    statement (`storage.progress_read.family`): (position, unit) of the page's rows, their
    full figures, and how many children there are."""
    snap = phase.snapshot_at is not None
    read = reads.family(conn, phase_id=phase.id, parent_id=parent_id, snapshot=snap)
    targets = {u: [Target(r.unit_id, r.kind, Decimal(r.value), r.bloc, r.note) for r in rs]
               for u, rs in read.targets.items()}
    passed = chain_ratio_of(read.chain, parent_id)[1] if read.units else []
    none: dict[str, Any] = {}
    units = {}
    ranked = []
    for u in read.units:
        figs = read.figs.get(u.id, none)
        reg = {b: v["registered"] for b, v in figs.items()}
        m = read.members.get(u.id, none)
        own = int(u.member_count or 0)
        if snap:
            own = read.frozen.get(u.id, own)
        total = sum(reg.values())
        members = own or sum(m.values())
        mine = targets.get(u.id)
        eff = effective(mine, passed) if mine else passed
        units[u.id] = (u, figs, m, own, eff)
        ranked.append(Ranked(u.id, u.code, total, members,
                             main_tenths(eff, reg, total, m, members)))
    ranked.sort(key=ahead_key if ahead else lagging_key)
    rows = list(enumerate(ranked, 1))[offset:offset + limit]
    full = {r.unit_id: unit_figures(*units[r.unit_id]) for _i, r in rows}
    return rows, full, len(ranked)



# --------------------------------------------------------------------------- ordering

def _goals(passed: dict[int | None, list[Target]]) -> dict[int | None, list[rank.Goal]]:
    out: dict[int | None, list[rank.Goal]] = {}
    for parent, ts in passed.items():
        goals = []
        for t in ts:
            if t.kind == "count":
                goals.append(rank.Goal("count", int(t.value), 1, t.bloc, False))
            else:
                num, den = _ratio(t.value)
                goals.append(rank.Goal("ratio", num, den, t.bloc, bool(t.origin)))
        out[parent] = goals
    return out


@dataclass(frozen=True, slots=True)
class Ordered:
    rows: list[tuple[int, Ranked]]           # (position from 1, unit)
    total: int
    targets: dict[int, list[Target]]
    passed: dict[int | None, list[Target]]


def ordered(conn: Connection, phase: Any, *, parent_id: int | None = None,
            cluster: str | None = None, ahead: bool = True, offset: int = 0, limit: int = 10,
            own_id: int | None = None, sql_from: int = SQL_FROM,
            total: int | None = None) -> Ordered:
    """One page of the children of `parent_id` (or the units of `cluster`): `ahead` by %
    of target, then registered (a ranking); else lagging first. With `own_id`, that unit's
    row too, wherever it stands (its position counted in the database). From `sql_from`
    units on, the order is made in the database; below, here (the same order)."""
    sibs = None
    if parent_id is not None:
        scope: dict[str, Any] = {"parent_id": parent_id}
        if total is None or total >= sql_from:
            # their number, own targets and the parent's chain: one statement
            sibs = reads.siblings(conn, phase_id=phase.id, parent_id=parent_id)
            total = sibs.children
        parents: set[int] = {parent_id}
        members = None
    else:
        units = conn.execute(select(unit_t.c.id, unit_t.c.parent_id)
                             .where(unit_t.c.cluster == cluster)).all()
        scope = {"unit_ids": [u.id for u in units]}
        total = len(units)
        parents = {u.parent_id for u in units if u.parent_id is not None}
        members = {u.id for u in units}
    if not total:
        return Ordered([], 0, {}, {})
    key: Any = ahead_key if ahead else lagging_key
    if total < sql_from:
        # a few siblings: every %, computed here, costs less than building the statement
        units, targets, passed = quick(conn, phase, **scope)
        units.sort(key=key)
        every = list(enumerate(units, 1))
        rows = every[offset:offset + limit]
        if ahead and own_id is not None and all(r.unit_id != own_id for _i, r in rows):
            rows += [(i, r) for i, r in every if r.unit_id == own_id]
        return Ordered(rows, total, targets, passed)
    if sibs is not None:
        targets = {u: [Target(r.unit_id, r.kind, Decimal(r.value), r.bloc, r.note)
                       for r in rs] for u, rs in sibs.targets.items()}
        passed: dict[int | None, list[Target]] = {
            parent_id: chain_ratio_of(sibs.chain, parent_id)[1]}
    else:
        targets = targets_of(conn, phase_id=phase.id, **scope)
        passed = {p: chain_ratio(conn, phase.id, p)[1] for p in sorted(parents)}
    mine = sorted(quick(conn, phase, unit_ids=sorted(targets))[0], key=key) if targets else []
    kw = {"phase_id": phase.id, "snapshot": phase.snapshot_at is not None,
          "goals": _goals(passed)}
    head = rank.page(conn, ahead=ahead, limit=offset + limit, exclude=sorted(targets),
                     **kw, **scope)
    rows = list(enumerate(list(heapq.merge(head, mine, key=key))[offset:offset + limit],
                          offset + 1))
    in_scope = own_id in members if members is not None else own_id is not None and \
        conn.execute(select(unit_t.c.parent_id).where(unit_t.c.id == own_id)).scalar() == \
        parent_id
    if in_scope and ahead and all(r.unit_id != own_id for _i, r in rows):
        own = next((r for r in mine if r.unit_id == own_id), None) or \
            rank.page(conn, limit=1, unit_ids=[own_id], **kw)[0]
        before = rank.count_ahead(conn, of=own, exclude=sorted(targets), **kw, **scope) + \
            sum(1 for r in mine if ahead_key(r) < ahead_key(own))
        rows.append((before + 1, own))
    return Ordered(rows, total, targets, passed)
