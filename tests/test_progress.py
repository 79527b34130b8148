"""Targets and progress (bot/services/progress.py) on both backends: the figures the
programme's documents report, reproduced from initiatives and targets."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import demo_progress, directory, initiative_files, progress_files
from bot.demo import DATA_DIR
from bot.directory import DirectoryError
from bot.progress_jobs import progress_upkeep
from bot.services import progress as svc
from bot.services.actor import Actor
from storage import access, imports, progress_recount
from storage import progress as store
from storage import targets as target_store
from storage.models import initiative_t, person_t, unit_t
from storage.models_progress import phase_t, target_t

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
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="DBN",
                                             series=True))
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
    q = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="DBN",
                                             series=True))
    assert q == p
    # /tiendo's text needs no series: the pace from the last 14 days alone, the same figures
    text_only = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now,
                                                     unit_code="DBN"))
    assert text_only == dataclasses.replace(p, cumulative=())
    # the province's child and the national root see the same initiatives
    page = await run(db, lambda c: svc.children(conn=c, actor=SHELL, now=now,
                                                unit_id=u.unit_id, phase_id=p.phase.id))
    assert isinstance(page, svc.Page) and page.total == 1
    assert page.rows[0].code == "DBN-TP" and page.rows[0].registered == 396
    assert page.rows[0].targets[0].basis_members == 3300 and page.rows[0].targets[0].goal == 330
    root = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="VN"))
    assert root.unit.registered == 396 and root.unit.targets[0].inherited_from is None


async def test_tiendo_reads_in_four_statements(db: AsyncEngine) -> None:
    """/tiendo's data — the unit's figures, then its first page of children — in two
    statements each, whatever the unit: every statement is a round trip (PostgreSQL) or
    thread switches (aiosqlite), which were most of a read's time at national scale."""
    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ1", *GD1, [("VN", None, "member_ratio", "0.10")])
        add(conn, grassroots="DBN-TP-001", status="valid", day=date(2022, 3, 1), n=3)
        add(conn, grassroots="DBN-TP-002", status="under_review", day=date(2022, 5, 2), n=2)

    await run(db, setup)
    now = at(date(2022, 5, 12))

    def reads(conn: Connection) -> tuple[Any, Any, list[int]]:
        seen: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            seen.append(statement)

        event.listen(conn, "before_cursor_execute", count)
        try:
            counts = []
            for code in ("VN", "DBN", "DBN-TP", "DBN-TP-001"):
                p = svc.progress(conn=conn, actor=SHELL, now=now, unit_code=code)
                counts.append(len(seen))
                page = svc.children(conn=conn, actor=SHELL, now=now, unit_id=p.unit.unit_id,
                                    phase_id=p.phase.id)
                counts.append(len(seen))
        finally:
            event.remove(conn, "before_cursor_execute", count)
        return p, page, counts

    grassroots, page, counts = await run(db, reads)
    assert grassroots.unit.registered == 3 and page.total == 0
    # two for the figures; two for the page (one where there are no children)
    assert counts == [2, 4, 6, 8, 10, 12, 14, 15]
    tp = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now,
                                              unit_code="DBN-TP"))
    kids = await run(db, lambda c: svc.children(conn=c, actor=SHELL, now=now,
                                                unit_id=tp.unit.unit_id, phase_id=tp.phase.id))
    assert tp.unit.registered == 5 and tp.children_total == kids.total
    assert sorted(r.registered for r in kids.rows if r.registered) == [2, 3]


def person(conn: Connection, *, name: str, unit: str | None, role: str | None = None,
           role_unit: str | None = None) -> Actor:
    """A person (onboarded in `unit`), with a role on `role_unit` if given."""
    now = at(date(2022, 1, 1))
    pid = conn.execute(insert(person_t).values(
        name=name, unit_id=unit_id(conn, unit) if unit else None, onboarded=True,
        created_at=now).returning(person_t.c.id)).scalar_one()
    if role:
        access.grant_role(conn, person_id=pid, role=role, unit_id=unit_id(conn, role_unit or ""),
                          granted_by=None, code=None, now=now)
    return Actor(person_id=pid, channel="telegram")


GD1 = (date(2022, 1, 8), date(2022, 5, 31))


