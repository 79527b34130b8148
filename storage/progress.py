"""Progress rollups: an initiative's contribution to its units' figures, kept up to date.

An initiative counts for its grassroots union (the author's; where none is known, the
receiving union) — its *base* — and every union above, in the phase holding its submission
date, for the bloc of its base. A change to an initiative appends one delta row per union of
that chain (`progress_delta`): appends lock no shared row, so two submissions from two
provinces never wait for each other, and the national root has no hot row. The upkeep job
(`fold`) moves the deltas into `progress_total` (per unit, phase, bloc) and `progress_day`
(registered per submission day); readers add the deltas not folded yet to the totals.

Participants (members with at least one registered initiative) and the top authors come
from `progress_author`, one row per author and union: only the same author's changes touch
the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Date,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)

from storage import access, bulk, progress_cell
from storage.bulk import upsert_add
from storage.models import initiative_author_t, initiative_t, unit_t
from storage.models_progress import (
    phase_t,
    progress_author_t,
    progress_day_t,
    progress_delta_t,
    progress_snapshot_t,
    progress_total_t,
    unit_members_t,
)

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
REGISTERED = ("under_review", "needs_revision", "valid")
STATUSES = ("valid", "under_review", "needs_revision", "invalid", "withdrawn")
COUNTERS = ("registered", "valid", "under_review", "needs_revision", "invalid", "withdrawn",
            "participants", "benefit_vnd")


def local_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TIMEZONE).date()


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one initiative adds to the figures (None where it adds nothing)."""

    base_unit_id: int
    day: date
    status: str
    benefit_vnd: int
    authors: tuple[tuple[str, str], ...]   # (key, name as credited)


def author_key(*, person_id: int | None, name: str, base_unit_id: int) -> str:
    if person_id is not None:
        return f"p{person_id}"
    return f"n{base_unit_id}:{' '.join(name.casefold().split())}"[:160]


_INI = select(initiative_t.c.id, initiative_t.c.author_unit_id, initiative_t.c.unit_id,
              initiative_t.c.submitted_at, initiative_t.c.status, initiative_t.c.benefit_vnd
              ).where(initiative_t.c.id == bindparam("initiative_id"))
_INI_AUTHORS = (select(initiative_author_t.c.name, initiative_author_t.c.person_id)
                .where(initiative_author_t.c.initiative_id == bindparam("initiative_id"))
                .order_by(initiative_author_t.c.position))


def contribution(conn: Connection, *, initiative_id: int) -> Contribution | None:
    """The initiative's contribution as it stands in the database now."""
    row = conn.execute(_INI, {"initiative_id": initiative_id}).first()
    if row is None:
        return None
    return contribution_of(
        author_unit_id=row.author_unit_id, unit_id=row.unit_id, submitted_at=row.submitted_at,
        status=row.status, benefit_vnd=row.benefit_vnd,
        authors=conn.execute(_INI_AUTHORS, {"initiative_id": initiative_id}).all())


def contribution_of(*, author_unit_id: int | None, unit_id: int, submitted_at: datetime,
                    status: str, benefit_vnd: int | None,
                    authors: Iterable[tuple[str, int | None]]) -> Contribution:
    """The contribution of an initiative with these values (as stored), and its authors'
    (name, person id) in their order: what `contribution` reads, for a writer that has them
    in hand (a submission)."""
    base = author_unit_id or unit_id
    return Contribution(base, local_day(submitted_at), status, int(benefit_vnd or 0), tuple(
        (author_key(person_id=person, name=name, base_unit_id=base), name[:128])
        for name, person in authors if person is not None or name.strip()))


# --------------------------------------------------------------------------- phases

_PHASE_OF_DAY = (select(phase_t.c.id).where(phase_t.c.starts_on <= bindparam("day"),
                                            phase_t.c.ends_on >= bindparam("day"))
                 .order_by(phase_t.c.starts_on.desc()).limit(1))


def phase_of(conn: Connection, day: date) -> int | None:
    return conn.execute(_PHASE_OF_DAY, {"day": day}).scalar()


