"""The core's promise under SIGKILL: a real `sangkien run` is killed at each dangerous point
— before the commit, between the commit and the reply, inside the next getUpdates, between a
send and its mark — and started again. Every update is handled once and every user gets
every reply (at least once: a kill between a send and its mark may repeat one)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.telegram_server import ApiError, FakeTelegram

TITLE = "Cải tiến máy hàn tự động"
DESC = "Vấn đề: hàn tay chậm. Giải pháp: đồ gá tự động. Áp dụng ở phân xưởng cơ khí."


class Bot:
    """`sangkien run` as a real process on one SQLite file, pointed at the fake."""

    def __init__(self, fake: FakeTelegram, db: Path) -> None:
        self.fake = fake
        self.env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                    "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_BASE_URL": fake.base_url,
                    "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "en", "LOG_LEVEL": "INFO",
                    "UPKEEP_SECONDS": "0.5", "UNSENT_REPLY_SECONDS": "1.5",
                    "JOB_LEASE_SECONDS": "2",
                    "SANGKIEN_HOME": str(db.parent)}
        self.cwd = db.parent
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.killed = asyncio.Event()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=self.env, cwd=self.cwd,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            self.kills += 1
            self.killed.set()

    async def restart(self) -> None:
        assert self.proc is not None
        await self.proc.wait()
        await self.start()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), timeout=30)


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[Bot]:
    async with FakeTelegram() as fake:
        bot = Bot(fake, tmp_path / "crash.db")
        await bot.start()
        try:
            yield bot
        finally:
            await bot.stop()


def texts(fake: FakeTelegram, chat: int) -> list[str]:
    return [m["text"] for m in fake.messages(chat)]


async def seen(fake: FakeTelegram, chat: int, fragment: str) -> int:
    """Wait until `fragment` is in a message to `chat`; how many messages hold it."""
    await fake.wait_for_text(chat, fragment, timeout=30)
    return sum(fragment in t for t in texts(fake, chat))


def db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_killed_between_the_commit_and_the_reply(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        fake, chat = bot.fake, 8101
        fake.push_text(chat, "/sangkien")
        await seen(fake, chat, "Step 1")

        async def die_before_it_arrives(params: dict[str, Any]) -> None:
            if params.get("chat_id") == chat and "Title saved" in str(params.get("text")):
                if not bot.kills:
                    bot.kill()
                    raise ApiError(502, "Bad Gateway")   # the reply never reached the user

        fake.on_call("sendMessage", die_before_it_arrives)
        fake.push_text(chat, TITLE)
        await asyncio.wait_for(bot.killed.wait(), timeout=30)
        await bot.restart()
        assert await seen(fake, chat, "Title saved") == 1       # sent after the restart
        assert await seen(fake, chat, "Step 2") >= 1
        fake.push_text(chat, DESC)
        await seen(fake, chat, "Step 3")
    titles = db_rows(tmp_path / "crash.db", "SELECT title, description FROM draft")
    assert titles == [(TITLE, DESC)]                              # handled once


async def test_killed_between_a_send_and_its_mark(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        fake, chat = bot.fake, 8102
        fake.push_text(chat, "/sangkien")
        await seen(fake, chat, "Step 1")

        async def die_once_it_is_sent(params: dict[str, Any]) -> None:
            if params.get("chat_id") == chat and "Title saved" in str(params.get("text")):
                if not bot.kills:
                    asyncio.get_running_loop().call_later(0.02, bot.kill)

        fake.on_call("sendMessage", die_once_it_is_sent)
        fake.push_text(chat, TITLE)
        await seen(fake, chat, "Title saved")
        await bot.restart()
        fake.push_text(chat, DESC)
        await seen(fake, chat, "Step 3")
        assert await seen(fake, chat, "Title saved") in (1, 2)     # at least once
    assert db_rows(tmp_path / "crash.db", "SELECT title, description FROM draft") == [
        (TITLE, DESC)]


async def test_killed_before_the_commit(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    async with running(tmp_path) as bot:
        fake, chat = bot.fake, 8103
        fake.push_text(chat, "/sangkien")
        await seen(fake, chat, "Step 1")
        blocker = sqlite3.connect(db, timeout=30)
        blocker.execute("BEGIN IMMEDIATE")          # the bot's transaction waits for this
        try:
            update_id = fake.push_text(chat, TITLE)
            await fake.wait_delivered(update_id, timeout=30)
            await asyncio.sleep(0.5)                  # fetched, and waiting for the lock
            bot.kill()
        finally:
            blocker.rollback()
            blocker.close()
        await bot.restart()
        assert await seen(fake, chat, "Title saved") == 1
    assert db_rows(db, "SELECT title FROM draft") == [(TITLE,)]


async def test_killed_inside_the_next_getupdates(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        fake, chat = bot.fake, 8104
        fake.push_text(chat, "/sangkien")
        await seen(fake, chat, "Step 1")
        first = fake.push_text(chat, TITLE)

        async def die_confirming(params: dict[str, Any]) -> None:
            if int(params.get("offset") or 0) > first and not bot.kills:
                bot.kill()
                raise ApiError(502, "Bad Gateway")

        fake.on_call("getUpdates", die_confirming)
        await asyncio.wait_for(bot.killed.wait(), timeout=30)
        await bot.restart()
        fake.push_text(chat, DESC)
        await seen(fake, chat, "Step 3")
        assert await seen(fake, chat, "Title saved") in (1, 2)
    assert db_rows(tmp_path / "crash.db", "SELECT title, description FROM draft") == [
        (TITLE, DESC)]

