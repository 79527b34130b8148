"""Campaigns on SQLite and PostgreSQL: each audience on generated data against a direct
query, the cap and the opt-out, quiet hours, scope, pause/resume/cancel, and expansion that
neither repeats nor skips anyone — in small batches, after a crash, and with two schedulers
at once (PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.campaign_schedule import Cap, parse_local, parse_quiet
from bot.campaign_scheduler import Delivery, expand_batch, make_slots, run_tick
from bot.services import campaigns as svc
from bot.services.actor import Actor
from bot.services.results import Refused
from storage import campaigns as store
from storage.models import outbox_t
from storage.models_campaigns import campaign_slot_t
from tests import campaign_data as data

NOON = parse_local("2026-03-10 12:00")   # a Tuesday, local noon: outside quiet hours


async def run(engine: AsyncEngine, fn: Callable[[Connection], Any]) -> Any:
    async with engine.begin() as conn:
        return await conn.run_sync(fn)


def spec(**kw: Any) -> svc.Spec:
    base: dict[str, Any] = {"unit_code": "BPC", "audience": "members",
                            "text": "Chào {ten} ({donvi})!", "kind": "once"}
    return svc.Spec(**{**base, **kw})


def create(conn: Connection, now: datetime = NOON, actor: Actor | None = None, **kw: Any
           ) -> int:
    out = svc.create(conn=conn, actor=actor or Actor.shell(), now=now, spec=spec(**kw))
    assert isinstance(out, svc.Created), out
    return out.campaign_id


async def drain(engine: AsyncEngine, now: datetime, delivery: Delivery) -> int:
    """Make slots and expand every due batch; returns the batches run."""
    await run(engine, lambda c: make_slots(c, now=now, delivery=delivery))
    batches = 0
    while await run(engine, lambda c: expand_batch(c, now=now, delivery=delivery)) is not None:
        batches += 1
    return batches


def outbox_people(conn: Connection, campaign_id: int) -> list[int]:
    """Person ids of the campaign's outbox rows (one entry per row)."""
    from storage.models import account_t
    rows = conn.execute(select(account_t.c.person_id).join(
        outbox_t, outbox_t.c.account_id == account_t.c.id).where(
        store.campaign_rows(campaign_id)))
    return [r[0] for r in rows]


QUIET_OFF = Delivery(quiet=None, cap=Cap(100, 100), batch=7)


@pytest.mark.parametrize(("audience", "unit", "bloc", "cluster"), [
    ("members", "BPC", None, None),
    ("members", "VN", "public_service", None),
    ("members", "BPC", None, "Cụm thi đua số 1 (Phú Riềng)"),
    ("no_initiative", "VN", None, None),
    ("idle_drafts", "THA", None, None),
])
async def test_each_audience_equals_a_direct_query(db: AsyncEngine, audience: str, unit: str,
                                                   bloc: str | None, cluster: str | None) -> None:
    world = await run(db, lambda c: data.generate(c, now=NOON, n=150))
    cid = await run(db, lambda c: create(c, unit_code=unit, audience=audience, bloc=bloc,
                                         cluster=cluster, idle_days=7,
                                         starts_on=(NOON - timedelta(days=20)).date()))
    batches = await drain(db, NOON, QUIET_OFF)
    got = await run(db, lambda c: outbox_people(c, cid))
    codes = await run(db, lambda c: data.subtree(c, unit, bloc=bloc, cluster=cluster))
    c = await run(db, lambda c: store.get(c, campaign_id=cid))
    since = datetime.combine(c["starts_on"], time(0), tzinfo=UTC) - timedelta(hours=7)
    want = data.expected(world, codes, audience, since=since,
                         idle_before=NOON - timedelta(days=7))
    assert len(got) == len(set(got))          # nobody twice
    assert set(got) == want                   # nobody skipped, nobody extra
    assert want, "the generated data must give this audience someone"
    assert batches >= len(want) // 7          # it did stream in batches of 7
    c = await run(db, lambda c: store.get(c, campaign_id=cid))
    assert c["state"] == "done"
    opted = {p for p, f in world.people.items() if f["opted_out"] and f["unit"] in codes}
    if audience == "members":
        assert c["skipped_opted_out"] == len(opted)