# What a change at a base union needs, in one round trip: the phase holding the day (on
# every row), the base's bloc, and the base and its ancestors, nearest first.
_BASE_CHAIN = (select(access.ANCESTORS.c.id,
                 select(unit_t.c.bloc).where(unit_t.c.id == bindparam("unit_id"))
                 .scalar_subquery().label("bloc"),
                 _PHASE_OF_DAY.scalar_subquery().label("phase_id"))
          .order_by(access.ANCESTORS.c.lvl))


def chain_of(conn: Connection, *, unit_id: int, day: date
             ) -> tuple[int | None, str, list[int]]:
    """(the phase holding `day` or None, the unit's bloc, the unit and its ancestors)."""
    rows = conn.execute(_BASE_CHAIN, {"unit_id": unit_id, "day": day}).all()
    if not rows:
        return None, "other", []
    return rows[0].phase_id, rows[0].bloc or "other", [r.id for r in rows]


# --------------------------------------------------------------------------- changes

def vector(c: Contribution, sign: int) -> dict[str, int]:
    v = {name: 0 for name in COUNTERS}
    v[c.status] = sign
    if c.status in REGISTERED:
        v["registered"] = sign
        v["benefit_vnd"] = sign * c.benefit_vnd
    return v


def apply_change(conn: Connection, before: Contribution | None,
                 after: Contribution | None, *,
                 kept_chains: Callable[[int, date], tuple[int | None, str, list[int]]] | None
                 = None,
                 ) -> None:
    """Record that an initiative's contribution went from `before` to `after` (either None:
    it did not count, or no longer does). `kept_chains(unit_id, day)`: `chain_of`, from what
    the caller keeps (storage.unit_cache)."""
    if before == after:
        return
    cells: dict[tuple[int, int, date], dict[str, int]] = {}     # (phase, base, day) -> vector
    # (phase, base, author key) -> [name, registered, valid]
    authors: dict[tuple[int, int, str], list[Any]] = {}
    # base -> (bloc, the base and its ancestors); (base, day) -> the phase holding the day
    chains: dict[int, tuple[str, list[int]]] = {}
    phases: dict[tuple[int, date], int | None] = {}
    for c, sign in ((before, -1), (after, 1)):
        if c is None:
            continue
        if (c.base_unit_id, c.day) not in phases:
            phase, bloc, ids = (kept_chains(c.base_unit_id, c.day) if kept_chains is not None
                                else chain_of(conn, unit_id=c.base_unit_id, day=c.day))
            phases[(c.base_unit_id, c.day)] = phase
            chains[c.base_unit_id] = (bloc, ids)
        phase_id = phases[(c.base_unit_id, c.day)]
        if phase_id is None:
            continue
        v = cells.setdefault((phase_id, c.base_unit_id, c.day), dict.fromkeys(COUNTERS, 0))
        for k, n in vector(c, sign).items():
            v[k] += n
        reg = sign if c.status in REGISTERED else 0
        val = sign if c.status == "valid" else 0
        for key, name in dict(c.authors).items():
            a = authors.setdefault((phase_id, c.base_unit_id, key), [name, 0, 0])
            a[0] = name
            a[1] += reg
            a[2] += val
    author_rows = {k: [{"phase_id": k[0], "unit_id": u, "author": k[2], "name": name,
                        "registered": reg, "valid": val} for u in chains[k[1]][1]]
                   for k, (name, reg, val) in sorted(authors.items()) if reg or val}
    if len(cells) == 1 and conn.dialect.name == "postgresql":
        # One cell (a submission, a decision): authors, participants and deltas in one
        # statement (storage/progress_cell.py).
        (phase_id, base, day), v = next(iter(cells.items()))
        if all(k[:2] == (phase_id, base) for k in author_rows):
            if author_rows or any(v.values()):
                progress_cell.write(conn, base=base, changed=any(v.values()),
                                    authors=[r for rows in author_rows.values() for r in rows],
                                    deltas=_delta_rows(phase_id, base, day, v, chains[base]))
            return
    # participants: an author's registered count at the base going 0 <-> positive
    for (phase_id, base, _key), rows in author_rows.items():
        reg = rows[0]["registered"]
        now_reg = dict(upsert_add(conn, progress_author_t, ("phase_id", "unit_id", "author"),
                                  rows, ("registered", "valid"), keep=("name",),
                                  returning=(progress_author_t.c.unit_id,
                                             progress_author_t.c.registered)))[base]
        moved = (now_reg > 0) - (now_reg - reg > 0)   # now, and before this change
        if moved:
            days = [k for k in cells if k[0] == phase_id and k[1] == base]
            cell = days[0] if days else (phase_id, base, None)
            cells.setdefault(cell, dict.fromkeys(COUNTERS, 0))["participants"] += moved
    out = [row for (phase_id, base, day), v in cells.items() if any(v.values())
           for row in _delta_rows(phase_id, base, day, v, chains[base])]
    if out and conn.dialect.name == "postgresql":
        bulk.insert_new(conn, progress_delta_t, out, cols=tuple(out[0]))
    elif out:
        conn.execute(insert(progress_delta_t), out)


