"""The Telegram channel's own long polling, against the fake Bot API over real HTTP.

The point of the polling loop: Telegram is told a batch is done (the next getUpdates'
`offset`) only once the core has committed every update in it. These tests hold the
database from outside the application — SQLite's write lock, or the user's account row on
PostgreSQL — so that one update cannot commit, and watch the offsets the fake is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from telegram import Bot

from bot.core import Core
from handlers.telegram import TelegramChannel, TokenRejected
from tests.channels import TelegramHarness, running
from tests.fakes.telegram_server import FakeTelegram

USER, OTHER = 7001, 7002
HELP = "Commands"  # the first line of /trogiup's answer
NOTHING_YET = "You have not submitted any initiative yet"  # /cuatoi's, for a new user


class Outside:
    """The application's database, seen and held from outside the application."""

    def __init__(self, backend: str, tmp_path: Path,
                 db_factory: Callable[[], AsyncEngine]) -> None:
        self.backend = backend
        self.path = tmp_path / "test.db"  # where tests/conftest.py puts the SQLite file
        self.engine = db_factory() if backend == "postgres" else None
        self._sqlite: sqlite3.Connection | None = None
        self._pg: AsyncConnection | None = None

    async def committed(self) -> set[str]:
        """The Telegram update ids the core has committed (visible to other connections)."""
        sql = "SELECT event_id FROM inbound_event WHERE channel = 'telegram'"
        if self.engine is not None:
            async with self.engine.connect() as conn:
                return set((await conn.execute(text(sql))).scalars())
        # A plain reader: in WAL mode it sees the last commit, whoever holds the write lock.
        with closing(sqlite3.connect(self.path)) as conn:
            return {row[0] for row in conn.execute(sql)}

    async def hold(self, user: int) -> None:
        """Make the core wait before it can commit anything for `user`."""
        if self.engine is not None:
            self._pg = await self.engine.connect()
            await self._pg.begin()
            await self._pg.execute(text(
                "SELECT id FROM account WHERE channel = 'telegram' AND external_id = :u "
                "FOR UPDATE"), {"u": str(user)})
            return
        self._sqlite = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
        await asyncio.to_thread(self._sqlite.execute, "BEGIN IMMEDIATE")

    async def release(self) -> None:
        if self._pg is not None:
            await self._pg.rollback()
            await self._pg.close()
            self._pg = None
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
            self._sqlite = None

    async def close(self) -> None:
        await self.release()
        if self.engine is not None:
            await self.engine.dispose()


@pytest.fixture
async def app(db_factory: Callable[[], AsyncEngine]) -> AsyncIterator[TelegramHarness]:
    async with running(TelegramHarness(db_factory)) as harness:
        yield harness


@pytest.fixture
async def outside(backend: str, tmp_path: Path,
                  db_factory: Callable[[], AsyncEngine]) -> AsyncIterator[Outside]:
    db = Outside(backend, tmp_path, db_factory)
    try:
        yield db
    finally:
        await db.close()


def channel(app: TelegramHarness) -> TelegramChannel:
    assert isinstance(app.channel, TelegramChannel)
    return app.channel


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    try:
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110 (what is checked has no event to wait on)
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(what) from None


# --------------------------------------------------------------------------- confirmation


async def test_an_offset_confirms_only_committed_updates(app: TelegramHarness,
                                                         outside: Outside) -> None:
    """Every getUpdates with offset N+1 comes after update N is committed: while one update
    cannot commit, no later offset is sent; once it commits, the next poll confirms it."""
    await app.send(USER, "/start")
    await app.send(OTHER, "/start")
    polls: list[tuple[int | None, set[str]]] = []  # (offset, committed ids) at each poll

    async def look(params: dict[str, Any]) -> None:
        polls.append((params.get("offset"), await outside.committed()))

    app.fake.on_call("getUpdates", look)
    await outside.hold(USER)
    try:
        slow = app.fake.push_text(USER, "/trogiup")
        other = app.fake.push_text(OTHER, "/trogiup")
        await app.fake.wait_delivered(slow)
        await asyncio.sleep(0.5)  # ample for a poller that does not wait for the commit
        assert str(slow) not in await outside.committed()  # the hold works
        assert all(offset is None or offset <= slow for offset, _ in polls), polls
    finally:
        await outside.release()

    last = max(slow, other)
    await eventually(lambda: any(offset == last + 1 for offset, _ in polls),
                     f"no getUpdates confirmed update {last}: {polls}")
    for offset, committed in polls:
        before = {str(u) for u in app.fake.deliveries if offset is not None and u < offset}
        assert before <= committed, f"offset {offset} sent before {before - committed} committed"
    await app.fake.wait_for_text(USER, HELP)
    await app.fake.wait_for_text(OTHER, HELP)


