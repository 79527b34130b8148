"""Storage on both backends: search, event de-duplication, restarts, concurrent workers, and
the query functions whose statements come in variants."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core import Core
from bot.events import Inbound
from storage import access, inbound, queries
from storage.engine import utcnow
from storage.models import (
    account_t,
    draft_t,
    inbound_event_t,
    initiative_author_t,
    initiative_t,
)
from storage.textfold import fold, fold_phrases, terms
from tests.driver import Chat


def test_folding_knows_accents_and_abbreviations() -> None:
    assert fold("LĐLĐ huyện Phú Riềng") == "ldld huyen phu rieng"
    assert fold_phrases("Liên đoàn Lao động tỉnh Đồng Tháp") == "ldld tinh dong thap"
    assert terms("Công đoàn ngành Y tế") == ["cd", "nganh", "y", "te"]
    assert terms("CĐ ngành Y tế") == terms("công đoàn ngành y te")
    assert terms("Công đoàn cơ sở Công ty TNHH") == ["cdcs", "cong", "ty", "tnhh"]


async def search(db: AsyncEngine, q: str, **kw: object) -> list[queries.UnitHit]:
    async with db.connect() as conn:
        hits, _truncated = await conn.run_sync(lambda c: queries.search_units(c, q, **kw))
    return hits


@pytest.mark.parametrize(("query", "code"), [
    ("phu rieng", "BPC-PR"),
    ("PHÚ RIỀNG", "BPC-PR"),
    ("Liên đoàn Lao động huyện Phú Riềng", "BPC-PR"),
    ("ldld phu", "BPC-PR"),
    ("y te dong thap", "DTP-YT"),
    ("cong doan nganh y te thanh hoa", "THA-YT"),
    ("vinh thuan", "KGG-VT"),
    ("dien bien phu", "DBN-TP"),
])
async def test_union_search(db: AsyncEngine, query: str, code: str) -> None:
    hits = await search(db, query, grassroots=False)
    assert hits and hits[0].code == code, [h.code for h in hits]


async def test_search_names_the_parent_and_filters_grassroots(db: AsyncEngine) -> None:
    hits = await search(db, "CĐ ngành Y tế", grassroots=False)
    assert {(h.code, h.parent_name) for h in hits} >= {
        ("DTP-YT", "LĐLĐ tỉnh Đồng Tháp"), ("THA-YT", "LĐLĐ tỉnh Thanh Hóa")}
    grassroots = await search(db, "phu rieng", grassroots=True)
    assert grassroots and all(h.code.startswith("BPC-PR-") for h in grassroots)
    assert await search(db, "khong ton tai xyz") == []
    assert await search(db, "   ") == []


async def test_event_ids_are_recorded_once(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        first = await conn.run_sync(lambda c: inbound.record(
            c, channel="telegram", events=[("1", "9"), ("2", "9")], now=utcnow()))
    async with db.begin() as conn:
        second = await conn.run_sync(lambda c: inbound.record(
            c, channel="telegram", events=[("2", "9"), ("3", "9")], now=utcnow()))
        other = await conn.run_sync(lambda c: inbound.record(
            c, channel="zalo", events=[("2", "9")], now=utcnow()))
    assert first == {"1", "2"} and second == {"3"} and other == {"2"}


async def test_full_submission_on_each_backend(core: Core) -> None:
    chat = Chat(core)
    await chat.onboard()
    await chat.say("/sangkien")
    await chat.say("Cải tiến quy trình kiểm kê kho")
    await chat.say("Vấn đề: kiểm kê mất hai ngày. Giải pháp: mã vạch. Áp dụng ở kho tổng.")
    await chat.press("Administrative")
    await chat.say("03/2022")
    await chat.press("Yes, it is recognised")
    await chat.say("1 tỷ 200 triệu")
    await chat.press("Yes")
    await chat.say("Trần Thị B, Lê Văn C")
    await chat.press("Done")
    await chat.say("vinh thuan")
    await chat.press("Vĩnh Thuận")
    await chat.press("Skip")
    seen = await chat.press("Submit")
    assert "SK-000001" in seen
    async with core.engine.connect() as conn:
        value = (await conn.execute(select(initiative_t.c.benefit_vnd))).scalar_one()
    assert value == 1_200_000_000
    async with core.engine.connect() as conn:
        names = (await conn.execute(select(initiative_author_t.c.name)
                                    .order_by(initiative_author_t.c.position))).scalars().all()
    assert names == ["Nguyễn Văn A", "Trần Thị B", "Lê Văn C"]


async def test_draft_survives_a_restart(db_factory: Callable[[], AsyncEngine]) -> None:
    engine = db_factory()
    core = Core(engine, default_locale="en")
    chat = Chat(core, "restart-user")
    await chat.say("/sangkien")
    await chat.say("Sáng kiến tiết kiệm điện năng")
    await core.aclose()
    await engine.dispose()

    engine = db_factory()  # a new process: nothing carried over in memory
    core = Core(engine, default_locale="en")
    chat = Chat(core, "restart-user")
    seen = await chat.say("Mô tả: tắt đèn khu vực không dùng, lắp cảm biến ở hành lang.")
    assert "Step 3 of 9 · Field" in seen
    async with engine.connect() as conn:
        draft = (await conn.execute(select(draft_t))).mappings().one()
    assert draft["title"] == "Sáng kiến tiết kiệm điện năng" and draft["step"] == "field"
    await core.aclose()
    await engine.dispose()


async def test_two_workers_take_the_same_update_once(
    db_factory: Callable[[], AsyncEngine],
) -> None:
    """Two processes handed the same redelivered updates: each is handled exactly once."""
    engines = [db_factory(), db_factory()]
    cores = [Core(e, default_locale="en") for e in engines]
    try:
        events = [Inbound("telegram", f"u{i}", f"user{i % 5}", f"user{i % 5}", "command",
                          text="sangkien") for i in range(20)]
        results = await asyncio.gather(*(c.handle(ev) for ev in events for c in cores))
        handled = [r for r in results if not r.duplicate]
        assert len(handled) == 20 and len(results) - len(handled) == 20
        async with engines[0].connect() as conn:
            n_events = (await conn.execute(
                select(func.count()).select_from(inbound_event_t))).scalar_one()
            n_drafts = (await conn.execute(select(func.count()).select_from(draft_t))).scalar_one()
            n_accounts = (await conn.execute(
                select(func.count()).select_from(account_t))).scalar_one()
        # Per user: /sangkien opens a draft; each next one, at that draft's first question
        # with nothing written, drops it and opens a new one — one draft each (four, had
        # an update been handled twice, would still leave one: the events count tells).
        assert (n_events, n_drafts, n_accounts) == (20, 5, 5)
    finally:
        for c in cores:
            await c.aclose()
        for e in engines:
            await e.dispose()


async def test_accounts_load_alike_one_or_several(db: AsyncEngine) -> None:
    """One account is read through an equality, several through an IN list: same rows."""
    now = utcnow()

    def run(c: Connection) -> None:
        queries.create_accounts(c, channel="zalo", now=now, new=[
            ("z1", "c1", "Một"), ("z2", "c2", "Hai"), ("z3", "c3", "Ba")])
        person = queries.load_accounts(c, channel="zalo", external_ids=["z2"], lock=False)
        draft = queries.create_draft(c, person_id=person["z2"]["person_id"], now=now)
        queries.save_accounts(c, [{"_id": person["z2"]["id"], "step": "title", "state": "{}",
                                   "draft_id": draft["id"], "locale": "en",
                                   "updated_at": now}])
        several = queries.load_accounts(c, channel="zalo", external_ids=["z1", "z2", "zz"],
                                        lock=True)
        assert set(several) == {"z1", "z2"}
        for ext in ("z1", "z2"):
            one = queries.load_accounts(c, channel="zalo", external_ids=[ext], lock=True)
            assert one == {ext: several[ext]}
        assert several["z1"]["draft"] is None
        assert several["z2"]["draft"]["id"] == draft["id"]
        assert queries.load_accounts(c, channel="zalo", external_ids=["zz"], lock=True) == {}
        assert queries.load_accounts(c, channel="zalo", external_ids=[], lock=False) == {}

    async with db.begin() as conn:
        await conn.run_sync(run)


async def test_a_new_draft_is_what_reading_it_back_gives(db: AsyncEngine) -> None:
    """create_draft does not read its timestamps back; they must still be what is stored."""
    now = datetime(2026, 11, 23, 16, 30, 15, 123456, tzinfo=timezone(timedelta(hours=7)))

    def run(c: Connection) -> None:
        queries.create_accounts(c, channel="zalo", now=now, new=[("d1", "c1", "Tên")])
        person_id = queries.load_accounts(
            c, channel="zalo", external_ids=["d1"], lock=False)["d1"]["person_id"]
        made = queries.create_draft(c, person_id=person_id, now=now, step="author_name",
                                    on_behalf=True)
        read = queries.get_draft(c, draft_id=made["id"], person_id=person_id)
        assert made == read
        assert made["created_at"].utcoffset() == timedelta(0) and made["created_at"] == now

    async with db.begin() as conn:
        await conn.run_sync(run)


async def test_roles_are_picked_from_the_grants_in_force(db: AsyncEngine) -> None:
    now = utcnow()

    def run(c: Connection) -> None:
        queries.create_accounts(c, channel="zalo", now=now, new=[("r1", "c1", "Vai trò")])
        pid = queries.load_accounts(
            c, channel="zalo", external_ids=["r1"], lock=False)["r1"]["person_id"]
        province = queries.unit_by_code(c, "BPC")
        district = queries.unit_by_code(c, "BPC-PR")
        other = queries.unit_by_code(c, "KGG")
        assert province and district and other
        assert access.grants(c, person_id=pid) == []
        assert access.roles_held(c, person_id=pid) == set()
        access.grant_role(c, person_id=pid, role="chair", unit_id=province.id, granted_by=None,
                          code=None, now=now)
        access.grant_role(c, person_id=pid, role="support", unit_id=other.id, granted_by=None,
                          code=None, now=now)
        assert [g.role for g in access.grants(c, person_id=pid)] == ["chair", "support"]
        assert [g.unit_name for g in access.grants(c, person_id=pid, roles=("support",))] == [
            other.name]
        assert access.grants(c, person_id=pid, roles=()) == []
        assert access.roles_held(c, person_id=pid) == {"chair", "support"}
        # A role on the province covers the district below it, not another province.
        assert access.covers(c, person_id=pid, roles=("chair",), unit_id=district.id)
        assert not access.covers(c, person_id=pid, roles=("support",), unit_id=district.id)
        assert not access.covers(c, person_id=pid, roles=("chair",), unit_id=other.id)
        [chair] = access.grants(c, person_id=pid, roles=("chair",))
        assert access.revoke_grant(c, grant_id=chair.id, now=now)
        assert not access.covers(c, person_id=pid, roles=("chair",), unit_id=district.id)
        # An administrator holds every role.
        access.grant_role(c, person_id=pid, role="admin", unit_id=province.id, granted_by=None,
                          code=None, now=now)
        assert access.covers(c, person_id=pid, roles=("support",), unit_id=district.id)
        assert [g.role for g in access.grants(c, person_id=pid, roles=("chair",))] == ["admin"]
        assert access.roles_held(c, person_id=pid) == set(access.ROLES)

    async with db.begin() as conn:
        await conn.run_sync(run)


async def test_every_pooled_sqlite_connection_is_set_up(tmp_path: object) -> None:
    """The connection settings (storage/engine.py, the `connect` event) hold on every
    connection of the pool, not only the first, and on the synchronous twin the core's
    transactions run on. wal_autocheckpoint is not one of ours: SQLite's default, 1000
    pages, on each of them."""
    from sqlalchemy import text

    from storage.engine import make_engine, sync_twin

    pragmas = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout",
               "wal_autocheckpoint")
    want = ("wal", 1, 1, 30000, 1000)       # synchronous 1: NORMAL
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/pool.db")
    twin = sync_twin(engine)
    assert twin is not None
    try:
        async def read(conn: AsyncConnection) -> tuple[object, ...]:
            got = tuple([(await conn.execute(text(f"PRAGMA {p}"))).scalar() for p in pragmas])
            await conn.rollback()     # the write lock each transaction takes, let go
            return got

        async with engine.connect() as one:
            assert await read(one) == want
            async with engine.connect() as two:        # another of the pool's connections
                assert await read(two) == want
                raws = [(await c.get_raw_connection()).dbapi_connection for c in (one, two)]
                assert raws[0] is not raws[1]
        with twin.connect() as conn:
            assert tuple(conn.execute(text(f"PRAGMA {p}")).scalar() for p in pragmas) == want
    finally:
        twin.dispose()
        await engine.dispose()
