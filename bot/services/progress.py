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

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, select, true

from bot.services.actor import Actor
from bot.services.progress_figures import (
    RATIO_KINDS,
    SQL_FROM,
    UNIT_COLS,
    Ordered,
    family_page,
    full_figures,
    one_unit_read,
    ordered,
    quick,
)
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
from storage import progress_read as reads
from storage import progress_report as report_store
from storage import targets as target_store
from storage.models import unit_t
from storage.models_progress import phase_t

log = logging.getLogger(__name__)

__all__ = ["AuthorRow", "ChildRow", "Page", "PhaseInfo", "Progress", "RankRow", "Ranking",
           "Refused", "TargetFigure", "UnitFigures", "children", "current_phase", "progress",
           "ranking", "report_rows", "top_authors"]

TARGET_KINDS = ("count", *RATIO_KINDS)
VIEW_ROLES = ("chair", "support")
PACE_DAYS = 14


def _refuse(actor: Actor, reason: str) -> Refused:
    log.info("refused: person %s asked for progress (%s)", actor.person_id, reason)
    return Refused(reason)


# --------------------------------------------------------------------------- phases

AMBIGUOUS = object()   # a phase typed as a code two phases could be ("gd2": GĐ2 or GD2)
_PHASE_COLS = (phase_t.c.id, phase_t.c.code, phase_t.c.starts_on, phase_t.c.ends_on,
               phase_t.c.snapshot_at)


def today_of(now: datetime) -> date:
    return store.local_day(now)


def _phase(row: Any, today: date) -> PhaseInfo:
    return PhaseInfo(row.id, row.code, row.starts_on, row.ends_on, today > row.ends_on)


def _phase_row(conn: Connection, *, today: date, code: str | None) -> Any:
    """The phase typed as `code` (its exact code first, else accents and case optional:
    `target_store.matching_phases`), else the one holding today, else the latest ended.
    A code two phases could be: AMBIGUOUS."""
    if code is not None:
        rows = {r.code: r for r in conn.execute(select(*_PHASE_COLS))}   # a handful
        found = target_store.matching_phases(rows, code)
        return rows[found[0]] if len(found) == 1 else AMBIGUOUS if found else None
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
    return _phase(row, today) if row is not None and row is not AMBIGUOUS else None


# --------------------------------------------------------------------------- units, scope



def _unit(conn: Connection, *, unit_id: int | None = None, code: str | None = None) -> Any:
    q = select(*UNIT_COLS)
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


_PHASE_AS = tuple(c.label(f"phase_{c.name}") for c in _PHASE_COLS)
_KIDS = unit_t.alias("kids")
# the unit, the phase and how many children: one statement
_HEAD = (select(*UNIT_COLS, *_PHASE_AS,
                select(func.count()).select_from(_KIDS).where(_KIDS.c.parent_id == unit_t.c.id)
                .scalar_subquery().label("n_children"))
         .select_from(unit_t.join(phase_t, phase_t.c.id == bindparam("phase_id")))
         .where(unit_t.c.id == bindparam("unit_id")))


class _PhaseRow(NamedTuple):
    id: int
    code: str
    starts_on: date
    ends_on: date
    snapshot_at: datetime | None


# a unit asked for by code, with every phase (a handful): one statement, the phase chosen here
_BY_CODE = (select(*UNIT_COLS, *_PHASE_AS)
            .select_from(unit_t.outerjoin(phase_t, true()))
            .where(unit_t.c.code.in_(bindparam("codes", expanding=True))))


def _pick_phase(phases: list[_PhaseRow], today: date, code: str | None) -> Any:
    """As `_phase_row` chooses: the phase typed as `code` (or AMBIGUOUS), else the one
    holding today (the latest started), else the latest ended."""
    if code is not None:
        by_code = {p.code: p for p in phases}
        found = target_store.matching_phases(by_code, code)
        return by_code[found[0]] if len(found) == 1 else AMBIGUOUS if found else None
    holding = [p for p in phases if p.starts_on <= today <= p.ends_on]
    if holding:
        return max(holding, key=lambda p: p.starts_on)
    ended = [p for p in phases if p.ends_on < today]
    return max(ended, key=lambda p: p.ends_on) if ended else None