async def test_messages_are_escaped_filled_and_say_how_to_stop(db: AsyncEngine) -> None:
    await run(db, lambda c: data.generate(c, now=NOON, n=60))
    cid = await run(db, lambda c: create(
        c, unit_code="BPC", text="<b>Hi</b> {name}, {unknown} {donvi} {songayconlai}",
        until=(NOON + timedelta(days=5)).date()))
    await drain(db, NOON, QUIET_OFF)
    rows = await run(db, lambda c: c.execute(select(outbox_t).where(
        store.campaign_rows(cid))).mappings().all())
    assert rows
    for r in rows:
        assert r["text"].count("&lt;b&gt;Hi&lt;/b&gt;") == 1
        assert "Nguyễn Văn &lt;" in r["text"]            # the name, escaped, name case
        assert "{unknown}" in r["text"]
        assert "CĐCS " in r["text"] and "(demo)" in r["text"]   # the recipient's union
        assert " 6" in r["text"]       # days left, today and the last day counted
        assert "/tatthongbao" in r["text"]
        assert (r["kind"], r["priority"]) == ("campaign", 9)
        vi = "Để không nhận" in r["text"]
        assert vi == (r["locale"] == "vi")


async def test_cap_per_day_and_week_and_opt_out(db: AsyncEngine) -> None:
    world = await run(db, lambda c: data.generate(c, now=NOON, n=40))
    capped = Delivery(quiet=None, cap=Cap(per_day=1, per_week=3), batch=50)
    daily = await run(db, lambda c: create(c, unit_code="VN", kind="daily",
                                           at_time=time(12, 0)))
    other = await run(db, lambda c: create(c, unit_code="VN"))   # once, now
    await drain(db, NOON, capped)
    reach = data.expected(world, set(data.units_codes(world)), "members")
    first_day = await run(db, lambda c: outbox_people(c, daily) + outbox_people(c, other))
    assert sorted(first_day) == sorted(reach)        # one message each that day, not two
    c_other = await run(db, lambda c: store.get(c, campaign_id=other))
    c_daily = await run(db, lambda c: store.get(c, campaign_id=daily))
    assert c_other["skipped_capped"] + c_daily["skipped_capped"] == len(reach)
    for day in range(1, 6):
        await drain(db, NOON + timedelta(days=day), capped)
    total = await run(db, lambda c: outbox_people(c, daily) + outbox_people(c, other))
    per_person = {p: total.count(p) for p in reach}
    # days 0..5: at most 3 in any 7 days, at most one a day
    assert set(per_person.values()) == {3}
    # /tatthongbao: a person opted out gets nothing more; /batthongbao: again
    someone = min(reach)
    await run(db, lambda c: store.set_opt_out(c, person_id=someone, off=True, now=NOON))
    later = NOON + timedelta(days=10)
    await drain(db, later, capped)

    async def received() -> int:
        return (await run(db, lambda c: outbox_people(c, daily) + outbox_people(c, other))
                ).count(someone)

    assert await received() == 3
    assert (await run(db, lambda c: store.get(c, campaign_id=daily)))["skipped_opted_out"] >= 1
    await run(db, lambda c: store.set_opt_out(c, person_id=someone, off=False, now=NOON))
    await drain(db, later + timedelta(days=1), capped)
    assert await received() == 4


async def test_quiet_hours_hold_the_slot_until_they_end(db: AsyncEngine) -> None:
    await run(db, lambda c: data.generate(c, now=NOON, n=20))
    late = parse_local("2026-03-10 22:30")
    cid = await run(db, lambda c: create(c, now=late, unit_code="VN", kind="daily",
                                         at_time=time(22, 30)))
    quiet = Delivery(quiet=parse_quiet("21:00-07:00"), cap=Cap(5, 5), batch=10)
    await drain(db, late, quiet)
    assert await run(db, lambda c: outbox_people(c, cid)) == []    # waits
    slot = await run(db, lambda c: store.slots(c, campaign_id=cid))
    assert slot[0]["due_at"].astimezone(UTC) == parse_local("2026-03-11 07:00")
    await drain(db, parse_local("2026-03-11 07:00"), quiet)
    assert await run(db, lambda c: outbox_people(c, cid))


async def test_a_crash_mid_expansion_neither_repeats_nor_skips(
        db_factory: Callable[[], AsyncEngine]) -> None:
    engine = db_factory()
    world = await run(engine, lambda c: data.generate(c, now=NOON, n=100))
    cid = await run(engine, lambda c: create(c, unit_code="VN"))
    small = Delivery(quiet=None, cap=Cap(9, 9), batch=6)
    await run(engine, lambda c: make_slots(c, now=NOON, delivery=small))
    for _ in range(3):
        await run(engine, lambda c: expand_batch(c, now=NOON, delivery=small))

    class Crash(Exception):
        pass

    def crashing(conn: Connection) -> None:
        expand_batch(conn, now=NOON, delivery=small)
        raise Crash   # killed before the commit: the batch is lost, not half-written

    with pytest.raises(Crash):
        await run(engine, crashing)
    await engine.dispose()
    restarted = db_factory()
    await drain(restarted, NOON, small)
    got = await run(restarted, lambda c: outbox_people(c, cid))
    await restarted.dispose()
    assert sorted(got) == sorted(data.expected(world, data.units_codes(world), "members"))


