"""A sender process killed (SIGKILL) between a send and its mark: the message reached the
user, the row is left `sending`, marked handed. Another sender takes the dead one's rows over
once its heartbeat is stale (10 s), not after the 60 s lease: the handed row counts as sent
(uncertain) and is not sent again, the rows it had claimed but not handed go out then.
Everyone gets exactly one message, and the other chats keep moving meanwhile. On SQLite and
PostgreSQL, with a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import telegram
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import OutboxWorker
from handlers.telegram_sender import TelegramSender
from storage import outbox
from storage.engine import utcnow
from storage.migrate import upgrade
from storage.models import outbox_t
from tests.conftest import _drop_schema, _new_backend
from tests.fakes.telegram_server import FakeTelegram
from tests.test_outbox import TimedCalls, drain, run

CHATS = list(range(7001, 7061))
KILL_AT = 12   # the sendMessage during which the sender dies


@pytest.fixture
async def shared(backend: str, tmp_path: object) -> AsyncIterator[tuple[AsyncEngine, str, str]]:
    """A migrated database and what a second process needs to reach it (URL, schema)."""
    engine, url, schema = await _new_backend(backend, tmp_path)
    try:
        await upgrade(engine=engine)
        yield engine, url, schema or ""
    finally:
        await engine.dispose()
        if schema:
            await _drop_schema(schema)


async def test_a_sender_killed_between_send_and_mark(
        shared: tuple[AsyncEngine, str, str]) -> None:
    engine, url, schema = shared
    fake = FakeTelegram()
    fake.calls = calls = TimedCalls()
    await fake.start()
    try:
        for chat in CHATS:
            fake.add_user(chat)
        await run(engine, lambda c: outbox.enqueue_many(c, now=utcnow(), rows=[
            {"channel": "telegram", "chat_id": str(chat), "account_id": None,
             "kind": "campaign", "locale": "vi", "text": f"Nhắc {chat}", "options": [],
             "priority": 9, "dedupe_key": f"camp:1:s:{chat}"} for chat in CHATS]))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bench_outbox", "sender", url, schema, fake.base_url,
            fake.token, "10", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        killed: dict[str, Any] = {}

        def kill_mid_send(params: dict[str, Any]) -> None:
            # The request arrived and will be answered (the user gets the message), but the
            # sender dies before it reads the answer, so before its mark.
            if len(calls.sends()) == KILL_AT and not killed:
                os.kill(proc.pid, signal.SIGKILL)
                killed.update(at=time.monotonic(), chat=int(params["chat_id"]))

        fake.on_call("sendMessage", kill_mid_send)
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).startswith(b"ready")
        await proc.wait()
        assert proc.returncode == -signal.SIGKILL and killed
        async with engine.connect() as conn:
            stuck = (await conn.execute(select(outbox_t.c.chat_id).where(
                outbox_t.c.status == "sending"))).scalars().all()
            handed = (await conn.execute(select(outbox_t.c.chat_id).where(
                outbox_t.c.status == "sending", outbox_t.c.sent_at.is_not(None)
            ))).scalars().all()
        assert str(killed["chat"]) in handed
        waiting = {int(c) for c in stuck} - {int(c) for c in handed}
        assert waiting, stuck   # claimed ahead of their slots, never handed

        bot = telegram.Bot(fake.token, base_url=fake.base_url)
        await bot.initialize()
        worker = OutboxWorker(engine, [TelegramSender(bot)], global_rate=30.0,
                              poll_interval=0.05)
        await worker.start()
        try:
            assert await drain(engine, timeout=40) == {"sent": len(CHATS)}
        finally:
            await worker.stop()
            await bot.shutdown()
        got = Counter(int(p["chat_id"]) for _t, p in calls.sends())
        assert got == {chat: 1 for chat in CHATS}
        async with engine.connect() as conn:
            uncertain = (await conn.execute(select(outbox_t.c.chat_id).where(
                outbox_t.c.last_error == outbox.UNCERTAIN))).scalars().all()
        assert sorted(uncertain) == sorted(handed)
        late = [t for t, p in calls.sends() if int(p["chat_id"]) in waiting]
        others = [t for t, p in calls.sends() if killed["at"] < t < min(late)]
        # Taken over once the dead sender's heartbeat was stale, well before the lease ran
        # out; the other chats were served meanwhile.
        assert 9.0 < min(late) - killed["at"] < 30.0, min(late) - killed["at"]
        assert len(others) >= len(CHATS) - KILL_AT - len(stuck)
    finally:
        await fake.close()