async def test_replies_do_not_hold_up_the_next_poll(app: TelegramHarness) -> None:
    """A batch is confirmed once committed, while its replies are still on their way."""
    await app.send(USER, "/start")
    before = len(app.fake.messages(USER))
    gate = asyncio.Event()

    async def slow_send(_params: dict[str, Any]) -> None:
        await gate.wait()

    app.fake.on_call("sendMessage", slow_send)
    update = app.fake.push_text(USER, "/trogiup")
    try:
        poll = await app.fake.wait_for_call("getUpdates",
                                            lambda p: p.get("offset") == update + 1)
        assert len(app.fake.messages(USER)) == before  # the reply is still held
        assert poll["allowed_updates"] == ["message", "callback_query"] and poll["timeout"] == 1
    finally:
        gate.set()
    await app.fake.wait_for_text(USER, HELP)


async def test_one_chat_in_order_other_chats_alongside(app: TelegramHarness) -> None:
    """A chat's replies go out in its updates' order even when the first send is slow; another
    chat's reply does not wait for them."""
    await app.onboard(USER)
    await app.onboard(OTHER)
    gate = asyncio.Event()
    held: list[int] = []

    async def hold_first_to_user(params: dict[str, Any]) -> None:
        if params.get("chat_id") == USER and not held:
            held.append(USER)
            await gate.wait()

    app.fake.on_call("sendMessage", hold_first_to_user)
    start = len(app.fake.messages(USER))
    app.fake.push_text(USER, "/trogiup")
    app.fake.push_text(USER, "/cuatoi")
    app.fake.push_text(OTHER, "/cuatoi")
    try:
        await app.fake.wait_for_text(OTHER, NOTHING_YET)
        assert app.texts(USER)[start:] == []
    finally:
        gate.set()
    await app.fake.wait_for_messages(USER, start + 2)
    first, second = app.texts(USER)[start:start + 2]
    assert first.startswith(HELP) and second.startswith(NOTHING_YET)


async def test_a_killed_process_loses_no_update(tmp_path: Path) -> None:
    """`sangkien run` killed (SIGKILL) after fetching updates it has not committed: the
    next process gets them again and answers every one."""
    db = tmp_path / "run.db"
    async with FakeTelegram() as fake:
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
               "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_BASE_URL": fake.base_url,
               "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "en", "LOG_LEVEL": "WARNING"}

        async def run() -> asyncio.subprocess.Process:
            calls = len(fake.calls)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await fake.wait_for_call("getUpdates", since=calls, timeout=30)
            return proc

        first = await run()
        lock = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        await asyncio.to_thread(lock.execute, "BEGIN IMMEDIATE")
        users = range(8001, 8021)
        try:
            ids = [fake.push_text(user, "/start") for user in users]
            await fake.wait_delivered(ids[-1])
            await asyncio.sleep(0.5)  # ample for a poller that confirms before the commit
            first.kill()
            await first.wait()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        second = await run()
        try:
            for user in users:
                await fake.wait_for_messages(user, 1, timeout=30)
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), timeout=30) == 0
        with closing(sqlite3.connect(db)) as conn:
            committed = {r[0] for r in conn.execute("SELECT event_id FROM inbound_event")}
        assert {str(i) for i in ids} <= committed
        assert fake.pending_updates == []  # the stopping process confirmed its last batch


# --------------------------------------------------------------------------- the entry point


def text_update(update_id: int, user: int, body: str, *, chat_type: str = "private"
                ) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": body,
        "chat": {"id": user, "type": chat_type, "first_name": "Lan"},
        "from": {"id": user, "is_bot": False, "first_name": "Lan", "language_code": "en"}}}


async def test_handle_update_returns_once_committed(app: TelegramHarness,
                                                    outside: Outside) -> None:
    await app.send(USER, "/start")
    before = len(app.fake.messages(USER))
    sending = await channel(app).handle_update(text_update(900_001, USER, "/trogiup"))
    assert "900001" in await outside.committed()
    assert sending is not None
    await sending
    assert app.texts(USER)[before].startswith(HELP)

    # A group message, an update of another kind, a malformed one: nothing to do.
    assert await channel(app).handle_update(
        text_update(900_002, USER, "/trogiup", chat_type="group")) is None
    assert await channel(app).handle_update({"update_id": 900_003, "edited_message": {}}) is None
    assert await channel(app).handle_update({"update_id": 900_004, "message": {}}) is None
    assert not {"900002", "900003", "900004"} & await outside.committed()


async def test_concurrent_updates_of_one_chat_commit_in_call_order(app: TelegramHarness) -> None:
    await app.send(USER, "/start")
    title = "Cải tiến dây chuyền đóng gói sản phẩm"
    tasks = await asyncio.gather(
        channel(app).handle_update(text_update(900_011, USER, "/sangkien")),
        channel(app).handle_update(text_update(900_012, USER, title)))
    await asyncio.gather(*[t for t in tasks if t is not None])
    assert any("Step 2" in t for t in app.texts(USER)[-2:])  # the title was taken as one


# --------------------------------------------------------------------------- errors


def no_token(records: list[logging.LogRecord], token: str) -> bool:
    secret = token.split(":", 1)[1]
    return all(secret not in r.getMessage() and secret not in (r.exc_text or "")
               for r in records)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own
