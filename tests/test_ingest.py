"""Webhook ingest: an update is recorded before it is acknowledged, handled once, and one
chat's updates are handled in their order even when consecutive ones reach two processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import ACK_APPLICATION, Core
from bot.events import Inbound, Outcome
from bot.ingest import Ingest
from storage.models import draft_t, inbound_event_t

TITLE = "Cải tiến dây chuyền đóng gói sản phẩm"
DESC = "Vấn đề: dây chuyền chậm. Giải pháp: thêm băng tải phụ. Áp dụng tại xưởng 2."


def update(seq: int, text: str, chat: str = "501") -> Inbound:
    kind = "command" if text.startswith("/") else "text"
    return Inbound("telegram", str(seq), chat, chat, kind,  # type: ignore[arg-type]
                   text=text.lstrip("/") if kind == "command" else text)


class Channel:
    """The far side of `deliver`: what each chat was sent, in order."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.sent: dict[str, list[str]] = {}

    async def deliver(self, event: Inbound, outcome: Outcome) -> None:
        self.sent.setdefault(event.chat_id, []).append(event.event_id)
        self.core.sent(outcome)


async def test_two_processes_keep_each_chats_order(
        db_factory: Callable[[], AsyncEngine]) -> None:
    engines = [db_factory(), db_factory()]
    cores = [Core(e, default_locale="en") for e in engines]
    channels = [Channel(c) for c in cores]
    ingests = [Ingest(c, {"telegram": ch.deliver}) for c, ch in zip(cores, channels,
                                                                   strict=True)]
    try:
        # Consecutive updates of two chats, alternately reaching the two processes; the
        # later ones are recorded first.
        script = {"501": ["/sangkien", TITLE, DESC], "502": ["/sangkien", TITLE, "/huy"]}
        updates = [update(10 * i + n, text, chat)
                   for n, (chat, texts) in enumerate(script.items())
                   for i, text in enumerate(texts)]
        for i, ev in reversed(list(enumerate(updates))):
            assert await ingests[i % 2].accept(ev, seq=int(ev.event_id))
        assert not await ingests[1].accept(updates[0], seq=0)     # a redelivery
        await asyncio.gather(*(ig.drain() for ig in ingests))
        sent = {chat: [e for ch in channels for e in ch.sent.get(chat, [])]
                for chat in script}
        assert sorted(sent["501"], key=int) == ["0", "10", "20"]
        assert sorted(sent["502"], key=int) == ["1", "11", "21"]
        for ch in channels:            # each process sent a chat's replies in order
            for chat_sent in ch.sent.values():
                assert chat_sent == sorted(chat_sent, key=int)
        async with engines[0].connect() as conn:
            drafts = (await conn.execute(select(draft_t).order_by(draft_t.c.id))).mappings().all()
            waiting = (await conn.execute(select(inbound_event_t).where(
                inbound_event_t.c.payload.is_not(None)))).all()
        assert sorted((d["title"], d["description"] or "", d["step"]) for d in drafts) == [
            (TITLE, "", "description"), (TITLE, DESC, "field")]
        assert waiting == []
    finally:
        for c in cores:
            await c.aclose()
        for e in engines:
            await e.dispose()


async def test_events_left_by_a_dead_process_are_taken_by_the_next_sweep(
        db_factory: Callable[[], AsyncEngine]) -> None:
    engines = [db_factory(), db_factory()]
    cores = [Core(e, default_locale="en") for e in engines]
    channel = Channel(cores[1])
    dead = Ingest(cores[0], {"telegram": channel.deliver})
    alive = Ingest(cores[1], {"telegram": channel.deliver}, sweep_seconds=0.1)
    try:
        assert await dead.accept(update(1, "/sangkien"), seq=1)   # acknowledged, then dies
        await alive.start()
        for _ in range(100):
            if channel.sent.get("501"):
                break
            await asyncio.sleep(0.05)
        assert channel.sent == {"501": ["1"]}
        await alive.stop()
    finally:
        for c in cores:
            await c.aclose()
        for e in engines:
            await e.dispose()