async def test_vinh_thuan_shows_both_its_targets(db: AsyncEngine) -> None:
    """5% of members and at least 50: each shown; its ratio, not the national one, passes
    down to its grassroots unions; its count target does not."""
    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ1", *GD1, [("VN", None, "member_ratio", "0.10"),
                                        ("KGG-VT", None, "member_ratio", "0.05"),
                                        ("KGG-VT", None, "count", "50")])
        add(conn, grassroots="KGG-VT-003", status="valid", day=date(2022, 4, 1), n=30)
        add(conn, grassroots="KGG-VT-004", status="needs_revision", day=date(2022, 4, 1), n=10)

    await run(db, setup)
    now = at(date(2022, 5, 1))
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="KGG-VT"))
    ratio, count = p.unit.targets
    assert (ratio.kind, ratio.basis_members, ratio.goal, ratio.reached, ratio.inherited_from) \
        == ("member_ratio", 1150, 58, 40, None)      # 5% of 1,150 = 57.5
    assert (count.kind, count.basis_members, count.goal, count.shortfall, count.pct) == (
        "count", None, 50, 10, 80.0)
    assert p.unit.pct == ratio.pct == round(40 * 100 / 58, 1)
    page = await run(db, lambda c: svc.children(conn=c, actor=SHELL, now=now,
                                                unit_id=p.unit.unit_id, phase_id=p.phase.id))
    by_code = {r.code: r for r in page.rows}
    t = by_code["KGG-VT-003"].targets
    assert len(t) == 1 and t[0].inherited_from == "KGG-VT" and t[0].basis_members == 165
    assert t[0].goal == 8 and t[0].reached == 30          # 5% of 165 = 8.25
    # lagging first: the unions with nothing registered come before those ahead
    assert [r.code for r in page.rows][-2:] == ["KGG-VT-004", "KGG-VT-003"]
    # the province sets nothing: the national 10% of its own 118,000 members
    k = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="KGG"))
    assert [(t.goal, t.inherited_from) for t in k.unit.targets] == [(11800, "VN")]


async def test_thanh_hoa_per_bloc_per_member_targets(db: AsyncEngine) -> None:
    """Phase 2: public bloc 1 per member, enterprise bloc 1 per 15 members, each taken of
    the members of that bloc's grassroots unions below, and counted on that bloc only."""
    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ2", date(2022, 6, 1), date(2023, 8, 31), [
            ("THA", "public_service", "per_member", "1"),
            ("THA", "enterprise", "per_member", "0.0667")])
        add(conn, grassroots="THA-TP-001", status="valid", day=date(2022, 7, 1), n=100)
        add(conn, grassroots="THA-YT-001", status="under_review", day=date(2022, 8, 1), n=50)
        add(conn, grassroots="THA-YT-004", status="invalid", day=date(2022, 8, 1), n=5)

    await run(db, setup)
    now = at(date(2022, 9, 1))
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="THA"))
    public, enterprise = p.unit.targets
    assert (public.bloc, public.basis_members, public.goal, public.reached) == (
        "public_service", 1730, 1730, 50)
    assert (enterprise.bloc, enterprise.basis_members, enterprise.goal, enterprise.reached) == (
        "enterprise", 3440, 229, 100)              # 0.0667 × 3,440 = 229.4
    assert p.unit.registered == 150 and p.unit.invalid == 5
    # a district below sets none: both inherited, on its own blocs' members
    tp = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="THA-TP"))
    assert [(t.bloc, t.basis_members, t.goal, t.inherited_from) for t in tp.unit.targets] == [
        ("public_service", 90, 90, "THA"), ("enterprise", 3210, 214, "THA")]
    # a public-service grassroots union gets only its bloc's target
    g = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now,
                                             unit_code="THA-TP-003"))
    assert [(t.bloc, t.goal) for t in g.unit.targets] == [("public_service", 52)]