async def test_two_schedulers_at_once_send_each_slot_once(
        db_factory: Callable[[], AsyncEngine], backend: str) -> None:
    if backend != "postgres":
        pytest.skip("SQLite serialises writers: two schedulers cannot overlap there")
    engines = [db_factory(), db_factory()]
    world = await run(engines[0], lambda c: data.generate(c, now=NOON, n=300))
    ids = [await run(engines[0], lambda c, u=u: create(c, unit_code=u))
           for u in ("VN", "BPC", "THA")]
    delivery = Delivery(quiet=None, cap=Cap(9, 9), batch=5)
    ticks = await asyncio.gather(*(run_tick(e, now=lambda: NOON, delivery=delivery)
                                   for e in engines for _ in range(2)))
    assert sum(t.batches for t in ticks) > 2
    for cid, unit in zip(ids, ("VN", "BPC", "THA"), strict=True):
        got = await run(engines[0], lambda c, cid=cid: outbox_people(c, cid))
        codes = await run(engines[0], lambda c, unit=unit: data.subtree(c, unit))
        assert sorted(got) == sorted(data.expected(world, codes, "members"))
        slots = await run(engines[0], lambda c, cid=cid: c.execute(
            select(func.count()).select_from(campaign_slot_t)
            .where(campaign_slot_t.c.campaign_id == cid)).scalar_one())
        assert slots == 1
    for e in engines:
        await e.dispose()


async def test_two_campaigns_expanding_at_once_keep_the_cap(
        db_factory: Callable[[], AsyncEngine], backend: str) -> None:
    """Two schedulers expand two campaigns to the same people at once: the second batch
    reads their counts before the first commits, yet nobody gets two messages that day."""
    if backend != "postgres":
        pytest.skip("SQLite serialises writers: two batches cannot overlap there")
    engines = [db_factory(), db_factory()]
    world = await run(engines[0], lambda c: data.generate(c, now=NOON, n=40))
    ids = [await run(engines[0], lambda c: create(c, unit_code="VN")) for _ in range(2)]
    capped = Delivery(quiet=None, cap=Cap(per_day=1, per_week=3), batch=500)
    await run(engines[0], lambda c: make_slots(c, now=NOON, delivery=capped))
    async with engines[0].begin() as first:
        one = await first.run_sync(lambda c: expand_batch(c, now=NOON, delivery=capped))
        assert one is not None and one.queued > 0 and one.campaign_id == ids[0]
        # The other campaign's batch, while the first one's is written but not committed.
        second = asyncio.create_task(run(engines[1], lambda c: expand_batch(
            c, now=NOON, delivery=capped)))
        await asyncio.sleep(0.5)
    two = await second
    assert two is not None and two.campaign_id == ids[1] and two.finished
    reach = data.expected(world, set(data.units_codes(world)), "members")
    got = await run(engines[0], lambda c: outbox_people(c, ids[0]) + outbox_people(c, ids[1]))
    assert sorted(got) == sorted(reach)          # one message each, not two
    assert two.queued == 0
    c2 = await run(engines[0], lambda c: store.get(c, campaign_id=ids[1]))
    assert c2["skipped_capped"] == len(reach)
    # The counts the second batch took back: one message each today, as sent.
    counts = await run(engines[0], lambda c: store.sends(c, person_ids=sorted(reach),
                                                        since=NOON.date()))
    assert sorted(sum(d.values()) for d in counts.values()) == [1] * len(reach)
    for e in engines:
        await e.dispose()