def _delta_rows(phase_id: int, base: int, day: date | None, v: dict[str, int],
                chain: tuple[str, list[int]]) -> list[dict[str, Any]]:
    """A cell's delta rows: the base and every union above."""
    bloc, ids = chain
    return [{"phase_id": phase_id, "unit_id": unit_id, "bloc": bloc, "day": day,
             "day_registered": v["registered"] if day else 0, **v} for unit_id in ids]


def track(conn: Connection, *, initiative_id: int, before: Contribution | None) -> None:
    """After changing an initiative: record the difference from `before`."""
    apply_change(conn, before, contribution(conn, initiative_id=initiative_id))


# --------------------------------------------------------------------------- folding

_DELTA_COLS = [progress_delta_t.c[c] for c in
               ("phase_id", "unit_id", "bloc", "day", *COUNTERS, "day_registered")]


def parents_of(conn: Connection, unit_ids: Iterable[int]) -> dict[int, int | None]:
    ids = sorted(unit_ids)
    out: dict[int, int | None] = {}
    for i in range(0, len(ids), 5000):
        out.update(conn.execute(select(unit_t.c.id, unit_t.c.parent_id)
                                .where(unit_t.c.id.in_(ids[i:i + 5000]))).all())
    return out


def fold(conn: Connection, *, batch: int = 20_000) -> int:
    """Move the committed deltas into the totals; returns how many were folded. Each batch
    is taken with DELETE … RETURNING, so a delta committed meanwhile is never lost."""
    done = 0
    while True:
        ids = select(progress_delta_t.c.id).order_by(progress_delta_t.c.id).limit(batch)
        if conn.dialect.name == "postgresql":
            ids = ids.with_for_update(skip_locked=True)
        rows = conn.execute(delete(progress_delta_t)
                            .where(progress_delta_t.c.id.in_(ids.scalar_subquery()))
                            .returning(*_DELTA_COLS)).all()
        if not rows:
            return done
        done += len(rows)
        totals: dict[tuple[int, int, str], dict[str, int]] = {}
        days: dict[tuple[int, int, date], int] = defaultdict(int)
        for r in rows:
            t = totals.setdefault((r.phase_id, r.unit_id, r.bloc), dict.fromkeys(COUNTERS, 0))
            for c in COUNTERS:
                t[c] += getattr(r, c)
            if r.day is not None and r.day_registered:
                days[(r.phase_id, r.unit_id, r.day)] += r.day_registered
        parent = parents_of(conn, {u for _p, u, _b in totals})
        upsert_add(conn, progress_total_t, ("phase_id", "unit_id", "bloc"),
                   [{"phase_id": p, "unit_id": u, "bloc": b, "parent_id": parent.get(u), **t}
                    for (p, u, b), t in sorted(totals.items())], COUNTERS, keep=("parent_id",))
        upsert_add(conn, progress_day_t, ("phase_id", "unit_id", "day"),
                [{"phase_id": p, "unit_id": u, "day": d, "registered": n}
                 for (p, u, d), n in sorted(days.items()) if n], ("registered",))
        if len(rows) < batch:
            return done