async def test_phase_boundaries_and_no_target(db: AsyncEngine) -> None:
    """An initiative counts in the phase holding its submission date in Vietnam's time:
    the first and the last day are in, the days around are not."""
    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ1", date(2022, 1, 24), date(2022, 5, 31),
                    [("DBN", None, "count", "1000")])
        who = imports.importer(conn, now=at(date(2022, 1, 1)))
        g, r = unit_id(conn, "DBN-TP-001"), unit_id(conn, "DBN-TP")
        for moment in (datetime(2022, 1, 23, 23, 59, tzinfo=VN_TZ),   # the day before
                       datetime(2022, 1, 24, 0, 0, tzinfo=VN_TZ),     # first day
                       datetime(2022, 5, 31, 23, 59, tzinfo=VN_TZ),   # last day
                       datetime(2022, 5, 31, 17, 0, tzinfo=ZoneInfo("UTC")),  # 1/6 in VN
                       ):
            imports.save(conn, imports.ImportedInitiative(
                None, "T", "D", ["A"], g, r, None, None, "under_review", moment),
                entered_by=who, now=moment)

    await run(db, setup)
    now = at(date(2022, 6, 3))
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="DBN",
                                             series=True))
    assert p.unit.registered == 2 and p.phase.ended and p.days_left == 0
    assert p.cumulative[0] == (date(2022, 1, 24), 1) and p.cumulative[-1][1] == 2
    assert p.per_day_needed is None
    # a unit with no target of its own and none above it to inherit
    k = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="KGG"))
    assert k.unit.targets == () and k.unit.pct is None and k.unit.registered == 0
    # no phase by that name
    none = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="DBN",
                                                phase_code="GĐ9"))
    assert none == svc.Refused("unknown_phase")


async def test_scope_and_ranking(db: AsyncEngine) -> None:
    """A district's chair sees its unit and below, not another district; a member sees
    their own grassroots union; the cluster ranking marks the member's own union."""
    def setup(conn: Connection) -> tuple[Actor, Actor]:
        set_targets(conn, "GĐ1", *GD1, [("VN", None, "member_ratio", "0.10")])
        add(conn, grassroots="BPC-PR-001", status="valid", day=date(2022, 3, 1), n=20,
            author="Lê")
        add(conn, grassroots="BPC-PR-002", status="valid", day=date(2022, 3, 1), n=30)
        chair = person(conn, name="Chủ tịch", unit=None, role="chair", role_unit="BPC-PR")
        member = person(conn, name="Đoàn viên", unit="BPC-PR-002")
        return chair, member

    chair, member = await run(db, setup)
    now = at(date(2022, 4, 1))
    mine = await run(db, lambda c: svc.progress(conn=c, actor=chair, now=now))
    assert mine.unit.code == "BPC-PR" and mine.unit.registered == 50
    below = await run(db, lambda c: svc.progress(conn=c, actor=chair, now=now,
                                                 unit_code="BPC-PR-003"))
    assert isinstance(below, svc.Progress)
    other = await run(db, lambda c: svc.progress(conn=c, actor=chair, now=now,
                                                 unit_code="KGG-VT"))
    assert other == svc.Refused("out_of_scope")
    unknown = await run(db, lambda c: svc.progress(conn=c, actor=chair, now=now,
                                                   unit_code="NOPE"))
    assert unknown == svc.Refused("unknown_unit")
    own = await run(db, lambda c: svc.progress(conn=c, actor=member, now=now))
    assert own.unit.code == "BPC-PR-002"
    assert await run(db, lambda c: svc.progress(conn=c, actor=member, now=now,
                                                unit_code="BPC-PR")) == svc.Refused(
        "out_of_scope")
    kgg = await run(db, lambda c: unit_id(c, "KGG"))
    assert await run(db, lambda c: svc.children(conn=c, actor=chair, now=now, unit_id=kgg,
                                                phase_id=mine.phase.id)) == svc.Refused(
        "out_of_scope")
    r = await run(db, lambda c: svc.ranking(conn=c, actor=member, now=now))
    assert r.by == "cluster" and r.total == 2
    assert [(x.rank, x.unit.code, x.own) for x in r.rows] == [
        (1, "BPC-PR-002", True), (2, "BPC-PR-001", False)]       # 30/64 ahead of 20/285
    assert r.rows[0].per_100_members == round(30 * 100 / 640, 2)
    r2 = await run(db, lambda c: svc.ranking(conn=c, actor=chair, now=now, unit_code="BPC-PR",
                                             limit=1))
    assert r2.by == "children" and r2.total == 5 and len(r2.rows) == 1
    top = await run(db, lambda c: svc.top_authors(conn=c, actor=chair, now=now,
                                                  unit_id=mine.unit.unit_id,
                                                  phase_id=mine.phase.id, limit=3))
    assert [a.rank for a in top] == [1, 2, 3] and all(a.valid == 1 for a in top)
    assert mine.unit.participants == 50