def _resolve(conn: Connection, actor: Actor, now: datetime, unit_code: str | None,
             phase_code: str | None) -> tuple[Any, Any, date] | Refused:
    phases: list[_PhaseRow] | None = None
    if unit_code:
        wanted = unit_code.strip()
        rows = conn.execute(_BY_CODE, {"codes": sorted({wanted.upper(), wanted})}).all()
        found = list({r.id: r for r in rows}.values())
        unit = next((u for u in found if u.code == wanted.upper()), found[0] if found else None)
        if unit is None:
            return _refuse(actor, "unknown_unit")
        n = len(UNIT_COLS)
        phases = [_PhaseRow(*r[n:]) for r in rows if r.id == unit.id and r[n] is not None]
    else:
        unit_id = _default_unit(conn, actor)
        if unit_id is None:
            return _refuse(actor, "no_unit")
        unit = _unit(conn, unit_id=unit_id)
    if not _may_see(conn, actor, unit.id):
        return _refuse(actor, "out_of_scope")
    today = today_of(now)
    code = phase_code.strip() if phase_code else None
    phase = _phase_row(conn, today=today, code=code) if phases is None else \
        _pick_phase(phases, today, code)
    if phase is AMBIGUOUS:
        return _refuse(actor, "ambiguous_phase")
    if phase is None:
        return _refuse(actor, "unknown_phase" if phase_code else "no_phase")
    return unit, phase, today


# --------------------------------------------------------------------------- use cases

def _progress(conn: Connection, unit: Any, phase: Any, today: date, *,
              series: bool = False) -> Progress:
    info = _phase(phase, today)
    since = today - timedelta(days=PACE_DAYS - 1)
    # one statement: the figures, members, targets up the chain, the registered per day
    # and the number of children. The pace needs the last 14 days only: a short key range,
    # the same however many days the unit has initiatives on; the whole series for the chart
    read = reads.overview(conn, phase_id=phase.id, unit_id=unit.id,
                          since=None if series else since,
                          snapshot=phase.snapshot_at is not None)
    fig = one_unit_read(read, phase, unit)
    per_day = read.days
    cumulative: list[tuple[date, int]] = []
    if series:
        last = min(today, phase.ends_on)
        running = sum(n for d, n in per_day.items() if d < phase.starts_on)
        day = phase.starts_on
        while day <= last:
            running += per_day.get(day, 0)
            cumulative.append((day, running))
            day += timedelta(days=1)
    pace = sum(n for d, n in per_day.items() if since <= d <= today) / PACE_DAYS
    days_left = max(0, (phase.ends_on - max(today, phase.starts_on)).days + 1)
    if today > phase.ends_on:
        days_left = 0
    main = fig.targets[0] if fig.targets else None
    per_day_needed = (main.shortfall / days_left if main is not None and days_left
                      else None)
    return Progress(info, fig, today, days_left, per_day_needed, pace,
                    fig.registered + round(pace * days_left), tuple(cumulative),
                    phase.snapshot_at is not None, read.children)


def progress(*, conn: Connection, actor: Actor, now: datetime, unit_code: str | None = None,
             phase_code: str | None = None, series: bool = False) -> Progress | Refused:
    """A unit's progress in a phase (default: the actor's unit, the current phase). With
    `series`, `cumulative` too: registered so far on each day of the phase (the chart)."""
    got = _resolve(conn, actor, now, unit_code, phase_code)
    if isinstance(got, Refused):
        return got
    unit, phase, today = got
    return _progress(conn, unit, phase, today, series=series)


