"""/tiendo's reads in one statement each: a unit's figures, member counts, targets up its
chain, registered per recent day and number of children (`overview`); a unit's children
with all of theirs (`family`, for the few children a /tiendo page orders in Python).

Each was five to eight statements; every statement costs a round trip (PostgreSQL) or two
thread switches and a loop wake-up (aiosqlite), which was most of a read's time. The parts
are one UNION ALL of rows of one shape — a tag saying which part a row belongs to, then
generic columns (`_row`) — built once per variant and reused (no statement building nor
cache-key walk per call beyond SQLAlchemy's cache lookup).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
)

from storage.models import unit_t
from storage.models_progress import (
    progress_day_t,
    progress_delta_t,
    progress_snapshot_t,
    progress_total_t,
    target_t,
    unit_members_t,
)
from storage.progress import COUNTERS, Figures, by_key

FIG, MEM, CHAIN, DAY, COUNT, UNIT, TARGET = range(7)
_NN, _NT = 10, 4


class UnitRow(NamedTuple):
    """The unit columns the progress services use (as `UNIT_COLS` selects them)."""

    id: int
    code: str
    name: str
    kind: str
    bloc: str
    member_count: int
    parent_id: int | None
    cluster: str | None


class ChainRow(NamedTuple):
    """A unit of the chain (nearest first) with one of its targets (kind None: none)."""

    unit_id: int
    code: str
    kind: str | None
    value: Decimal | None
    bloc: str | None
    note: str | None


class TargetRow(NamedTuple):
    unit_id: int
    kind: str
    value: Decimal
    bloc: str | None
    note: str | None


def _row(tag: int, *, k: Any = None, s: Any = None, n: tuple[Any, ...] = (),
         t: tuple[Any, ...] = (), v: Any = None) -> list[Any]:
    """One branch's columns: tag, k (an id), s (a text), n0…n9 (integers), t0…t3 (texts),
    v (a target's value); NULL where a part has nothing (typed: PostgreSQL unites them)."""
    big = BigInteger()
    cols = [literal_column(str(tag), Integer).label("tag"),
            (cast(null(), big) if k is None else cast(k, big)).label("k"),
            (cast(null(), String) if s is None else cast(s, String)).label("s")]
    nums = list(n) + [None] * (_NN - len(n))
    cols += [(cast(null(), big) if x is None else x).label(f"n{i}") for i, x in enumerate(nums)]
    texts = list(t) + [None] * (_NT - len(t))
    cols += [(cast(null(), String) if x is None else x).label(f"t{i}")
             for i, x in enumerate(texts)]
    cols.append((cast(null(), Numeric(14, 6)) if v is None else v).label("v"))
    return cols


def _chain(start: Any) -> list[Any]:
    """The unit `start` and its ancestors (lvl 0 …), each with its targets for the phase:
    CHAIN rows, k = lvl, n0 = unit id, n1 = position, n2 = target id."""
    anc = (select(unit_t.c.id, unit_t.c.parent_id, literal(0).label("lvl"))
           .where(unit_t.c.id == start).cte("chain", recursive=True))
    anc = anc.union_all(select(unit_t.c.id, unit_t.c.parent_id, (anc.c.lvl + 1).label("lvl"))
                        .where(unit_t.c.id == anc.c.parent_id))
    t = target_t
    return [select(*_row(CHAIN, k=anc.c.lvl, s=t.c.kind,
                         n=(anc.c.id, t.c.position, t.c.id), t=(unit_t.c.code, t.c.bloc, t.c.note),
                         v=t.c.value))
            .select_from(anc.join(unit_t, unit_t.c.id == anc.c.id)
                         .outerjoin(t, and_(t.c.unit_id == anc.c.id,
                                            t.c.phase_id == bindparam("phase_id"))))]


def _counter_cols(table: Any, *, summed: bool = False) -> tuple[Any, ...]:
    return tuple(func.sum(table.c[c]) if summed else table.c[c] for c in COUNTERS)


def _folded(snapshot: bool, phase: Any, where: Callable[[Table], Any]) -> Any:
    """The figures folded so far of the units `where(table)` picks: from the phase's
    snapshot (with its frozen member counts), or its live totals."""
    if snapshot:
        s = progress_snapshot_t
        return (select(*_row(FIG, k=s.c.unit_id, s=s.c.bloc,
                             n=(*_counter_cols(s), s.c.members, s.c.unit_members)))
                .where(s.c.phase_id == phase, where(s)))
    t = progress_total_t
    return (select(*_row(FIG, k=t.c.unit_id, s=t.c.bloc, n=_counter_cols(t)))
            .where(t.c.phase_id == phase, where(t)))


def _overview_stmt(snapshot: bool) -> Any:
    unit = bindparam("unit_id")
    phase = bindparam("phase_id")
    parts: list[Any] = [_folded(snapshot, phase, lambda f: f.c.unit_id == unit)]
    if not snapshot:
        d, m = progress_delta_t, unit_members_t
        parts.append(select(*_row(FIG, k=d.c.unit_id, s=d.c.bloc,
                                  n=_counter_cols(d, summed=True)))
                     .where(d.c.phase_id == phase, d.c.unit_id == unit)
                     .group_by(d.c.unit_id, d.c.bloc))
        parts.append(select(*_row(MEM, k=m.c.unit_id, s=m.c.bloc, n=(m.c.members,)))
                     .where(m.c.unit_id == unit))
    parts += _chain(unit)
    dt, d = progress_day_t, progress_delta_t
    since = bindparam("since", type_=dt.c.day.type)
    parts.append(select(*_row(DAY, s=dt.c.day, n=(dt.c.registered,)))
                 .where(dt.c.phase_id == phase, dt.c.unit_id == unit, dt.c.day >= since))
    parts.append(select(*_row(DAY, s=d.c.day, n=(func.sum(d.c.day_registered),)))
                 .where(d.c.phase_id == phase, d.c.unit_id == unit, d.c.day >= since)
                 .group_by(d.c.day))
    parts.append(select(*_row(COUNT, k=func.count())).select_from(unit_t)
                 .where(unit_t.c.parent_id == unit))
    return union_all(*parts)


def _family_stmt(snapshot: bool, dialect: str) -> Any:
    parent = bindparam("parent_id")
    phase = bindparam("phase_id")
    u = unit_t
    kids = select(u.c.id).where(u.c.parent_id == parent).scalar_subquery()
    parts: list[Any] = [
        select(*_row(UNIT, k=u.c.id, s=u.c.code, n=(u.c.member_count, u.c.parent_id),
                     t=(u.c.name, u.c.kind, u.c.bloc, u.c.cluster)))
        .where(u.c.parent_id == parent),
        _folded(snapshot, phase, lambda f: f.c.parent_id == parent)]
    if not snapshot:
        d, m = progress_delta_t, unit_members_t
        fresh = select(*_row(FIG, k=d.c.unit_id, s=d.c.bloc, n=_counter_cols(d, summed=True)))
        if dialect == "postgresql":
            fresh = fresh.select_from(u.join(d, and_(d.c.unit_id == u.c.id,
                                                     d.c.phase_id == phase))
                                      ).where(u.c.parent_id == parent)
        else:   # SQLite probes (phase_id, unit_id) per child from an IN list
            fresh = fresh.where(d.c.phase_id == phase, d.c.unit_id.in_(kids))
        parts.append(fresh.group_by(d.c.unit_id, d.c.bloc))
        parts.append(select(*_row(MEM, k=m.c.unit_id, s=m.c.bloc, n=(m.c.members,)))
                     .select_from(u.join(m, m.c.unit_id == u.c.id))
                     .where(u.c.parent_id == parent))
    tg = target_t
    parts.append(select(*_row(TARGET, k=tg.c.unit_id, s=tg.c.kind, n=(tg.c.position, tg.c.id),
                              t=(tg.c.bloc, tg.c.note), v=tg.c.value))
                 .select_from(u.join(tg, tg.c.unit_id == u.c.id))
                 .where(u.c.parent_id == parent, tg.c.phase_id == phase))
    parts += _chain(parent)
    return union_all(*parts)


def _units_stmt(snapshot: bool) -> Any:
    ids = bindparam("unit_ids", expanding=True)
    phase = bindparam("phase_id")
    u = unit_t
    parts: list[Any] = [
        select(*_row(UNIT, k=u.c.id, s=u.c.code, n=(u.c.member_count, u.c.parent_id),
                     t=(u.c.name, u.c.kind, u.c.bloc, u.c.cluster)))
        .where(u.c.id.in_(ids)),
        _folded(snapshot, phase, lambda f: and_(f.c.unit_id.in_(ids), by_key(f)))]
    if not snapshot:
        d, m = progress_delta_t, unit_members_t
        parts.append(select(*_row(FIG, k=d.c.unit_id, s=d.c.bloc,
                                  n=_counter_cols(d, summed=True)))
                     .where(d.c.phase_id == phase, d.c.unit_id.in_(ids))
                     .group_by(d.c.unit_id, d.c.bloc))
        parts.append(select(*_row(MEM, k=m.c.unit_id, s=m.c.bloc, n=(m.c.members,)))
                     .where(m.c.unit_id.in_(ids)))
    return union_all(*parts)


def _siblings_stmt() -> Any:
    """How many children, their own targets, the targets up the parent's chain."""
    parent = bindparam("parent_id")
    u, tg = unit_t, target_t
    # the phase's targets (a few hundred) checked for their unit's parent, not a probe per
    # child (10,000 in a big zone): `parent_id + 0` keeps the parent index out of it
    return union_all(
        select(*_row(COUNT, k=func.count())).select_from(u).where(u.c.parent_id == parent),
        select(*_row(TARGET, k=tg.c.unit_id, s=tg.c.kind, n=(tg.c.position, tg.c.id),
                     t=(tg.c.bloc, tg.c.note), v=tg.c.value))
        .select_from(tg.join(u, u.c.id == tg.c.unit_id))
        .where(tg.c.phase_id == bindparam("phase_id"), u.c.parent_id + 0 == parent),
        *_chain(parent))


_STMTS: dict[tuple[str, bool, str], Any] = {}


def _stmt(what: str, snapshot: bool, dialect: str) -> Any:
    key = (what, snapshot, dialect)
    if key not in _STMTS:
        _STMTS[key] = (_overview_stmt(snapshot) if what == "overview"
                       else _units_stmt(snapshot) if what == "units"
                       else _siblings_stmt() if what == "siblings"
                       else _family_stmt(snapshot, dialect))
    return _STMTS[key]


def _chain_rows(rows: list[tuple[Any, ...]]) -> list[ChainRow]:
    # (lvl, kind, unit id, position, target id, code, bloc, note, value): by level, then
    # the targets' order
    rows.sort(key=lambda r: (r[0], r[3] is not None, r[3] or 0, r[4] or 0))
    return [ChainRow(int(r[2]), r[5], r[1], r[8], r[6], r[7]) for r in rows]


@dataclass(slots=True)
class Read:
    """What `overview` or `family` read. figs and members per unit (and bloc); frozen: per
    unit, its own member count as frozen in the snapshot (snapshot reads only)."""

    figs: dict[int, Figures] = field(default_factory=lambda: defaultdict(dict))
    members: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    frozen: dict[int, int] = field(default_factory=dict)
    chain: list[ChainRow] = field(default_factory=list)
    days: dict[date, int] = field(default_factory=dict)
    children: int = 0
    units: list[UnitRow] = field(default_factory=list)
    targets: dict[int, list[TargetRow]] = field(default_factory=dict)


def _collect(rows: Any, snapshot: bool) -> Read:
    """Sort the tagged rows into a `Read` (rows unpacked as tuples: this runs per row of a
    page of children, where attribute lookups by name were most of the Python time)."""
    out = Read()
    figs, members, frozen = out.figs, out.members, out.frozen
    chain: list[tuple[Any, ...]] = []
    targets: list[tuple[Any, ...]] = []
    days: dict[date, int] = defaultdict(int)
    for (tag, k, s, n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, t0, t1, t2, t3, v) in rows:
        if tag == FIG:
            vals = (int(n0), int(n1), int(n2), int(n3), int(n4), int(n5), int(n6), int(n7))
            per = figs[k]
            cur = per.get(s)
            if cur is None:
                per[s] = dict(zip(COUNTERS, vals, strict=True))
            else:
                for c, n in zip(COUNTERS, vals, strict=True):
                    cur[c] += n
            if snapshot:
                if n8:
                    members[k][s] = int(n8)
                frozen[k] = max(frozen.get(k, 0), int(n9))
        elif tag == MEM:
            if n0:
                members[k][s] = int(n0)
        elif tag == UNIT:
            out.units.append(UnitRow(int(k), s, t0, t1, t2, n0, n1, t3))
        elif tag == TARGET:
            targets.append((k, n0, n1, s, t0, t1, v))
        elif tag == CHAIN:
            chain.append((k, s, n0, n1, n2, t0, t1, t2, v))
        elif tag == DAY:
            # SQLite gives 'YYYY-MM-DD', PostgreSQL the date as text: parsed here
            days[date.fromisoformat(s[:10])] += int(n0 or 0)
        elif tag == COUNT:
            out.children = int(k)
    out.chain = _chain_rows(chain)
    out.days = {d: n for d, n in days.items() if n}
    targets.sort(key=lambda r: (r[0], r[1], r[2]))
    for k, _pos, _id, kind, bloc, note, v in targets:
        out.targets.setdefault(int(k), []).append(TargetRow(int(k), kind, v, bloc, note))
    return out


def overview(conn: Connection, *, phase_id: int, unit_id: int, since: date | None,
             snapshot: bool) -> Read:
    """One unit: its figures and members (live, or frozen with `snapshot`), its chain's
    targets, registered per day from `since` (folded and not) and its number of children."""
    rows = conn.execute(_stmt("overview", snapshot, conn.dialect.name),
                        {"phase_id": phase_id, "unit_id": unit_id,
                         "since": since or date.min})
    return _collect(rows, snapshot)


def family(conn: Connection, *, phase_id: int, parent_id: int, snapshot: bool) -> Read:
    """The children of `parent_id` (units, in no order), their figures and members, their
    own targets, and the targets up the parent's chain."""
    rows = conn.execute(_stmt("family", snapshot, conn.dialect.name),
                        {"phase_id": phase_id, "parent_id": parent_id})
    return _collect(rows, snapshot)


def units(conn: Connection, *, phase_id: int, unit_ids: list[int], snapshot: bool) -> Read:
    """The units `unit_ids` (in no order) with their figures and members."""
    rows = conn.execute(_stmt("units", snapshot, conn.dialect.name),
                        {"phase_id": phase_id, "unit_ids": unit_ids})
    return _collect(rows, snapshot)


def siblings(conn: Connection, *, phase_id: int, parent_id: int) -> Read:
    """The number of children of `parent_id`, their own targets, the parent's chain."""
    rows = conn.execute(_stmt("siblings", False, conn.dialect.name),
                        {"phase_id": phase_id, "parent_id": parent_id})
    return _collect(rows, False)


__all__ = ["ChainRow", "Read", "TargetRow", "UnitRow", "family", "overview", "siblings", "units"]