# --------------------------------------------------------------------------- reading

Figures = dict[str, dict[str, int]]      # bloc -> counter -> value


def sum_cols(table: Any) -> list[Any]:
    return [func.coalesce(func.sum(table.c[c]), 0).label(c) for c in COUNTERS]


def _units_filter(col: Any, *, unit_ids: Iterable[int] | None, parent_id: int | None) -> Any:
    if parent_id is not None:
        return col.in_(select(unit_t.c.id).where(unit_t.c.parent_id == parent_id)
                       .scalar_subquery())
    return col.in_(list(unit_ids or ()))


def frozen_of(*, phase_id: int, unit_ids: Iterable[int] | None, parent_id: int | None) -> Any:
    """The snapshot rows of the units, or of the children of `parent_id`: one range of
    ix_progress_snapshot_parent (values written into the SQL, as in `_children_of`)."""
    t = progress_snapshot_t
    if parent_id is not None:
        return and_(t.c.phase_id == bindparam("s_phase", phase_id, literal_execute=True),
                    t.c.parent_id == bindparam("s_parent", parent_id, literal_execute=True))
    return and_(t.c.phase_id == phase_id, t.c.unit_id.in_(list(unit_ids or ())), by_key(t))


def by_key(table: Any) -> Any:
    """Always true, on a column outside the covering (phase, parent) index: else SQLite
    reads a unit list (phase = ? AND unit_id IN …) along the whole phase from that index."""
    return table.c.valid.is_not(None)


def _children_of(table: Any, parent_id: int, *cols: Any, phase_id: int | None = None) -> Any:
    """SELECT cols FROM unit JOIN table ON table.unit_id = unit.id WHERE unit.parent_id = …

    The ids are written into the SQL (`literal_execute`): PostgreSQL then plans for this
    parent — a handful of children or 10,000 — instead of reusing a generic plan of a
    prepared statement, which measured 5–20 times slower for the big sibling sets."""
    on = table.c.unit_id == unit_t.c.id
    if phase_id is not None:
        on = and_(on, table.c.phase_id == bindparam("c_phase", phase_id, literal_execute=True))
    return select(*(cols or (table.c.unit_id,))).select_from(unit_t.join(table, on)).where(
        unit_t.c.parent_id == bindparam("c_parent", parent_id, literal_execute=True))


def _counts_stmt(*, registered_only: bool, unit_ids: Iterable[int] | None,
                 parent_id: int | None, phase_id: int, dialect: str = "postgresql") -> Any:
    """One statement: the folded totals (one row per unit and bloc) and the deltas not
    folded yet (summed per unit and bloc). How children are found depends on the database:
    each is written so that its planner walks the parent index (see `_children_of`)."""
    names = ("registered",) if registered_only else COUNTERS
    t, d = progress_total_t, progress_delta_t
    folded = select(t.c.unit_id, t.c.bloc, *(t.c[c] for c in names))
    fresh = select(d.c.unit_id, d.c.bloc, *(func.sum(d.c[c]) for c in names))
    if parent_id is not None:
        # the children's totals: one range of ix_progress_total_parent (the fold and unit
        # moves keep progress_total.parent_id), not a probe per child nor a hash join
        folded = folded.where(
            t.c.phase_id == bindparam("t_phase", phase_id, literal_execute=True),
            t.c.parent_id == bindparam("t_parent", parent_id, literal_execute=True))
    if parent_id is not None and dialect == "postgresql":
        fresh = _children_of(d, parent_id, phase_id=phase_id).with_only_columns(
            d.c.unit_id, d.c.bloc, *(func.sum(d.c[c]) for c in names))
    elif parent_id is not None:
        # SQLite would walk the phase's deltas for the join; an IN list from the parent
        # index makes it probe the key (phase_id, unit_id) per child instead.
        fresh = fresh.where(d.c.phase_id == phase_id,
                            _units_filter(d.c.unit_id, unit_ids=None, parent_id=parent_id))
    else:
        ids = list(unit_ids or ())
        folded = folded.where(t.c.phase_id == phase_id, t.c.unit_id.in_(ids), by_key(t))
        fresh = fresh.where(d.c.phase_id == phase_id, d.c.unit_id.in_(ids))
    return folded.union_all(fresh.group_by(d.c.unit_id, d.c.bloc))