async def test_scope_chairs_admins_support_and_members(db: AsyncEngine) -> None:
    now = NOON
    chair = await run(db, lambda c: data.chair(c, unit_code="BPC-PR", now=now))
    support = await run(db, lambda c: data.chair(c, unit_code="BPC-PR", now=now, role="support"))
    admin = await run(db, lambda c: data.chair(c, unit_code="VN", now=now, role="admin"))
    ok = await run(db, lambda c: svc.create(conn=c, actor=Actor(chair), now=now,
                                            spec=spec(unit_code="BPC-PR-001")))
    assert isinstance(ok, svc.Created)
    for who, unit in ((chair, "THA"), (chair, "BPC"), (support, "BPC-PR-001")):
        out = await run(db, lambda c, who=who, unit=unit: svc.create(
            conn=c, actor=Actor(who), now=now, spec=spec(unit_code=unit)))
        assert isinstance(out, Refused)
    assert isinstance(await run(db, lambda c: svc.create(
        conn=c, actor=Actor(admin), now=now, spec=spec(unit_code="THA"))), svc.Created)
    # managing: only within the subtree
    theirs = await run(db, lambda c: create(c, unit_code="THA"))
    for fn in (svc.pause, svc.cancel):
        assert isinstance(await run(db, lambda c, fn=fn: fn(
            conn=c, actor=Actor(chair), now=now, campaign_id=theirs)), Refused)
    assert isinstance(await run(db, lambda c: svc.stats(
        conn=c, actor=Actor(support), campaign_id=ok.campaign_id)), Refused)
    assert isinstance(await run(db, lambda c: svc.pause(
        conn=c, actor=Actor(chair), now=now, campaign_id=ok.campaign_id)), svc.Changed)
    listed = await run(db, lambda c: svc.list_campaigns(conn=c, actor=Actor(chair)))
    assert [c["id"] for c in listed] == [ok.campaign_id]
    assert isinstance(await run(db, lambda c: svc.list_campaigns(
        conn=c, actor=Actor(support))), Refused)


async def test_pause_holds_queued_messages_resume_and_cancel(db: AsyncEngine) -> None:
    await run(db, lambda c: data.generate(c, now=NOON, n=30))
    cid = await run(db, lambda c: create(c, unit_code="VN", kind="daily", at_time=time(12, 0)))
    await drain(db, NOON, QUIET_OFF)
    shell = Actor.shell()

    def due(conn: Connection) -> int:
        return conn.execute(select(func.count()).select_from(outbox_t).where(
            store.campaign_rows(cid),
            outbox_t.c.not_before <= NOON + timedelta(days=1))).scalar_one()

    queued = await run(db, due)
    assert queued > 0
    assert isinstance(await run(db, lambda c: svc.pause(conn=c, actor=shell, now=NOON,
                                                        campaign_id=cid)), svc.Changed)
    assert await run(db, due) == 0
    await drain(db, NOON + timedelta(days=1), QUIET_OFF)   # paused: no new slot
    assert len(await run(db, lambda c: store.slots(c, campaign_id=cid))) == 1
    resumed = await run(db, lambda c: svc.resume(conn=c, actor=shell, now=NOON,
                                                 campaign_id=cid))
    assert resumed == svc.Changed(cid, "running")
    assert await run(db, due) == queued
    stats = await run(db, lambda c: svc.stats(conn=c, actor=shell, campaign_id=cid))
    assert (stats.queued, stats.waiting, stats.sent) == (queued, queued, 0)
    assert isinstance(await run(db, lambda c: svc.cancel(conn=c, actor=shell, now=NOON,
                                                         campaign_id=cid)), svc.Changed)
    assert await run(db, lambda c: svc.resume(conn=c, actor=shell, now=NOON,
                                              campaign_id=cid)) == svc.Unchanged(cid, "cancelled")
    stats = await run(db, lambda c: svc.stats(conn=c, actor=shell, campaign_id=cid))
    assert stats.waiting == 0 and stats.state == "cancelled"
    # the messages not sent yet are cancelled, not failed
    assert (stats.cancelled, stats.failed, stats.queued) == (queued, 0, queued)
    assert await run(db, lambda c: store.outbox_counts(c, campaign_id=cid)) == {
        "cancelled": queued}


async def test_preview_counts_and_renders_for_a_real_recipient(db: AsyncEngine) -> None:
    world = await run(db, lambda c: data.generate(c, now=NOON, n=60))
    out = await run(db, lambda c: svc.create(conn=c, actor=Actor.shell(), now=NOON,
                                             spec=spec(unit_code="VN"), draft=True))
    p = await run(db, lambda c: svc.preview(conn=c, actor=Actor.shell(), now=NOON,
                                            campaign_id=out.campaign_id, delivery=QUIET_OFF))
    assert p.recipients == len(data.expected(world, data.units_codes(world), "members"))
    assert p.text and "Chào" in p.text and p.recipient
    assert p.seconds == pytest.approx(p.per_channel.get("telegram", 0) / 30, rel=0.01) or \
        p.seconds >= p.per_channel.get("telegram", 0) / 30
    # a draft sends nothing until confirmed
    await drain(db, NOON, QUIET_OFF)
    assert await run(db, lambda c: outbox_people(c, out.campaign_id)) == []
    assert await run(db, lambda c: svc.confirm(conn=c, actor=Actor.shell(), now=NOON,
                                               campaign_id=out.campaign_id)) == svc.Changed(
        out.campaign_id, "scheduled")
    await drain(db, NOON, QUIET_OFF)
    assert len(await run(db, lambda c: outbox_people(c, out.campaign_id))) == p.recipients