async def test_server_errors_and_flood_control_are_waited_out(
        app: TelegramHarness, caplog: pytest.LogCaptureFixture) -> None:
    channel(app).retry_delay = 0.05
    await app.send(USER, "/start")

    def retries() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == "handlers.telegram" and "retrying" in r.getMessage()]

    with caplog.at_level(logging.INFO, logger="handlers.telegram"):
        app.fake.fail_next("getUpdates", error_code=502, description="Bad Gateway")
        app.fake.fail_next("getUpdates", error_code=500, description="Internal Server Error")
        app.fake.fail_next("getUpdates", error_code=429, retry_after=1)
        await eventually(lambda: len(retries()) == 3, "three failed polls not logged")
        seen = await app.send(USER, "/trogiup")
    assert seen[0].startswith(HELP)
    assert "Bad Gateway" in retries()[0] and "flood control" in retries()[2]
    assert no_token(caplog.records, app.fake.token)


async def test_a_conflict_is_named_and_polling_resumes(
        app: TelegramHarness, caplog: pytest.LogCaptureFixture) -> None:
    channel(app).retry_delay = 0.05
    channel(app).max_retry_delay = 0.2
    await app.send(USER, "/start")

    def conflicts() -> list[str]:
        return [r.getMessage() for r in caplog.records if "409" in r.getMessage()]

    async with Bot(app.fake.token, base_url=app.fake.base_url) as other:
        with caplog.at_level(logging.ERROR, logger="handlers.telegram"):
            await other.set_webhook("https://example.org/hook")
            await eventually(lambda: bool(conflicts()), "no 409 logged")
            app.fake.push_text(USER, "/trogiup")
            await asyncio.sleep(0.1)
            await other.delete_webhook()
            await app.fake.wait_for_text(USER, HELP)
    assert "webhook" in conflicts()[0] and "Another process is polling" in conflicts()[0]
    assert no_token(caplog.records, app.fake.token)


async def test_a_rejected_token_stops_polling(app: TelegramHarness,
                                              caplog: pytest.LogCaptureFixture) -> None:
    app.fake.fail_next("getUpdates", error_code=401, description="Unauthorized")
    polling = channel(app).polling
    assert polling is not None
    with caplog.at_level(logging.INFO, logger="handlers.telegram"):
        await asyncio.wait([polling], timeout=10)
    assert polling.done() and isinstance(polling.exception(), TokenRejected)
    [critical] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "rejected the bot token" in critical.getMessage()
    assert no_token(caplog.records, app.fake.token)


async def test_a_wrong_token_fails_at_start_without_quoting_it() -> None:
    async with FakeTelegram() as fake:
        wrong = "999999:" + "W" * 35
        ch = TelegramChannel(None, token=wrong, base_url=fake.base_url)  # type: ignore[arg-type]
        with pytest.raises(TokenRejected) as info:
            await ch.start()
        assert "W" * 35 not in str(info.value)
        assert info.value.__cause__ is None and info.value.__context__ is None


async def test_a_core_failure_leaves_the_batch_unconfirmed(
        db_factory: Callable[[], AsyncEngine], caplog: pytest.LogCaptureFixture) -> None:
    """Should the core raise (here: it was closed under the channel), the batch is not
    confirmed: the updates stay with Telegram for the next process."""
    async with FakeTelegram() as fake:
        engine = db_factory()
        core = Core(engine)
        ch = TelegramChannel(core, token=fake.token, base_url=fake.base_url, poll_timeout=1,
                             retry_delay=0.05, max_retry_delay=0.1)
        await ch.start()
        try:
            await core.aclose()
            update = fake.push_text(USER, "/start")
            with caplog.at_level(logging.ERROR, logger="handlers.telegram"):
                await eventually(lambda: fake.deliveries.count(update) >= 2,
                                 "the batch was not fetched again")
            assert update in [u["update_id"] for u in fake.pending_updates]
            assert any("fetched again" in r.getMessage() for r in caplog.records)
        finally:
            await ch.stop()
            await engine.dispose()


# --------------------------------------------------------------------------- button presses


async def test_a_double_tap_is_answered_twice_and_edited_once(app: TelegramHarness) -> None:
    """The second press of a double tap is stale: its toast is the whole answer. (Removing
    the keyboard again would be one more call, failing with "message is not modified".)"""
    await app.send(USER, "/start")
    [(message_id, _label, data), *_] = app.options(USER)
    since = len(app.fake.calls)
    app.fake.push_callback(USER, message_id, data)
    app.fake.push_callback(USER, message_id, data)
    await eventually(lambda: len(app.fake.callback_answers) == 2, "both presses answered")
    await app.fake.wait_idle(quiet=0.15)
    made = [name for name, _params in app.fake.calls[since:] if name != "getUpdates"]
    assert made.count("editMessageReplyMarkup") == 1 and made.count("answerCallbackQuery") == 2
    first, second = app.fake.callback_answers
    assert first["text"] is None and second["text"]  # the stale-button notice
    assert app.fake.server_errors == []
