"""The Zalo webhook as Telegram's: an event is acknowledged once recorded — before its step
runs, whatever the step waits for — handled once however often it is delivered, and one
chat's events are handled in their order even when consecutive ones reach two processes.

Blocking a step (a row lock) or holding a chat as another process does takes PostgreSQL;
the SQLite runs of these tests are skipped (test_zalo.py runs the webhook on both)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core import Core
from handlers.web import WebApp
from handlers.zalo import ZaloChannel
from handlers.zalo_webhook import seq_of
from storage import inbound
from storage.models import account_t, draft_t, inbound_event_t
from tests import test_e2e as e2e
from tests.channels_zalo import WEBHOOK_SECRET, free_port
from tests.test_zalo import USER, harness, rows, text_event

TITLE, DESC = e2e.TITLE, e2e.DESC


def event_at(h: Any, text: str, *, message_id: str, date: int) -> dict[str, Any]:
    event = text_event(text, message_id=message_id, user=h.fake.user_id(USER))
    event["message"]["date"] = date
    return event


def only_postgresql(h: Any) -> None:
    assert h.engine is not None
    if h.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL's row and advisory locks")


@asynccontextmanager
async def holding(engine: AsyncEngine, hold: Callable[[AsyncConnection], Any]
                  ) -> AsyncIterator[None]:
    """A transaction of another connection holding what `hold` takes, until the block ends."""
    async with engine.connect() as conn:
        await conn.begin()
        await hold(conn)
        try:
            yield
        finally:
            await conn.rollback()


async def waiting(h: Any) -> list[str]:
    return [r["event_id"] for r in await rows(h, select(inbound_event_t).where(
        inbound_event_t.c.payload.is_not(None)))]


def test_the_order_of_an_event_is_when_it_was_sent() -> None:
    assert seq_of(text_event("x")) == 1750316131602
    event = text_event("x")
    event["message"]["date"] = "1750316131700"
    assert seq_of(event) == 1750316131700
    for odd in (None, True, "soon", -5, 10**30):
        event["message"]["date"] = odd
        now = time.time_ns() // 1_000_000
        assert now <= seq_of(event) <= now + 5_000   # when it arrived


async def test_an_event_is_acknowledged_while_its_step_is_blocked_and_handled_once(
        db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory, mode="webhook") as h:
        only_postgresql(h)
        assert h.engine is not None
        await h.send(USER, "/sangkien")
        answered = len(h.fake.messages(USER))
        event = event_at(h, TITLE, message_id="title-1", date=time.time_ns() // 1_000_000)

        async def lock_accounts(conn: AsyncConnection) -> None:
            await conn.execute(select(account_t.c.id).with_for_update())

        async with holding(h.engine, lock_accounts):   # the step cannot load its account
            # Acknowledged within Zalo's two seconds although the step cannot run…
            assert await asyncio.wait_for(h.fake.deliver(event), 2.0) == 200
            # …and delivered again: acknowledged, recognised.
            assert await asyncio.wait_for(h.fake.deliver(event), 2.0) == 200
            assert await waiting(h) == ["title-1"]   # recorded, durably, not handled
            await asyncio.sleep(0.3)
            assert len(h.fake.messages(USER)) == answered
        await h.fake.wait_for_messages(USER, answered + 1)
        await h.fake.wait_idle(quiet=0.5)
        assert len(h.fake.messages(USER)) == answered + 1   # one answer, not two
        assert "Step 2" in h.texts(USER)[-1]
        [draft] = await rows(h, select(draft_t))
        assert (draft["title"], draft["step"]) == (TITLE, "description")
        assert await waiting(h) == []
        assert [d.status for d in h.fake.deliveries] == [200] * len(h.fake.deliveries)


async def test_consecutive_events_reaching_two_processes_are_handled_in_order(
        db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory, mode="webhook") as h:
        only_postgresql(h)
        assert h.engine is not None
        await h.send(USER, "/sangkien")
        answered = len(h.fake.messages(USER))
        first_url = h.fake.webhook["url"]
        # A second web process on the same database, with its own core and queue.
        engine = db_factory()
        port = free_port()
        other = ZaloChannel(Core(engine, default_locale="en"), token=h.fake.token,
                            base_url=h.fake.base_url, retry_delay=0.05,
                            webhook_url=f"http://127.0.0.1:{port}/zalo/webhook",
                            webhook_secret=WEBHOOK_SECRET)
        web = WebApp(routes=other.routes(), engine=engine, host="127.0.0.1", port=port)
        await web.start()
        await other.start()
        try:
            chat = h.fake.user_id(USER)
            now = time.time_ns() // 1_000_000
            title = event_at(h, TITLE, message_id="m-title", date=now)
            desc = event_at(h, DESC, message_id="m-desc", date=now + 1)

            async def hold_chat(conn: AsyncConnection) -> None:   # as a third process would
                assert await conn.run_sync(
                    lambda c: inbound.lock_chat(c, channel="zalo", chat_id=chat))

            async with holding(h.engine, hold_chat):
                # The later event reaches the second process and is recorded first.
                assert await h.fake.deliver(desc, url=h.fake.webhook["url"]) == 200
                assert await h.fake.deliver(title, url=first_url) == 200
                await asyncio.sleep(0.3)
                assert sorted(await waiting(h)) == ["m-desc", "m-title"]
            await h.fake.wait_for_messages(USER, answered + 2, timeout=15)
            await h.fake.wait_idle(quiet=0.5)
            [draft] = await rows(h, select(draft_t))
            assert (draft["title"], draft["description"]) == (TITLE, DESC)
            said = h.texts(USER)[answered:]
            assert "Step 2" in said[0] and "Step 2" not in said[-1], said
        finally:
            await other.stop()
            await web.stop()
            await other.core.aclose()
            await engine.dispose()