async def test_a_quiet_process_records_that_its_replies_were_sent(
        db_factory: Callable[[], AsyncEngine]) -> None:
    """The marks are written soon, not with the process's next batch: else a process left
    quiet would have its replies sent again by the outbox (`Core.recover_unsent`)."""
    engine = db_factory()
    core = Core(engine, default_locale="en")
    channel = Channel(core)
    ingest = Ingest(core, {"telegram": channel.deliver})
    try:
        assert await ingest.accept(update(1, "/sangkien"), seq=1)
        await ingest.drain()
        assert channel.sent == {"501": ["1"]}
        unsent = select(inbound_event_t.c.event_id).where(inbound_event_t.c.replies.is_not(None))
        for _ in range(100):
            async with engine.connect() as conn:
                if not (await conn.execute(unsent)).all():
                    break
            await asyncio.sleep(0.05)
        async with engine.connect() as conn:
            assert (await conn.execute(unsent)).all() == []
    finally:
        await core.aclose()
        await engine.dispose()


async def test_replies_being_sent_after_a_wait_in_the_queue_are_not_sent_again(
        db_factory: Callable[[], AsyncEngine]) -> None:
    """How long replies have waited counts from when they were made: an update that waited
    in the queue longer than `recover_unsent`'s delay is not handed to the outbox while the
    process that just handled it sends its replies."""
    engine = db_factory()
    now = [datetime(2026, 3, 1, 8, 0, tzinfo=UTC)]
    core = Core(engine, default_locale="en", clock=lambda: now[0])
    in_flight: list[str] = []

    async def sending(event: Inbound, outcome: Outcome) -> None:
        in_flight.append(event.event_id)    # on its way: not yet marked sent

    ingest = Ingest(core, {"telegram": sending})
    try:
        assert await ingest.accept(update(1, "/sangkien"), seq=1)
        now[0] += timedelta(minutes=2)       # it waited (a backlog, a held chat)
        await ingest.drain()
        assert in_flight == ["1"]
        assert await core.recover_unsent(older_than=timedelta(seconds=60)) == 0
        now[0] += timedelta(seconds=61)      # never sent: then the outbox takes them
        assert await core.recover_unsent(older_than=timedelta(seconds=60)) == 1
    finally:
        await core.aclose()
        await engine.dispose()


async def test_the_chat_waiting_longest_is_taken_first_whatever_its_channel(
        db_factory: Callable[[], AsyncEngine]) -> None:
    """Zalo's order is a millisecond date, Telegram's an update id: chats are taken by how
    long they have waited, not by comparing the two."""
    engine = db_factory()
    now = [datetime(2026, 3, 1, 8, 0, tzinfo=UTC)]
    core = Core(engine, default_locale="en", clock=lambda: now[0])
    ingest = Ingest(core, {})
    try:
        zalo = Inbound("zalo", "z1", "u1", "u1", "command", text="sangkien")
        assert await ingest.accept(zalo, seq=1_750_316_131_602)
        now[0] += timedelta(seconds=1)
        assert await ingest.accept(update(7, "/sangkien"), seq=7)
        assert await core.queued_chats(limit=1) == [("zalo", "u1")]
        assert await core.queued_chats(limit=2) == [("zalo", "u1"), ("telegram", "501")]
    finally:
        await core.aclose()
        await engine.dispose()


async def test_recording_survives_its_kept_connection_being_cut(
        db_factory: Callable[[], AsyncEngine]) -> None:
    """PostgreSQL records webhook updates on a connection kept for it (in autocommit); when
    the server drops that connection, the next recording takes a new one and nothing is
    lost or recorded twice."""
    engine = db_factory()
    if engine.dialect.name != "postgresql":
        await engine.dispose()
        pytest.skip("the kept connection is PostgreSQL's")
    core = Core(engine, default_locale="en")
    ingest = Ingest(core, {})
    try:
        assert await ingest.accept(update(1, "/sangkien"), seq=1)
        async with engine.connect() as conn:   # the server cuts it
            cut = await conn.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"), {"name": ACK_APPLICATION})
        assert cut == 1
        assert await ingest.accept(update(2, TITLE), seq=2)
        assert not await ingest.accept(update(1, "/sangkien"), seq=1)   # a redelivery
        async with engine.connect() as conn:
            ids = (await conn.execute(select(inbound_event_t.c.event_id).order_by(
                inbound_event_t.c.event_id))).scalars().all()
        assert ids == ["1", "2"]
    finally:
        await core.aclose()
        await engine.dispose()
