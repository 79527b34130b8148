"""Units ordered in the database (storage/progress_rank.py) come in exactly the order the
figures computed one by one in Python give, on both backends: random targets (inherited
ratios, bloc targets skipped where the bloc has nobody, counts, a unit's own targets), units
with no members, unfolded deltas, a snapshot phase (read by parent: a union moved and one
created after the freeze), a cluster across districts; every page, both orders, and the own
unit's position — ordered in the database and (a few siblings) in Python."""

from __future__ import annotations

import random
from datetime import date
from itertools import product
from typing import Any

from sqlalchemy import Connection, event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.progress_figures import ordered, quick
from storage import progress as store
from storage import progress_units
from storage.models import unit_t
from storage.models_progress import phase_t, progress_snapshot_t
from storage.progress_rank import ahead_key, lagging_key, tenths
from tests.test_progress import add, at, run, set_targets

GD1 = (date(2022, 1, 1), date(2022, 5, 31))
GD2 = (date(2022, 6, 1), date(2022, 12, 31))
STATUSES = ("valid", "under_review", "needs_revision", "invalid", "withdrawn")


def _targets(rng: random.Random, codes: dict[str, str]) -> list[tuple[str, str | None, str, str]]:
    out: list[tuple[str, str | None, str, str]] = [
        ("VN", None, "member_ratio", rng.choice(("0.10", "0.05", "0.125")))]
    for code, kind in codes.items():
        r = rng.random()
        if kind == "province" and r < 0.5:
            out.append((code, None, "count", str(rng.randint(0, 40))))
        elif kind in ("district", "sector", "industrial_zone") and r < 0.5:
            out.append((code, "enterprise", "per_member", "0.0667"))
            out.append((code, "public_service", "per_member", rng.choice(("0.02", "1"))))
        elif kind == "grassroots" and r < 0.15:
            out.append((code, None, "count", str(rng.randint(0, 12))))
        elif kind == "grassroots" and r < 0.25:
            out.append((code, None, "member_ratio", "0.04"))
    return out


def _setup(conn: Connection, seed: int) -> None:
    rng = random.Random(seed)
    codes = dict(conn.execute(select(unit_t.c.code, unit_t.c.kind)).all())
    grassroots = sorted(c for c, k in codes.items() if k == "grassroots")
    for code in rng.sample(grassroots, 3):          # no member count of their own
        conn.execute(update(unit_t).where(unit_t.c.code == code).values(member_count=0))
    cross = rng.sample(grassroots, 6)                # one cluster across districts
    conn.execute(update(unit_t).where(unit_t.c.code.in_(cross)).values(cluster="Cụm chung"))
    progress_units.rebuild_members(conn)
    for phase, (start, end) in (("GĐ1", GD1), ("GĐ2", GD2)):
        set_targets(conn, phase, start, end, _targets(rng, codes))
    for step in range(2):
        for code in grassroots:
            for _ in range(rng.choice((0, 0, 1, 2, 3))):
                start, end = rng.choice((GD1, GD2))
                day = date.fromordinal(rng.randint(start.toordinal(), end.toordinal()))
                add(conn, grassroots=code, status=rng.choice(STATUSES), day=day,
                    n=rng.randint(1, 4))
        if step == 0:
            store.fold(conn)                         # the second round stays unfolded
    gd1 = conn.execute(select(phase_t.c.id).where(phase_t.c.code == "GĐ1")).scalar_one()
    store.snapshot(conn, phase_id=gd1, now=at(date(2022, 6, 2)))
    _after_the_snapshot(conn, rng)


def _after_the_snapshot(conn: Connection, rng: random.Random) -> None:
    """The ended phase is read from its snapshot by (phase, parent): a district moved to
    another province after the freeze is listed under its new parent with its frozen
    figures, and a union created after it (no frozen row) is listed with none."""
    units = conn.execute(select(unit_t.c.id, unit_t.c.code, unit_t.c.kind,
                                unit_t.c.parent_id)).all()
    provinces = [u for u in units if u.kind == "province"]
    district = rng.choice([u for u in units if u.kind == "district"])
    before = progress_units.parents(conn)
    new_parent = rng.choice([p for p in provinces if p.id != district.parent_id])
    conn.execute(update(unit_t).where(unit_t.c.id == district.id)
                 .values(parent_id=new_parent.id))
    conn.execute(insert(unit_t).values(
        code=f"{district.code}-NEW", name="Công đoàn cơ sở mới", kind="grassroots",
        parent_id=district.id, bloc="enterprise", member_count=rng.choice((0, 40)), depth=3))
    assert progress_units.move_units(conn, before) == 1
    progress_units.rebuild_members(conn)
    t = progress_snapshot_t
    assert conn.execute(select(t.c.parent_id).distinct().where(t.c.unit_id == district.id)
                        ).scalars().all() == [new_parent.id]