async def test_snapshot_freezes_an_ended_phase(db: AsyncEngine) -> None:
    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ1", *GD1, [("VN", None, "member_ratio", "0.10")])
        add(conn, grassroots="DBN-TP-001", status="valid", day=date(2022, 3, 1), n=3)

    await run(db, setup)
    after = at(date(2022, 6, 2))
    folded, frozen = await progress_upkeep(db, now=after)
    assert folded > 0 and frozen == 1
    assert await progress_upkeep(db, now=after) == (0, 0)        # once
    await run(db, lambda c: add(c, grassroots="DBN-TP-001", status="valid",
                                day=date(2022, 3, 2), n=2))      # imported later
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=after, unit_code="DBN"))
    assert p.from_snapshot and p.unit.registered == 3 and p.unit.targets[0].basis_members == 9900
    totals, _days = await run(db, progress_recount.stored_totals)
    assert sum(v["registered"] for (ph, u, b), v in totals.items()
               if u == p.unit.unit_id) == 5                      # the rollups moved on


async def test_a_moved_district_takes_its_counts_along(db: AsyncEngine) -> None:
    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ1", *GD1, [("VN", None, "member_ratio", "0.10")])
        add(conn, grassroots="KGG-VT-001", status="valid", day=date(2022, 3, 1), n=4)
        add(conn, receiving="KGG-VT", grassroots="KGG-VT-002", status="under_review",
            day=date(2022, 3, 1), n=2)

    await run(db, setup)
    rows = await directory.export_units(db)
    moved = [dataclasses.replace(r, parent_code="BPC") if r.code == "KGG-VT" else r for r in rows]
    buf = io.StringIO()
    directory.write_csv(moved, buf)
    await directory.import_units(db, buf.getvalue().encode())
    now = at(date(2022, 4, 1))
    got = {}
    for code in ("KGG", "BPC", "VN", "KGG-VT"):
        p = await run(db, lambda c, code=code: svc.progress(conn=c, actor=SHELL, now=now,
                                                            unit_code=code, series=True))
        got[code] = (p.unit.registered, p.unit.participants, p.cumulative[-1][1])
    assert got == {"KGG": (0, 0, 0), "BPC": (6, 6, 6), "VN": (6, 6, 6), "KGG-VT": (6, 6, 6)}
    assert (await run(db, progress_recount.recount)) == (
        await run(db, progress_recount.stored_totals))
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now, unit_code="BPC"))
    assert p.unit.members == 125000


async def test_import_failures_are_listed_by_line_and_nothing_changes(db: AsyncEngine) -> None:
    bad_targets = (
        "unit_code,phase,starts_on,ends_on,bloc,kind,value,note\n"
        "VN,GĐ1,2022-01-08,2022-05-31,,member_ratio,0.10,ok\n"
        "NOPE,GĐ1,2022-01-08,2022-05-31,,count,10,\n"
        "VN,GĐ1,31/02/2022,2022-05-31,,count,10,\n"
        "VN,GĐ1,2022-01-08,2022-05-31,khối lạ,tỷ lệ,150%,\n"
        "DBN,GĐ1,2022-01-08,2022-05-31,,count,10.5,\n"
        "VN,GĐ1,2022-01-08,2022-05-31,,member_ratio,10%,again\n"
    ).encode()
    with pytest.raises(DirectoryError) as exc:
        await progress_files.import_targets(db, bad_targets)
    lines = [p.line for p in exc.value.problems]
    assert lines == [3, 4, 5, 5, 6, 7], exc.value.problems
    assert "NOPE" in str(exc.value) and "once" not in str(exc.value)
    assert await run(db, lambda c: c.execute(select(func.count()).select_from(target_t))
                     .scalar_one()) == 0
    assert await run(db, lambda c: c.execute(select(func.count()).select_from(phase_t))
                     .scalar_one()) == 0
    overlap = ("unit_code,phase,starts_on,ends_on,kind,value\n"
               "VN,A,2022-01-01,2022-03-31,count,1\nVN,B,2022-03-31,2022-06-30,count,1\n")
    with pytest.raises(DirectoryError, match="overlaps"):
        await progress_files.import_targets(db, overlap.encode())
    bad_initiatives = (
        "mã,tên sáng kiến,tác giả,mã cđcs,trạng thái,ngày đăng ký,giá trị làm lợi\n"
        "SK-1,Máy hàn,Nguyễn Văn A,DBN-TP-001,Hợp lệ,12/03/2022,1.200.000\n"
        "SK-2,,Trần B,DBN-TP-404,??,2022-02-30,nhiều\n"
        "SK-1,Lặp,C,DBN-TP,đang xem xét,2022-03-01,\n"
    ).encode()
    with pytest.raises(DirectoryError) as exc:
        await initiative_files.import_initiatives(db, bad_initiatives, now=at(date(2022, 4, 1)))
    assert [p.line for p in exc.value.problems] == [3, 3, 3, 3, 4], exc.value.problems
    assert await run(db, lambda c: c.execute(select(func.count()).select_from(initiative_t))
                     .scalar_one()) == 0
    # fixed, imported, imported again: updated in place, not duplicated
    good = ("mã,tên sáng kiến,tác giả,mã cđcs,trạng thái,ngày đăng ký\n"
            "SK-1,Máy hàn,A,DBN-TP-001,valid,12/03/2022\n").encode()
    await run(db, lambda c: set_targets(c, "GĐ1", *GD1,
                                        [("VN", None, "member_ratio", "0.1")]))
    first = await initiative_files.import_initiatives(db, good, now=at(date(2022, 4, 1)))
    again = await initiative_files.import_initiatives(db, good.replace(b"valid", b"invalid"),
                                                    now=at(date(2022, 4, 2)))
    assert (first.added, again.added, again.updated) == (1, 0, 1)
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=at(date(2022, 4, 2)),
                                             unit_code="DBN"))
    assert (p.unit.registered, p.unit.invalid, p.unit.participants) == (0, 1, 0)