def children(*, conn: Connection, actor: Actor, now: datetime, unit_id: int, phase_id: int,
             page: int = 0, page_size: int = 8) -> Page | Refused:
    """The unit's direct children, lagging first (lowest %, those with no target last)."""
    head = conn.execute(_HEAD, {"unit_id": unit_id, "phase_id": phase_id}).first()
    if head is None:
        if _unit(conn, unit_id=unit_id) is None:
            return _refuse(actor, "unknown_unit")
        if not _may_see(conn, actor, unit_id):
            return _refuse(actor, "out_of_scope")
        return _refuse(actor, "no_phase")
    unit = head
    if not _may_see(conn, actor, unit.id):
        return _refuse(actor, "out_of_scope")
    phase = _PhaseRow(*(head[len(UNIT_COLS) + i] for i in range(len(_PHASE_AS))))
    size = max(1, page_size)
    total = int(head.n_children)
    if not total:       # a grassroots union: nothing below
        return Page((), 0, 1, 0)
    pages = max(1, -(-total // size))
    page = min(max(0, page), pages - 1)
    if total < SQL_FROM:
        # a few children: all of them and their figures in one statement, ordered here
        rows, full, total = family_page(conn, phase, parent_id=unit.id, ahead=False,
                                        offset=page * size, limit=size)
        return Page(tuple(full[r.unit_id] for _i, r in rows), page, pages, total)
    got = ordered(conn, phase, parent_id=unit.id, ahead=False, offset=page * size, limit=size,
                  total=total)
    shown = [r.unit_id for _i, r in got.rows]
    full = full_figures(conn, phase, shown, got.targets, got.passed)
    return Page(tuple(full[u] for u in shown), page, pages, got.total)


def _rank(conn: Connection, phase: Any, got: Ordered, own_id: int | None
          ) -> tuple[RankRow, ...]:
    full = full_figures(conn, phase, [r.unit_id for _i, r in got.rows], got.targets,
                        got.passed)
    return tuple(RankRow(i, full[r.unit_id],
                         round(r.registered * 100.0 / r.members, 2) if r.members else None,
                         r.unit_id == own_id) for i, r in got.rows)


def ranking(*, conn: Connection, actor: Actor, now: datetime, unit_code: str | None = None,
            phase_code: str | None = None, limit: int = 10) -> Ranking | Refused:
    """The direct children of a unit ranked by % of target; without a unit, the grassroots
    unions of the actor's emulation cluster (else the children of the actor's unit). One
    page is read (ordered in the database), and the actor's own unit wherever it stands."""
    got = _resolve(conn, actor, now, unit_code, phase_code)
    if isinstance(got, Refused):
        return got
    unit, phase, today = got
    info = _phase(phase, today)
    limit = max(0, limit)
    if unit_code is None and unit.cluster:
        page = ordered(conn, phase, cluster=unit.cluster, limit=limit, own_id=unit.id)
        return Ranking(info, unit.code, unit.cluster, "cluster",
                       _rank(conn, phase, page, unit.id), page.total)
    page = ordered(conn, phase, parent_id=unit.id, limit=limit)
    if page.total == 0 and unit.cluster:   # a grassroots union asked for: its cluster
        page = ordered(conn, phase, cluster=unit.cluster, limit=limit, own_id=unit.id)
        return Ranking(info, unit.code, unit.cluster, "cluster",
                       _rank(conn, phase, page, unit.id), page.total)
    return Ranking(info, unit.code, unit.name, "children", _rank(conn, phase, page, None),
                   page.total)


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
    units, targets, passed = quick(conn, phase, parent_id=unit.id)
    ids = [q.unit_id for q in sorted(units, key=lambda q: q.code)]
    full = full_figures(conn, phase, ids, targets, passed)
    kids = (full[i] for i in ids)
    return prog, kids, report_store.subtree_initiatives(
        conn, unit_id=unit.id, starts_on=phase.starts_on, ends_on=phase.ends_on)
