"""Targets and progress (bot/services/progress.py) on both backends: the figures the
programme's documents report, reproduced from initiatives and targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services import progress as svc
from bot.services.actor import Actor
from storage import imports
from storage import progress as store
from storage import targets as target_store
from storage.models import unit_t

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SHELL = Actor.shell()


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=VN_TZ)


def unit_id(conn: Connection, code: str) -> int:
    return conn.execute(select(unit_t.c.id).where(unit_t.c.code == code)).scalar_one()


def set_targets(conn: Connection, phase: str, starts: date, ends: date,
                targets: Sequence[tuple[str, str | None, str, str]]) -> int:
    """targets: (unit code, bloc, kind, value)."""
    phase_id, _changed = target_store.save_phase(conn, code=phase, starts_on=starts, ends_on=ends)
    by_unit: dict[str, list[target_store.TargetRow]] = {}
    for code, bloc, kind, value in targets:
        by_unit.setdefault(code, []).append(target_store.TargetRow(
            code, phase, starts, ends, bloc, kind, Decimal(value), None))
    for code, rows in by_unit.items():
        target_store.replace_targets(conn, phase_id=phase_id, unit_id=unit_id(conn, code),
                                     rows=rows)
    return phase_id


def add(conn: Connection, *, grassroots: str, status: str, day: date, n: int = 1,
        receiving: str | None = None, author: str = "Tác giả", benefit: int = 0) -> list[int]:
    """`n` initiatives imported as a file would bring them."""
    gid = unit_id(conn, grassroots)
    rid = unit_id(conn, receiving) if receiving else conn.execute(
        select(unit_t.c.parent_id).where(unit_t.c.id == gid)).scalar_one()
    who = imports.importer(conn, now=at(day))
    out = []
    for i in range(n):
        row = imports.ImportedInitiative(
            None, f"Sáng kiến {i}", "Mô tả", [f"{author} {i}"], gid, rid, None, benefit,
            status, at(day))
        out.append(imports.save(conn, row, entered_by=who, now=at(day))[0])
    return out


async def run(db: AsyncEngine, fn: Callable[[Connection], Any]) -> Any:
    async with db.begin() as conn:
        return await conn.run_sync(fn)


async def test_dien_bien_figures(db: AsyncEngine) -> None:
    """9,900 members, the national 10%: 136 valid + 260 under review = 396, 40% of 990,
    594 short — as LĐLĐ tỉnh Điện Biên reported on 12/5/2022."""
    start, end = date(2022, 1, 24), date(2022, 5, 31)

    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ1", start, end, [("VN", None, "member_ratio", "0.10")])
        add(conn, grassroots="DBN-TP-001", status="valid", day=date(2022, 3, 1), n=100)
        add(conn, grassroots="DBN-TP-004", status="valid", day=date(2022, 4, 1), n=36)
        add(conn, grassroots="DBN-TP-002", status="under_review", day=date(2022, 5, 2), n=260)
        add(conn, grassroots="DBN-TP-003", status="invalid", day=date(2022, 4, 2), n=7)
        add(conn, grassroots="DBN-TP-003", status="withdrawn", day=date(2022, 4, 3), n=2)

    await run(db, setup)
    now = at(date(2022, 5, 12))
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="DBN"))
    assert isinstance(p, svc.Progress), p
    u = p.unit
    assert (u.registered, u.valid, u.under_review, u.invalid, u.withdrawn) == (396, 136, 260,
                                                                               7, 2)
    t = u.targets[0]
    assert (t.kind, t.basis_members, t.goal, t.reached, t.shortfall) == (
        "member_ratio", 9900, 990, 396, 594)
    assert t.pct == 40.0 and u.pct == 40.0 and t.inherited_from == "VN"
    assert p.phase.code == "GĐ1" and not p.phase.ended and not p.from_snapshot
    assert p.days_left == 20                       # 12/5 to 31/5, both counted
    assert p.per_day_needed == 594 / 20
    assert p.pace_14d == 260 / 14                  # the 260 of 2/5 fall in the last 14 days
    assert p.cumulative[0] == (start, 0) and p.cumulative[-1] == (date(2022, 5, 12), 396)
    assert p.children_total == 1
    # the same after the upkeep job folds the deltas
    assert await run(db, store.fold) > 0
    q = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="DBN"))
    assert q == p
    # the province's child and the national root see the same initiatives
    page = await run(db, lambda c: svc.children(conn=c, actor=SHELL, now=now,
                                                unit_id=u.unit_id, phase_id=p.phase.id))
    assert isinstance(page, svc.Page) and page.total == 1
    assert page.rows[0].code == "DBN-TP" and page.rows[0].registered == 396
    assert page.rows[0].targets[0].basis_members == 3300 and page.rows[0].targets[0].goal == 330
    root = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="VN"))
    assert root.unit.registered == 396 and root.unit.targets[0].inherited_from is None