async def test_demo_targets_file_imports(db: AsyncEngine) -> None:
    stats = await progress_files.import_targets(
        db, (DATA_DIR / "demo_targets.csv").read_bytes())
    assert (stats.targets, stats.phases) == (13, 2)
    rows = await progress_files.export_targets(db)
    buf = io.StringIO()
    progress_files.write_targets_csv(rows, buf)
    again = await progress_files.import_targets(db, buf.getvalue().encode())
    assert again.targets == 13 and not again.recounted


async def test_report_rows_stream_the_subtree(db: AsyncEngine) -> None:
    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ1", *GD1, [("VN", None, "member_ratio", "0.10")])
        add(conn, grassroots="BPC-PR-001", status="valid", day=date(2022, 3, 1), n=3,
            benefit=1_000_000)
        add(conn, grassroots="BPC-KCN-001", status="invalid", day=date(2022, 3, 1), n=2)
        add(conn, grassroots="DBN-TP-001", status="valid", day=date(2022, 3, 1), n=4)
        add(conn, grassroots="BPC-PR-002", status="valid", day=date(2022, 6, 1), n=1)  # later

    await run(db, setup)

    def report(conn: Connection) -> tuple[Any, list[Any], list[dict[str, Any]]]:
        got = svc.report_rows(conn=conn, actor=SHELL, now=at(date(2022, 4, 1)),
                              unit_code="BPC", phase_code=None)
        assert not isinstance(got, svc.Refused)
        prog, kids, inis = got
        return prog, list(kids), list(inis)

    prog, kids, inis = await run(db, report)
    assert prog.unit.registered == 3 and prog.unit.benefit_vnd == 3_000_000
    assert [(k.code, k.registered, k.invalid) for k in kids] == [("BPC-KCN", 0, 2),
                                                                  ("BPC-PR", 3, 0)]
    assert sorted((i["grassroots_code"], i["status"]) for i in inis) == [
        ("BPC-KCN-001", "invalid")] * 2 + [("BPC-PR-001", "valid")] * 3
    assert inis[0]["receiving_code"] in ("BPC-PR", "BPC-KCN") and inis[0]["authors"]


