"""Siblings ordered by % of target in the database: /bangxephang and /tiendo's children page
for a unit with 10,000 children read one page, not 10,000 rows.

A unit's % is that of its main target — its first own target, else the first ratio target
passed down from above (`bot.services.progress`). Units with targets of their own are few and
are ordered by the caller; here the others, whose main target is one of the few passed down
to their parent (`Goal`s, per parent). The % is kept in tenths of a percent, rounded half up
in integers, exactly as `tenths` computes it in Python, so both orders agree to the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
)

from storage.models import unit_t
from storage.models_progress import (
    progress_snapshot_t,
    unit_members_t,
)
from storage.progress import _counts_stmt, frozen_of


def tenths(reached: int, goal: int) -> int | None:
    """reached / goal in tenths of a percent, rounded half up (None without a goal)."""
    if goal <= 0:
        return None
    return (2000 * reached + goal) // (2 * goal)


@dataclass(frozen=True, slots=True)
class Goal:
    """A target as the % needs it: `count` (goal = num) or a ratio num/den of a basis —
    the members of `bloc` below the unit, or (no bloc) the unit's members. `skip_empty`:
    an inherited bloc target passes to the next where that bloc has nobody."""

    kind: str
    num: int
    den: int
    bloc: str | None
    skip_empty: bool


class Ranked(NamedTuple):
    unit_id: int
    code: str
    registered: int
    members: int
    tenths: int | None


def _int(n: int) -> Any:
    return literal_column(str(int(n)), BigInteger)


def _units(conn: Connection, *, phase_id: int, snapshot: bool, parent_id: int | None,
           unit_ids: Sequence[int] | None, blocs: Sequence[str], exclude: Iterable[int]
           ) -> Any:
    """Per unit: id, code, parent_id, registered, members, and per bloc of `blocs`
    registered (r0, r1…) and members (m0, m1…)."""
    u = unit_t
    if snapshot:
        # an ended phase: its figures and member counts, frozen, of the children are one
        # range of ix_progress_snapshot_parent (or the units' keys), summed per unit here
        s = progress_snapshot_t
        rows = select(s.c.unit_id, s.c.bloc, s.c.registered, s.c.members, s.c.unit_members
                      ).where(frozen_of(phase_id=phase_id, unit_ids=unit_ids,
                                        parent_id=parent_id))
    else:
        # the children's totals are one range of ix_progress_total_parent, read in the
        # table's order (a probe per child by (phase_id, unit_id) grew 4x from 200,000 to
        # 2,000,000 initiatives on SQLite: pages all over a table bigger than its cache)
        rows = _counts_stmt(registered_only=True, unit_ids=unit_ids, parent_id=parent_id,
                            phase_id=phase_id, dialect=conn.dialect.name)
    x = rows.subquery("x")
    frozen_cols = () if not snapshot else (
        func.max(x.c.unit_members).label("mo"), func.sum(x.c.members).label("ma"),
        *(func.sum(case((x.c.bloc == b, x.c.members), else_=0)).label(f"m{i}")
          for i, b in enumerate(blocs)))
    agg = select(x.c.unit_id, func.sum(x.c.registered).label("r"),
                 *(func.sum(case((x.c.bloc == b, x.c.registered), else_=0)).label(f"r{i}")
                   for i, b in enumerate(blocs)), *frozen_cols
                 ).group_by(x.c.unit_id).subquery("agg")
    source = u.outerjoin(agg, agg.c.unit_id == u.c.id)
    regs = [cast(func.coalesce(agg.c.r, 0), BigInteger).label("registered"),
            *(cast(func.coalesce(agg.c[f"r{i}"], 0), BigInteger).label(f"r{i}")
              for i in range(len(blocs)))]
    m = unit_members_t
    if snapshot:
        own = func.coalesce(agg.c.mo, u.c.member_count, 0)
        every = cast(func.coalesce(agg.c.ma, 0), BigInteger)

        def of_bloc(b: str) -> Any:
            return cast(func.coalesce(agg.c[f"m{blocs.index(b)}"], 0), BigInteger)
    else:
        own = func.coalesce(u.c.member_count, 0)
        every = cast(select(func.coalesce(func.sum(m.c.members), 0))
                     .where(m.c.unit_id == u.c.id).scalar_subquery(), BigInteger)

        def of_bloc(b: str) -> Any:
            return cast(select(func.coalesce(func.sum(m.c.members), 0))
                        .where(m.c.unit_id == u.c.id, m.c.bloc == b).scalar_subquery(),
                        BigInteger)

    members = case((own > 0, cast(own, BigInteger)), else_=every)
    q = select(u.c.id, u.c.code, u.c.parent_id, regs[0], members.label("members"), *regs[1:],
               *(of_bloc(b).label(f"m{i}") for i, b in enumerate(blocs))).select_from(source)
    q = q.where(u.c.parent_id == parent_id) if parent_id is not None else \
        q.where(u.c.id.in_(list(unit_ids or ())))
    skip = sorted(set(exclude))
    if skip:
        q = q.where(u.c.id.not_in(skip))
    cte = q.cte("sib")
    if conn.dialect.name in ("sqlite", "postgresql"):
        cte = cte.prefix_with("MATERIALIZED")   # each unit's sums once, not per use
    return cte


def _pct_expr(sib: Any, goals: Mapping[int | None, Sequence[Goal]], blocs: Sequence[str]
              ) -> Any:
    def one(goal_list: Sequence[Goal]) -> Any:
        expr: Any = null()
        for g in reversed(goal_list):
            reached = sib.c[f"r{blocs.index(g.bloc)}"] if g.bloc else sib.c.registered
            basis = sib.c[f"m{blocs.index(g.bloc)}"] if g.bloc else sib.c.members
            if g.kind == "count":
                goal: Any = _int(g.num)
            else:
                goal = (_int(2 * g.num) * basis + _int(g.den)) // _int(2 * g.den)
            pct = case((goal > 0, (_int(2000) * reached + goal) // (goal * _int(2))))
            expr = case((basis == 0, expr), else_=pct) if g.bloc and g.skip_empty else pct
        return expr

    parents = [p for p in goals if goals[p]]
    if not parents:
        return null()
    if len(parents) == 1:
        return one(goals[parents[0]])
    return case(*((sib.c.parent_id == p, one(goals[p])) for p in parents))


def _ordered(conn: Connection, *, ahead: bool, **kw: Any) -> tuple[Any, list[Any]]:
    goals: Mapping[int | None, Sequence[Goal]] = kw.pop("goals")
    blocs = sorted({g.bloc for gs in goals.values() for g in gs if g.bloc})
    sib = _units(conn, blocs=blocs, **kw)
    pct = _pct_expr(sib, goals, blocs).label("tenths")
    q = select(sib.c.id, sib.c.code, sib.c.registered, sib.c.members, pct).subquery("ranked")
    code = q.c.code.collate("C") if conn.dialect.name == "postgresql" else q.c.code
    if ahead:
        order = [q.c.tenths.is_(None), q.c.tenths.desc(), q.c.registered.desc(), code]
    else:
        order = [q.c.tenths.is_(None), q.c.tenths, code]
    return q, order


def page(conn: Connection, *, phase_id: int, snapshot: bool,
         goals: Mapping[int | None, Sequence[Goal]], parent_id: int | None = None,
         unit_ids: Sequence[int] | None = None, exclude: Iterable[int] = (),
         ahead: bool = True, limit: int, offset: int = 0) -> list[Ranked]:
    """The units ranked (`ahead`: highest % first, then most registered; else lagging:
    lowest % first), those with no % last, then by code; rows offset … offset+limit."""
    q, order = _ordered(conn, ahead=ahead, phase_id=phase_id, snapshot=snapshot,
                        goals=goals, parent_id=parent_id, unit_ids=unit_ids, exclude=exclude)
    stmt = select(q).order_by(*order).offset(max(0, offset)).limit(max(0, limit))
    return [Ranked(int(r.id), r.code, int(r.registered), int(r.members),
                   None if r.tenths is None else int(r.tenths)) for r in conn.execute(stmt)]


def count_ahead(conn: Connection, *, phase_id: int, snapshot: bool,
                goals: Mapping[int | None, Sequence[Goal]], of: Ranked,
                parent_id: int | None = None, unit_ids: Sequence[int] | None = None,
                exclude: Iterable[int] = ()) -> int:
    """How many of the units come before `of` in the `ahead` order."""
    q, _order = _ordered(conn, ahead=True, phase_id=phase_id, snapshot=snapshot,
                         goals=goals, parent_id=parent_id, unit_ids=unit_ids, exclude=exclude)
    code = q.c.code.collate("C") if conn.dialect.name == "postgresql" else q.c.code
    if of.tenths is None:
        before = and_(q.c.tenths.is_(None), or_(
            q.c.registered > of.registered,
            and_(q.c.registered == of.registered, code < of.code)))
        before = or_(q.c.tenths.is_not(None), before)
    else:
        before = and_(q.c.tenths.is_not(None), or_(
            q.c.tenths > of.tenths,
            and_(q.c.tenths == of.tenths, or_(
                q.c.registered > of.registered,
                and_(q.c.registered == of.registered, code < of.code)))))
    return int(conn.execute(select(func.count()).select_from(q).where(before)).scalar_one())


def ahead_key(r: Ranked) -> tuple[bool, int, int, str]:
    return (r.tenths is None, -(r.tenths or 0), -r.registered, r.code)


def lagging_key(r: Ranked) -> tuple[bool, int, str]:
    return (r.tenths is None, r.tenths or 0, r.code)


__all__ = ["Goal", "Ranked", "ahead_key", "count_ahead", "lagging_key", "page", "tenths"]
