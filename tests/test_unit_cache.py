"""Unit rows and searches kept by the core (storage/unit_cache.py) while the directory's
version (bumped by triggers on `unit`, migration 0770) stays the same."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from storage.engine import utcnow
from storage.models import directory_version_t, unit_t
from storage.models_progress import phase_t, progress_delta_t
from storage.progress import local_day
from tests.driver import Chat
from tests.test_flow import to_benefit, walk_to_summary
from tests.test_round_trips import counting


async def version(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(directory_version_t.c.n))).scalar_one()


async def change(engine: AsyncEngine, stmt) -> None:  # noqa: ANN001
    async with engine.begin() as conn:
        await conn.execute(stmt)


async def test_what_a_unit_row_shows_moves_the_version_and_nothing_else_does(
        db: AsyncEngine) -> None:
    """The triggers exist at the head on both databases (a revision rebuilding `unit` on
    SQLite would drop them) and fire for the columns a kept row holds."""
    v0 = await version(db)
    pr = unit_t.c.code == "BPC-PR"
    await change(db, update(unit_t).where(pr).values(member_count=unit_t.c.member_count + 1))
    assert await version(db) == v0, "a member count is not in a kept row"
    await change(db, update(unit_t).where(pr).values(name="Công đoàn Phú Riềng mới"))
    v1 = await version(db)
    assert v1 > v0
    await change(db, text("INSERT INTO unit (code, name, kind, bloc, member_count, depth, "
                          "is_demo) VALUES ('X-NEW', 'Mới', 'grassroots', 'other', 0, 3, false)"))
    v2 = await version(db)
    assert v2 > v1
    await change(db, text("DELETE FROM unit WHERE code = 'X-NEW'"))
    assert await version(db) > v2


async def to_union_search(chat: Chat) -> None:
    await chat.onboard()
    await to_benefit(chat)
    await chat.say("200 triệu")
    await chat.press("Yes")
    await chat.press("No co-authors")


async def test_a_repeated_search_reads_only_the_version_and_a_rename_shows_at_once(
        core: Core) -> None:
    one, two = Chat(core, "u1"), Chat(core, "u2")
    await to_union_search(one)
    await to_union_search(two)
    await one.say("phu rieng")
    assert any("Phú Riềng" in label for label in one.labels()), one.labels()
    with counting() as seen:
        await two.say("Phu Rieng")   # the same words, typed otherwise
    assert two.labels() == one.labels()
    # Only the batch's own statements: the event recorded, the conversation loaded (the
    # directory's version with it) and written back. No unit read, no search.
    assert all(s.split()[0] in ("BEGIN", "INSERT", "UPDATE") or s.startswith("SELECT account.")
               for s in seen), seen

    # An administrator renames the union (in psql, say): the next search shows the new name.
    await change(core.engine, update(unit_t).where(unit_t.c.code == "BPC-PR")
                 .values(name="Công đoàn cao su Phú Riềng Đỏ"))
    await two.press("Search again")
    await two.say("phu rieng")
    assert any("Phú Riềng Đỏ" in label for label in two.labels()), two.labels()
    await one.press("Phú Riềng")
    # The receiving union chosen is named as it is now.
    assert "Phú Riềng Đỏ" in one.text_of(one.last), one.text_of(one.last)


async def submit_one(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/hoso")    # the name to credit, confirmed before the first submission
    await chat.press("Name")
    await chat.say("Nguyễn Văn A")
    await walk_to_summary(chat)
    assert "code is" in await chat.press("Submit")


async def test_a_phase_changed_meanwhile_gets_the_next_submission(core: Core) -> None:
    """The chain of unions a submission counts in is kept with the phase of its day: new
    phase dates must reach the next one at once."""
    today = local_day(utcnow())
    async with core.engine.begin() as conn:
        first = (await conn.execute(insert(phase_t).values(
            code="P1", starts_on=today - timedelta(days=30), ends_on=today + timedelta(days=30))
            .returning(phase_t.c.id))).scalar_one()
    await submit_one(Chat(core, "u1"))
    async with core.engine.begin() as conn:   # the phase is cut short; a new one holds today
        await conn.execute(update(phase_t).where(phase_t.c.id == first)
                           .values(ends_on=today - timedelta(days=1)))
        second = (await conn.execute(insert(phase_t).values(
            code="P2", starts_on=today, ends_on=today + timedelta(days=60))
            .returning(phase_t.c.id))).scalar_one()
    await submit_one(Chat(core, "u2"))
    async with core.engine.connect() as conn:
        phases = (await conn.execute(
            select(progress_delta_t.c.phase_id).distinct()
            .order_by(progress_delta_t.c.phase_id))).scalars().all()
    assert phases == [first, second]