def _check(conn: Connection) -> int:
    checked = 0
    phases = conn.execute(select(phase_t.c.id, phase_t.c.snapshot_at)).all()
    assert any(p.snapshot_at for p in phases) and not all(p.snapshot_at for p in phases)
    units = conn.execute(select(unit_t.c.id, unit_t.c.parent_id, unit_t.c.cluster)).all()
    parents = sorted({u.parent_id for u in units if u.parent_id is not None})
    clusters = sorted({u.cluster for u in units if u.cluster})
    for phase in phases:
        scopes: list[tuple[dict[str, Any], list[int]]] = [
            ({"parent_id": p}, [u.id for u in units if u.parent_id == p]) for p in parents]
        scopes += [({"cluster": c}, [u.id for u in units if u.cluster == c]) for c in clusters]
        for scope, ids in scopes:
            ref = quick(conn, phase, unit_ids=ids)[0]
            assert len(ref) == len(ids)
            for (ahead, key), sql_from in product(((True, ahead_key), (False, lagging_key)),
                                                  (0, 10_000)):
                want = sorted(ref, key=key)
                got = []
                for offset in range(0, len(ids), 3):
                    page = ordered(conn, phase, ahead=ahead, offset=offset, limit=3,
                                   sql_from=sql_from, **scope)
                    assert page.total == len(ids)
                    got += [(i, r) for i, r in page.rows]
                assert got == list(enumerate(want, 1)), (scope, ahead, sql_from)
                checked += 1
            if "cluster" in scope:
                want = sorted(ref, key=ahead_key)
                for own, sql_from in product(ids, (0, 10_000)):
                    page = ordered(conn, phase, limit=2, own_id=own, sql_from=sql_from,
                                   **scope)
                    pos = next(i for i, r in enumerate(want, 1) if r.unit_id == own)
                    assert (pos, want[pos - 1]) in page.rows
                    assert len(page.rows) == (min(2, len(ids)) if pos <= 2 else 3)
    return checked


def _snapshot_plan(conn: Connection) -> str:
    """The plan of an ended phase's children ordered in the database (a parent's range)."""
    phase = conn.execute(select(phase_t.c.id, phase_t.c.snapshot_at)
                         .where(phase_t.c.snapshot_at.is_not(None))).first()
    parent = conn.execute(select(unit_t.c.parent_id).where(unit_t.c.parent_id.is_not(None))
                          .group_by(unit_t.c.parent_id)
                          .order_by(func.count().desc()).limit(1)).scalar_one()
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(conn, "before_cursor_execute", grab)
    try:
        ordered(conn, phase, parent_id=parent, limit=3, sql_from=0)
    finally:
        event.remove(conn, "before_cursor_execute", grab)
    statement, params = next((st, p) for st, p in seen
                             if "progress_snapshot" in st and "sib" in st)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")   # tiny tables: walk the index
        plan = conn.exec_driver_sql("EXPLAIN " + statement, params).scalars().all()
        conn.exec_driver_sql("SET LOCAL enable_seqscan = on")
    else:
        plan = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    return "\n".join(plan)


def test_tenths_round_half_up() -> None:
    assert [tenths(r, 1000) for r in (0, 1, 5, 1000)] == [0, 1, 5, 1000]
    assert tenths(1, 2000) == 1 and tenths(1, 2001) == 0       # 0.05% up, 0.04997% down
    assert tenths(40, 58) == 690 and tenths(3, 0) is None


async def test_the_database_orders_as_python_does(db: AsyncEngine) -> None:
    for seed in (1, 2):
        await run(db, lambda c, s=seed: _setup(c, s))
        assert await run(db, _check) > 20
    # the ended phase's children: one range of its snapshot by parent, not the whole phase
    assert "ix_progress_snapshot_parent" in await run(db, _snapshot_plan)
