"""Saved but never answered: the replies of an event are kept with it until the channel has
sent them. A redelivered event whose replies never went out gets them; one whose replies
went out gets nothing; replies left unsent (a channel that will not redeliver) go through
the outbox. On SQLite files and PostgreSQL (an in-memory database keeps nothing)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, text

from bot.core import Core
from bot.events import Inbound
from storage.models import inbound_event_t, outbox_t
from tests.test_flow import rows


def event(event_id: str, text: str = "sangkien", kind: str = "command") -> Inbound:
    return Inbound("telegram", event_id, "77", "77", kind, text=text)  # type: ignore[arg-type]


async def test_a_redelivery_gets_the_replies_it_never_got(core: Core) -> None:
    first = await core.handle(event("u1"))          # committed; the process "dies" unsent
    assert first.replies and not first.duplicate
    assert (await core.handle(event("u1"))).duplicate   # at once: crossing the first one
    core.clock = lambda: out_time() + timedelta(minutes=1)   # after a restart
    again = await core.handle(event("u1"))          # Telegram delivers it again
    assert again.resent and not again.duplicate
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    assert [o.token for o in again.replies[-1].options] == [
        o.token for o in first.replies[-1].options]
    core.sent(again)
    third = await core.handle(event("u1"))          # sent by now: nothing more to say
    assert third.duplicate and not third.replies
    [row] = await rows(core, select(inbound_event_t))
    assert row["replies"] is None


async def test_replies_sent_are_not_kept(core: Core) -> None:
    out = await core.handle(event("s1"))
    core.sent(out)
    await core.handle(event("s2", "Cải tiến máy hàn tự động", "text"))  # carries the mark
    kept = {r["event_id"]: r["replies"] for r in await rows(core, select(inbound_event_t))}
    assert kept["s1"] is None and kept["s2"] is not None


async def test_replies_left_unsent_go_through_the_outbox(core: Core) -> None:
    out = await core.handle(event("o1"))
    moved = await core.recover_unsent(older_than=timedelta(hours=1))
    assert moved == 0                                 # too recent: the channel may still send
    core.clock = lambda: out_time() + timedelta(minutes=5)
    assert await core.recover_unsent(older_than=timedelta(seconds=60)) == 1
    queued = await rows(core, select(outbox_t).order_by(outbox_t.c.id))
    assert [q["text"] for q in queued] == [r.text for r in out.replies]
    assert {q["chat_id"] for q in queued} == {"77"} and all(q["kind"] == "reply" for q in queued)
    assert await core.recover_unsent(older_than=timedelta(seconds=60)) == 0   # once only
    assert (await core.handle(event("o1"))).duplicate


def out_time():  # noqa: ANN201
    from storage.engine import utcnow

    return utcnow()


async def test_a_sent_mark_needs_no_later_event(core: Core, backend: str) -> None:
    """The mark of replies sent is written by itself when no batch comes to carry it: on
    PostgreSQL at once, on a connection kept for the marks (a kill right after the send then
    rarely has its replies sent again through the outbox)."""
    out = await core.handle(event("m1"))
    core.sent(out)
    for _ in range(100):
        [row] = await rows(core, select(inbound_event_t))
        if row["replies"] is None:
            break
        await asyncio.sleep(0.05)
    assert row["replies"] is None
    if backend == "postgres":
        async with core.engine.connect() as conn:
            names = (await conn.execute(text(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE application_name LIKE 'sangkien-sent-%'"))).scalars().all()
        assert len(names) == 1