def figures(conn: Connection, *, phase_id: int, unit_ids: Iterable[int] | None = None,
            parent_id: int | None = None, snapshot: bool = False
            ) -> dict[int, Figures]:
    """Per unit (given, or the children of `parent_id`), per bloc, the figures: the totals
    plus the deltas not folded yet — or, with `snapshot`, the frozen figures."""
    out: dict[int, Figures] = defaultdict(dict)
    if unit_ids is not None:
        unit_ids = list(unit_ids)
    if snapshot:
        t = progress_snapshot_t
        q = select(t.c.unit_id, t.c.bloc, *(t.c[c] for c in COUNTERS)).where(
            frozen_of(phase_id=phase_id, unit_ids=unit_ids, parent_id=parent_id))
    else:
        q = _counts_stmt(registered_only=False, unit_ids=unit_ids, parent_id=parent_id,
                         phase_id=phase_id, dialect=conn.dialect.name)
    for r in conn.execute(q):
        cur = out[r[0]].get(r[1])
        if cur is None:
            out[r[0]][r[1]] = dict(zip(COUNTERS, map(int, r[2:]), strict=True))
        else:
            for c, n in zip(COUNTERS, r[2:], strict=True):
                cur[c] += int(n)
    return out


def registered(conn: Connection, *, phase_id: int, unit_ids: Iterable[int] | None = None,
               parent_id: int | None = None, snapshot: bool = False
               ) -> dict[int, dict[str, int]]:
    """Per unit and bloc, the registered initiatives only (rankings, lagging order)."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    if unit_ids is not None:
        unit_ids = list(unit_ids)
    if snapshot:
        t = progress_snapshot_t
        q = select(t.c.unit_id, t.c.bloc, t.c.registered).where(
            frozen_of(phase_id=phase_id, unit_ids=unit_ids, parent_id=parent_id))
    else:
        q = _counts_stmt(registered_only=True, unit_ids=unit_ids, parent_id=parent_id,
                         phase_id=phase_id, dialect=conn.dialect.name)
    for unit_id, bloc, n in conn.execute(q):
        per = out[unit_id]
        per[bloc] = per.get(bloc, 0) + int(n)
    return out


def members(conn: Connection, *, unit_ids: Iterable[int] | None = None,
            parent_id: int | None = None, phase_id: int | None = None
            ) -> dict[int, dict[str, int]]:
    """Members of the grassroots unions of each bloc below each unit (with `phase_id`: as
    frozen in that phase's snapshot)."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    t = progress_snapshot_t if phase_id is not None else unit_members_t
    if phase_id is not None:
        q = select(t.c.unit_id, t.c.bloc, t.c.members).where(
            frozen_of(phase_id=phase_id, unit_ids=unit_ids, parent_id=parent_id))
    elif parent_id is not None:
        q = _children_of(t, parent_id, t.c.unit_id, t.c.bloc, t.c.members)
    else:
        q = select(t.c.unit_id, t.c.bloc, t.c.members).where(t.c.unit_id.in_(list(unit_ids or ())))
    for unit_id, bloc, n in conn.execute(q):
        if n:
            out[unit_id][bloc] = int(n)
    return out


def snapshot_unit_members(conn: Connection, *, phase_id: int, unit_ids: Iterable[int] | None = None,
                          parent_id: int | None = None) -> dict[int, int]:
    t = progress_snapshot_t
    q = select(t.c.unit_id, func.max(t.c.unit_members)).where(
        frozen_of(phase_id=phase_id, unit_ids=unit_ids, parent_id=parent_id)
    ).group_by(t.c.unit_id)
    return {u: int(n) for u, n in conn.execute(q)}


def days(conn: Connection, *, phase_id: int, unit_id: int, since: date | None = None
         ) -> dict[date, int]:
    """Registered initiatives per submission day (folded and not); with `since`, from that
    day on only — one short key range, however many days the unit has initiatives on."""
    out: dict[date, int] = defaultdict(int)
    for day, n in conn.execute(_DAYS, {"phase_id": phase_id, "unit_id": unit_id,
                                       "since": since or date.min}):
        # SQLite gives 'YYYY-MM-DD' (parsed here: SQLAlchemy's Date parsing was most of the
        # cost of a long phase's 450 rows), PostgreSQL a date
        out[day if isinstance(day, date) else date.fromisoformat(day)] += int(n or 0)
    return {day: n for day, n in out.items() if n}


def _days_stmt() -> Any:
    t, d = progress_day_t, progress_delta_t
    return select(type_coerce(t.c.day, String), t.c.registered).where(
        t.c.phase_id == bindparam("phase_id"), t.c.unit_id == bindparam("unit_id"),
        t.c.day >= bindparam("since", type_=Date)).union_all(
        select(type_coerce(d.c.day, String), func.sum(d.c.day_registered))
        .where(d.c.phase_id == bindparam("phase_id"), d.c.unit_id == bindparam("unit_id"),
               d.c.day >= bindparam("since", type_=Date))
        .group_by(d.c.day))


_DAYS = _days_stmt()


def top_authors(conn: Connection, *, phase_id: int, unit_id: int, limit: int
                ) -> list[tuple[str, int, int]]:
    t = progress_author_t
    q = (select(t.c.name, t.c.valid, t.c.registered)
         .where(t.c.phase_id == phase_id, t.c.unit_id == unit_id, t.c.registered > 0)
         .order_by(t.c.valid.desc(), t.c.registered.desc(), t.c.name).limit(limit))
    return [(n, int(v), int(r)) for n, v, r in conn.execute(q)]


# --------------------------------------------------------------------------- snapshots

def snapshot(conn: Connection, *, phase_id: int, now: datetime) -> int:
    """Freeze every unit's figures and member counts for the phase (after folding)."""
    fold(conn)
    conn.execute(delete(progress_snapshot_t).where(progress_snapshot_t.c.phase_id == phase_id))
    units = conn.execute(select(unit_t.c.id, unit_t.c.member_count, unit_t.c.parent_id)).all()
    own = {u.id: u.member_count for u in units}
    parent = {u.id: u.parent_id for u in units}
    keys: dict[tuple[int, str], dict[str, int]] = {}
    for r in conn.execute(select(progress_total_t).where(
            progress_total_t.c.phase_id == phase_id)).mappings():
        keys[(r["unit_id"], r["bloc"])] = {c: int(r[c]) for c in COUNTERS}
    mem = {(u, b): int(n) for u, b, n in conn.execute(
        select(unit_members_t.c.unit_id, unit_members_t.c.bloc, unit_members_t.c.members))}
    rows = []
    for key in set(keys) | set(mem):
        u, b = key
        rows.append({"phase_id": phase_id, "unit_id": u, "bloc": b, "parent_id": parent.get(u),
                     **keys.get(key, dict.fromkeys(COUNTERS, 0)),
                     "members": mem.get(key, 0), "unit_members": own.get(u, 0)})
    # a unit with neither figures nor grassroots members below keeps its own count
    have = {u for u, _b in keys} | {u for u, _b in mem}
    rows += [{"phase_id": phase_id, "unit_id": u, "bloc": "other", "parent_id": parent[u],
              **dict.fromkeys(COUNTERS, 0), "members": 0, "unit_members": n}
             for u, n in own.items() if u not in have]
    # in the order read (a parent's children together): neighbouring pages, not one a child
    rows.sort(key=lambda r: (r["parent_id"] or 0, r["unit_id"], r["bloc"]))
    for i in range(0, len(rows), 5000):
        conn.execute(insert(progress_snapshot_t), rows[i:i + 5000])
    conn.execute(update(phase_t).where(phase_t.c.id == phase_id).values(snapshot_at=now))
    return len(rows)
