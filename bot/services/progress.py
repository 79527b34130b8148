"""Progress against targets (/tiendo, /bangxephang, /baocao): a unit's figures in a phase,
its targets with their basis, its children lagging first, rankings, top authors.

Everything here reads the rollups (storage/progress.py): a unit's figures are a handful of
rows however many initiatives lie below it. Targets follow the programme's rules:

- a `count` target applies to its own unit only;
- a ratio target (`member_ratio`: 0.10 = 10% of members; `per_member`: 0.0667 = one per 15
  members) applies to every union below that sets no ratio target of its own;
- a ratio is taken of the unit's own member count, or — where a bloc is given or the count
  is missing — of the members of the grassroots unions of that bloc (or all) below it;
- the count reached is the registered initiatives (under review, needs revision, valid), of
  the target's bloc when it has one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select

from bot.services.actor import Actor
from bot.services.progress_results import (
    AuthorRow,
    ChildRow,
    Page,
    PhaseInfo,
    Progress,
    Ranking,
    RankRow,
    Refused,
    TargetFigure,
    UnitFigures,
)
from storage import access
from storage import progress as store
from storage import progress_report as report_store
from storage.models import unit_t
from storage.models_progress import phase_t, target_t

log = logging.getLogger(__name__)

__all__ = ["AuthorRow", "ChildRow", "Page", "PhaseInfo", "Progress", "RankRow", "Ranking",
           "Refused", "TargetFigure", "UnitFigures", "children", "current_phase", "progress",
           "ranking", "report_rows", "top_authors"]

RATIO_KINDS = ("member_ratio", "per_member")
TARGET_KINDS = ("count", *RATIO_KINDS)
VIEW_ROLES = ("chair", "support")
PACE_DAYS = 14


def _refuse(actor: Actor, reason: str) -> Refused:
    log.info("refused: person %s asked for progress (%s)", actor.person_id, reason)
    return Refused(reason)


# --------------------------------------------------------------------------- phases

_PHASE_COLS = (phase_t.c.id, phase_t.c.code, phase_t.c.starts_on, phase_t.c.ends_on,
               phase_t.c.snapshot_at)


def today_of(now: datetime) -> date:
    return store.local_day(now)


def _phase(row: Any, today: date) -> PhaseInfo:
    return PhaseInfo(row.id, row.code, row.starts_on, row.ends_on, today > row.ends_on)


def _phase_row(conn: Connection, *, today: date, code: str | None) -> Any:
    if code is not None:
        return conn.execute(select(*_PHASE_COLS).where(phase_t.c.code == code)).first()
    holding = conn.execute(select(*_PHASE_COLS).where(
        phase_t.c.starts_on <= today, phase_t.c.ends_on >= today)
        .order_by(phase_t.c.starts_on.desc()).limit(1)).first()
    if holding is not None:
        return holding
    return conn.execute(select(*_PHASE_COLS).where(phase_t.c.ends_on < today)
                        .order_by(phase_t.c.ends_on.desc()).limit(1)).first()


def current_phase(*, conn: Connection, now: datetime, code: str | None = None
                  ) -> PhaseInfo | None:
    """The phase called `code`, else the one holding today, else the latest ended."""
    today = today_of(now)
    row = _phase_row(conn, today=today, code=code)
    return _phase(row, today) if row is not None else None


# --------------------------------------------------------------------------- units, scope

_UNIT_COLS = (unit_t.c.id, unit_t.c.code, unit_t.c.name, unit_t.c.kind, unit_t.c.bloc,
              unit_t.c.member_count, unit_t.c.parent_id, unit_t.c.cluster)


def _unit(conn: Connection, *, unit_id: int | None = None, code: str | None = None) -> Any:
    q = select(*_UNIT_COLS)
    q = q.where(unit_t.c.id == unit_id) if unit_id is not None else q.where(unit_t.c.code == code)
    return conn.execute(q).first()


def _may_see(conn: Connection, actor: Actor, unit_id: int) -> bool:
    if actor.is_shell:
        return True
    assert actor.person_id is not None
    if access.covers(conn, person_id=actor.person_id, roles=VIEW_ROLES, unit_id=unit_id):
        return True
    return access.get_person(conn, person_id=actor.person_id)["unit_id"] == unit_id


def _default_unit(conn: Connection, actor: Actor) -> int | None:
    if actor.is_shell:
        return conn.execute(select(unit_t.c.id).where(unit_t.c.parent_id.is_(None))
                            .order_by(unit_t.c.depth, unit_t.c.id).limit(1)).scalar()
    assert actor.person_id is not None
    grants = access.grants(conn, person_id=actor.person_id, roles=VIEW_ROLES)
    if grants:
        return grants[0].unit_id
    return access.get_person(conn, person_id=actor.person_id)["unit_id"]


def _resolve(conn: Connection, actor: Actor, now: datetime, unit_code: str | None,
             phase_code: str | None) -> tuple[Any, Any, date] | Refused:
    if unit_code:
        wanted = unit_code.strip()
        found = conn.execute(select(*_UNIT_COLS).where(
            unit_t.c.code.in_(sorted({wanted.upper(), wanted})))).all()
        unit = next((u for u in found if u.code == wanted.upper()), found[0] if found else None)
        if unit is None:
            return _refuse(actor, "unknown_unit")
    else:
        unit_id = _default_unit(conn, actor)
        if unit_id is None:
            return _refuse(actor, "no_unit")
        unit = _unit(conn, unit_id=unit_id)
    if not _may_see(conn, actor, unit.id):
        return _refuse(actor, "out_of_scope")
    today = today_of(now)
    phase = _phase_row(conn, today=today, code=phase_code.strip() if phase_code else None)
    if phase is None:
        return _refuse(actor, "no_phase")
    return unit, phase, today


# --------------------------------------------------------------------------- targets

@dataclass(frozen=True, slots=True)
class _Target:
    unit_id: int
    kind: str
    value: Decimal
    bloc: str | None
    note: str | None
    origin: str | None = None   # inherited from (code)


def _targets_of(conn: Connection, *, phase_id: int, unit_ids: list[int] | None = None,
                parent_id: int | None = None) -> dict[int, list[_Target]]:
    t = target_t
    q = select(t.c.unit_id, t.c.kind, t.c.value, t.c.bloc, t.c.note).where(t.c.phase_id == phase_id)
    if parent_id is not None:
        q = q.where(t.c.unit_id.in_(select(unit_t.c.id).where(unit_t.c.parent_id == parent_id)
                                    .scalar_subquery()))
    else:
        q = q.where(t.c.unit_id.in_(unit_ids or []))
    out: dict[int, list[_Target]] = {}
    for r in conn.execute(q.order_by(t.c.unit_id, t.c.position, t.c.id)):
        out.setdefault(r.unit_id, []).append(
            _Target(r.unit_id, r.kind, Decimal(r.value), r.bloc, r.note))
    return out


def _effective(own: list[_Target], inherited: list[_Target]) -> list[_Target]:
    """A unit's targets: its own, and its ancestors' ratio targets if it sets none."""
    if any(t.kind in RATIO_KINDS for t in own):
        return own
    return own + inherited


def _chain_ratio(conn: Connection, phase_id: int, unit_id: int) -> tuple[list[_Target],
                                                                          list[_Target]]:
    """(the unit's targets, the ratio targets it passes down to children that set none)."""
    by_unit: dict[int, list[_Target]] = {}
    order: list[int] = []
    codes: dict[int, str] = {}
    for uid, code, kind, value, bloc, note in store.chain_targets(conn, unit_id=unit_id,
                                                                  phase_id=phase_id):
        if uid not in codes:
            order.append(uid)
            codes[uid] = code
        if kind is not None:
            by_unit.setdefault(uid, []).append(_Target(uid, kind, Decimal(value), bloc, note))
    inherited: list[_Target] = []
    for uid in order[1:]:
        ratios = [t for t in by_unit.get(uid, []) if t.kind in RATIO_KINDS]
        if ratios:
            inherited = [_Target(t.unit_id, t.kind, t.value, t.bloc, t.note, codes[uid])
                         for t in ratios]
            break
    eff = _effective(by_unit.get(unit_id, []), inherited)
    own_code = codes.get(unit_id)
    passed = [t if t.origin else _Target(t.unit_id, t.kind, t.value, t.bloc, t.note, own_code)
              for t in eff if t.kind in RATIO_KINDS]
    return eff, passed


@functools.lru_cache(maxsize=1024)
def _ratio(value: Decimal) -> tuple[int, int]:
    return value.as_integer_ratio()


def _goal(value: Decimal, basis: int) -> int:
    """value × basis, rounded half up, in integers (exact, and cheap for 10,000 units)."""
    num, den = _ratio(value)
    return (2 * num * basis + den) // (2 * den)


def _figure(t: _Target, figs: store.Figures, members: dict[str, int],
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
        goal = _goal(t.value, basis)
    pct = round(reached * 100.0 / goal, 1) if goal > 0 else None
    return TargetFigure(t.kind, t.value, t.bloc, basis, goal, reached, pct,
                        max(0, goal - reached), t.origin, t.note)


def _unit_figures(u: Any, figs: store.Figures, members: dict[str, int], own_members: int,
                  targets: list[_Target]) -> UnitFigures:
    tot = {c: sum(v.get(c, 0) for v in figs.values()) for c in store.COUNTERS}
    tfs = tuple(f for f in (_figure(t, figs, members, own_members) for t in targets)
                if f is not None)
    shown_members = own_members or sum(members.values()) or None
    return UnitFigures(
        u.id, u.code, u.name, u.kind, u.bloc, shown_members, tot["registered"], tot["valid"],
        tot["under_review"], tot["needs_revision"], tot["invalid"], tot["withdrawn"],
        tot["participants"], tot["benefit_vnd"], tfs, tfs[0].pct if tfs else None)


def _own_members(conn: Connection, phase: Any, units: list[Any], *,
                 parent_id: int | None = None) -> dict[int, int]:
    if phase.snapshot_at is None:
        return {u.id: int(u.member_count or 0) for u in units}
    frozen = store.snapshot_unit_members(
        conn, phase_id=phase.id, parent_id=parent_id,
        unit_ids=None if parent_id is not None else [u.id for u in units])
    return {u.id: frozen.get(u.id, int(u.member_count or 0)) for u in units}


def _full_figures(conn: Connection, phase: Any, ids: list[int],
                  targets: dict[int, list[_Target]], passed: dict[int | None, list[_Target]]
                  ) -> dict[int, UnitFigures]:
    """Every figure of a few units (the rows shown)."""
    if not ids:
        return {}
    snap = phase.snapshot_at is not None
    units = conn.execute(select(*_UNIT_COLS).where(unit_t.c.id.in_(ids))).all()
    figs = store.figures(conn, phase_id=phase.id, unit_ids=ids, snapshot=snap)
    mem = store.members(conn, unit_ids=ids, phase_id=phase.id if snap else None)
    own = _own_members(conn, phase, units)
    return {u.id: _unit_figures(u, figs.get(u.id, {}), mem.get(u.id, {}), own[u.id],
                                _effective(targets.get(u.id, []), passed.get(u.parent_id, [])))
            for u in units}


def _main_pct(targets: list[_Target], reg: dict[str, int], total: int,
              mem: dict[str, int], members: int) -> float | None:
    """The % of the first target that applies (as `_figure` computes it)."""
    for t in targets:
        reached = reg.get(t.bloc, 0) if t.bloc else total
        if t.kind == "count":
            goal = int(t.value)
        else:
            basis = mem.get(t.bloc, 0) if t.bloc else members
            if t.origin and t.bloc and not basis:
                continue
            goal = _goal(t.value, basis)
        return round(reached * 100.0 / goal, 1) if goal > 0 else None
    return None


class _Quick(NamedTuple):
    """What ordering units needs: the main target's % and the registered count."""

    unit_id: int
    code: str
    pct: float | None
    registered: int
    members: int


_QUICK_COLS = (unit_t.c.id, unit_t.c.code, unit_t.c.parent_id, unit_t.c.member_count)


def _quick(conn: Connection, phase: Any, *, parent_id: int | None = None,
           cluster: str | None = None) -> tuple[list[_Quick], dict[int, list[_Target]],
                                                dict[int | None, list[_Target]]]:
    """The children of `parent_id` (or the units of `cluster`), each with its main
    target's %: a few columns per unit, so that ordering 10,000 siblings stays cheap."""
    snap = phase.snapshot_at is not None
    if parent_id is not None:
        units = conn.execute(select(*_QUICK_COLS).where(unit_t.c.parent_id == parent_id)).all()
        where: dict[str, Any] = {"parent_id": parent_id}
    else:
        units = conn.execute(select(*_QUICK_COLS).where(unit_t.c.cluster == cluster)).all()
        where = {"unit_ids": [u[0] for u in units]}
    if not units:
        return [], {}, {}
    reg = store.registered(conn, phase_id=phase.id, snapshot=snap, **where)
    if snap:
        frozen = store.snapshot_unit_members(conn, phase_id=phase.id, **where)
        own = {u[0]: frozen.get(u[0], u[3] or 0) for u in units}
    else:
        own = {u[0]: u[3] or 0 for u in units}
    targets = _targets_of(conn, phase_id=phase.id, **where)
    passed = {p: _chain_ratio(conn, phase.id, p)[1]
              for p in {u[2] for u in units} if p is not None}
    # the members per bloc are needed only for a bloc's target or a missing own count
    needs = any(t.bloc for ts in (*targets.values(), *passed.values()) for t in ts) or \
        not all(own.values())
    mem = store.members(conn, phase_id=phase.id if snap else None, **where) if needs else {}
    out = []
    none: dict[str, int] = {}
    no_targets: list[_Target] = []
    for uid, code, parent, _count in units:
        r = reg.get(uid, none)
        m = mem.get(uid, none)
        total = sum(r.values())
        members = own[uid] or sum(m.values())
        mine = targets.get(uid)
        eff = _effective(mine, passed.get(parent, no_targets)) if mine else \
            passed.get(parent, no_targets)
        out.append(_Quick(uid, code, _main_pct(eff, r, total, m, members), total, members))
    return out, targets, passed


def _lagging_key(q: _Quick) -> tuple[bool, float, str]:
    return (q.pct is None, q.pct if q.pct is not None else 0.0, q.code)


def _ahead_key(q: _Quick) -> tuple[bool, float, int, str]:
    return (q.pct is None, -(q.pct or 0.0), -q.registered, q.code)


def _one_unit(conn: Connection, phase: Any, unit: Any) -> UnitFigures:
    snap = phase.snapshot_at is not None
    figs = store.figures(conn, phase_id=phase.id, unit_ids=[unit.id], snapshot=snap)
    mem = store.members(conn, unit_ids=[unit.id], phase_id=phase.id if snap else None)
    own = _own_members(conn, phase, [unit])
    eff, _passed = _chain_ratio(conn, phase.id, unit.id)
    return _unit_figures(unit, figs.get(unit.id, {}), mem.get(unit.id, {}), own[unit.id], eff)


# --------------------------------------------------------------------------- use cases

def _progress(conn: Connection, unit: Any, phase: Any, today: date) -> Progress:
    info = _phase(phase, today)
    fig = _one_unit(conn, phase, unit)
    per_day = store.days(conn, phase_id=phase.id, unit_id=unit.id)
    last = min(today, phase.ends_on)
    cumulative: list[tuple[date, int]] = []
    running = sum(n for d, n in per_day.items() if d < phase.starts_on)
    day = phase.starts_on
    while day <= last:
        running += per_day.get(day, 0)
        cumulative.append((day, running))
        day += timedelta(days=1)
    since = today - timedelta(days=PACE_DAYS - 1)
    pace = sum(n for d, n in per_day.items() if since <= d <= today) / PACE_DAYS
    days_left = max(0, (phase.ends_on - max(today, phase.starts_on)).days + 1)
    if today > phase.ends_on:
        days_left = 0
    main = fig.targets[0] if fig.targets else None
    per_day_needed = (main.shortfall / days_left if main is not None and days_left
                      else None)
    children_total = conn.execute(select(func.count()).select_from(unit_t)
                                  .where(unit_t.c.parent_id == unit.id)).scalar_one()
    return Progress(info, fig, today, days_left, per_day_needed, pace,
                    fig.registered + round(pace * days_left), tuple(cumulative),
                    phase.snapshot_at is not None, int(children_total))


def progress(*, conn: Connection, actor: Actor, now: datetime, unit_code: str | None = None,
             phase_code: str | None = None) -> Progress | Refused:
    """A unit's progress in a phase (default: the actor's unit, the current phase)."""
    got = _resolve(conn, actor, now, unit_code, phase_code)
    if isinstance(got, Refused):
        return got
    unit, phase, today = got
    return _progress(conn, unit, phase, today)


def children(*, conn: Connection, actor: Actor, now: datetime, unit_id: int, phase_id: int,
             page: int = 0, page_size: int = 8) -> Page | Refused:
    """The unit's direct children, lagging first (lowest %, those with no target last)."""
    unit = _unit(conn, unit_id=unit_id)
    if unit is None:
        return _refuse(actor, "unknown_unit")
    if not _may_see(conn, actor, unit.id):
        return _refuse(actor, "out_of_scope")
    phase = conn.execute(select(*_PHASE_COLS).where(phase_t.c.id == phase_id)).first()
    if phase is None:
        return _refuse(actor, "no_phase")
    quick, targets, passed = _quick(conn, phase, parent_id=unit.id)
    quick.sort(key=_lagging_key)
    size = max(1, page_size)
    pages = max(1, -(-len(quick) // size))
    page = min(max(0, page), pages - 1)
    shown = [q.unit_id for q in quick[page * size:(page + 1) * size]]
    full = _full_figures(conn, phase, shown, targets, passed)
    return Page(tuple(full[u] for u in shown), page, pages, len(quick))


def _rank(conn: Connection, phase: Any, quick: list[_Quick], targets: dict[int, list[_Target]],
          passed: dict[int | None, list[_Target]], own_id: int | None, limit: int
          ) -> tuple[RankRow, ...]:
    quick.sort(key=_ahead_key)
    picked = [(i, q) for i, q in enumerate(quick, 1)
              if i <= max(0, limit) or q.unit_id == own_id]
    full = _full_figures(conn, phase, [q.unit_id for _i, q in picked], targets, passed)
    return tuple(RankRow(i, full[q.unit_id],
                         round(q.registered * 100.0 / q.members, 2) if q.members else None,
                         q.unit_id == own_id) for i, q in picked)


def ranking(*, conn: Connection, actor: Actor, now: datetime, unit_code: str | None = None,
            phase_code: str | None = None, limit: int = 10) -> Ranking | Refused:
    """The direct children of a unit ranked by % of target; without a unit, the grassroots
    unions of the actor's emulation cluster (else the children of the actor's unit)."""
    got = _resolve(conn, actor, now, unit_code, phase_code)
    if isinstance(got, Refused):
        return got
    unit, phase, today = got
    info = _phase(phase, today)
    if unit_code is None and unit.cluster:
        quick, targets, passed = _quick(conn, phase, cluster=unit.cluster)
        return Ranking(info, unit.code, unit.cluster, "cluster",
                       _rank(conn, phase, quick, targets, passed, unit.id, limit), len(quick))
    quick, targets, passed = _quick(conn, phase, parent_id=unit.id)
    return Ranking(info, unit.code, unit.name, "children",
                   _rank(conn, phase, quick, targets, passed, None, limit), len(quick))


def top_authors(*, conn: Connection, actor: Actor, now: datetime, unit_id: int, phase_id: int,
                limit: int = 10) -> tuple[AuthorRow, ...]:
    """The unit's authors with the most valid initiatives (names as credited)."""
    if _unit(conn, unit_id=unit_id) is None or not _may_see(conn, actor, unit_id):
        _refuse(actor, "out_of_scope")
        return ()
    rows = store.top_authors(conn, phase_id=phase_id, unit_id=unit_id, limit=limit)
    return tuple(AuthorRow(i, name, valid, reg) for i, (name, valid, reg) in enumerate(rows, 1))


# --------------------------------------------------------------------------- reports

def report_rows(*, conn: Connection, actor: Actor, now: datetime, unit_code: str | None,
                phase_code: str | None
                ) -> tuple[Progress, Iterator[UnitFigures], Iterator[dict[str, Any]]] | Refused:
    """For an XLSX report: the unit's progress, its direct children (by code) and every
    initiative of its subtree in the phase, streamed (consume them within `conn`'s use)."""
    got = _resolve(conn, actor, now, unit_code, phase_code)
    if isinstance(got, Refused):
        return got
    unit, phase, today = got
    prog = _progress(conn, unit, phase, today)
    quick, targets, passed = _quick(conn, phase, parent_id=unit.id)
    ids = [q.unit_id for q in sorted(quick, key=lambda q: q.code)]
    full = _full_figures(conn, phase, ids, targets, passed)
    kids = (full[i] for i in ids)
    return prog, kids, report_store.subtree_initiatives(
        conn, unit_id=unit.id, starts_on=phase.starts_on, ends_on=phase.ends_on)