async def test_the_demo_has_a_current_phase_with_progress(db: AsyncEngine) -> None:
    now = datetime(2026, 12, 3, 8, tzinfo=VN_TZ)
    assert await demo_progress.seed(db, now=now) == demo_progress.INITIATIVES
    assert await demo_progress.seed(db, now=now) == 0            # once
    p = await run(db, lambda c: svc.progress(conn=c, actor=SHELL, now=now))
    assert p.phase.code == demo_progress.DEMO_PHASE and not p.phase.ended
    assert p.unit.code == "VN" and 0 < p.unit.registered <= demo_progress.INITIATIVES
    assert p.unit.targets and p.pace_14d > 0 and p.children_total == 5
    r = await run(db, lambda c: svc.ranking(conn=c, actor=SHELL, now=now, unit_code="BPC-PR"))
    assert r.total == 5 and sum(x.unit.registered for x in r.rows) > 0
    assert (await run(db, progress_recount.recount)) == (
        await run(db, progress_recount.stored_totals))


async def test_files_as_excel_writes_them_in_vietnam(db: AsyncEngine) -> None:
    """A count with a thousands dot ("1.200"), and a field by its label without accents."""
    targets_csv = ("\ufeffmã đơn vị;giai đoạn;từ ngày;đến ngày;khối;loại;giá trị;ghi chú\r\n"
                   "BPC-PR-001;GĐ2;01/02/2027;30/06/2027;;count;1.200;\r\n"
                   "BPC-PR-002;GĐ2;01/02/2027;30/06/2027;;count;1.5;\r\n")
    with pytest.raises(DirectoryError) as exc:
        await progress_files.import_targets(db, targets_csv.encode())
    assert [p.line for p in exc.value.problems] == [3], exc.value.problems   # 1.5: not whole
    await progress_files.import_targets(db, targets_csv.replace(";1.5;", ";15;").encode())
    rows = await progress_files.export_targets(db)
    assert {(r.unit_code, int(r.value)) for r in rows} == {
        ("BPC-PR-001", 1200), ("BPC-PR-002", 15)}, rows
    initiatives = ("mã;tên sáng kiến;tác giả;mã cđcs;lĩnh vực;trạng thái;ngày gửi\r\n"
                   "SK-1;Máy hàn cải tiến;A;BPC-PR-001;san xuat;hop le;12/03/2027\r\n"
                   "SK-2;Biển báo an toàn;B;BPC-PR-001;An toàn vệ sinh lao động, môi trường;"
                   "hop le;12/03/2027\r\n"
                   "SK-3;Khác hẳn;C;BPC-PR-001;Nông nghiệp;hop le;12/03/2027\r\n")
    await initiative_files.import_initiatives(db, initiatives.encode(),
                                             now=at(date(2027, 4, 1)))
    fields = await run(db, lambda c: dict(c.execute(select(
        initiative_t.c.title, initiative_t.c.field_code)).all()))
    assert fields == {"Máy hàn cải tiến": "production", "Biển báo an toàn": "safety",
                      "Khác hẳn": "Nông nghiệp"}


async def test_targets_as_an_xlsx_file_excel_kept(db: AsyncEngine, tmp_path: Any) -> None:
    """Exported to .xlsx (it was an empty sheet), opened, edited with dates typed into
    cells (Excel keeps them as date cells: serial numbers), imported back."""
    from openpyxl import load_workbook

    await progress_files.import_targets(db, (DATA_DIR / "demo_targets.csv").read_bytes())
    rows = await progress_files.export_targets(db)
    path = tmp_path / "targets.xlsx"
    progress_files.write_targets_xlsx(rows, path)
    wb = load_workbook(path)
    ws = wb.active
    assert ws.freeze_panes == "A2"
    table = list(ws.iter_rows(values_only=True))
    assert table[0][:3] == ("unit_code", "phase", "starts_on") and len(table) == len(rows) + 1
    first = table[1]
    assert isinstance(first[2], datetime) and first[2].date() == rows[0].starts_on
    assert isinstance(first[6], int | float)
    ws.append(["BPC-PR-003", "GĐ3", datetime(2027, 7, 1), datetime(2027, 12, 31), None,
               "count", 12, "typed in Excel"])
    wb.save(path)
    stats = await progress_files.import_targets(db, path.read_bytes())
    assert stats.phases == 3
    again = {r.unit_code: r for r in await progress_files.export_targets(db)}
    assert again["BPC-PR-003"].starts_on == date(2027, 7, 1)
    assert again["BPC-PR-003"].ends_on == date(2027, 12, 31)
    assert progress_files.parse_date("46569") == date(2027, 7, 1)
    assert progress_files.parse_date("46569.5") == date(2027, 7, 1)
    assert progress_files.parse_date("12") is None
