"""The outbox: durable queue, claims, the sender worker and Telegram delivery.

The worker runs against the fake Bot API server over real HTTP with a real PTB `Bot`, on
SQLite and PostgreSQL. The fake's `calls` list is swapped for one that stamps each call with
`time.monotonic()`, so pacing is checked as the server saw it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from typing import Any

import pytest
import telegram
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery import DeliveryError, RetryLater, Transient, Unreachable
from bot.events import Option, Reply
from bot.outbox import OutboxWorker
from handlers.telegram_sender import TelegramSender
from storage import outbox
from storage.engine import utcnow
from storage.models import account_t, outbox_t, person_t
from tests.fakes.telegram_server import FakeTelegram

CHATS = [9101, 9102, 9103, 9104, 9105]
FAST = {"poll_interval": 0.02, "retry_delay": lambda attempts: 0.05}


class TimedCalls(list):  # type: ignore[type-arg]
    """`fake.calls` that also records when each call reached the server."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        self.times.append(time.monotonic())
        super().append(item)

    def sends(self, chat: int | None = None) -> list[tuple[float, dict[str, Any]]]:
        return [(t, params) for t, (name, params) in zip(self.times, self, strict=True)
                if name == "sendMessage" and (chat is None or params.get("chat_id") == chat)]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    server.calls = TimedCalls()
    await server.start()
    for chat in [*CHATS, *range(9201, 9213)]:
        server.add_user(chat)
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    b = telegram.Bot(fake.token, base_url=fake.base_url)
    await b.initialize()
    try:
        yield b
    finally:
        await b.shutdown()


def calls(fake: FakeTelegram) -> TimedCalls:
    assert isinstance(fake.calls, TimedCalls)
    return fake.calls


# --------------------------------------------------------------------------- helpers


async def run(engine: AsyncEngine, fn: Callable[[Connection], Any]) -> Any:
    async with engine.begin() as conn:
        return await conn.run_sync(fn)


async def add_accounts(engine: AsyncEngine, chats: Iterable[int],
                       channel: str = "telegram") -> dict[int, int]:
    """A person and an account per chat; returns chat → account id."""
    now = utcnow()

    def go(conn: Connection) -> dict[int, int]:
        out = {}
        for chat in chats:
            person = conn.execute(insert(person_t).values(name=f"P{chat}", created_at=now)
                                  .returning(person_t.c.id)).scalar_one()
            out[chat] = conn.execute(insert(account_t).values(
                channel=channel, external_id=str(chat), chat_id=str(chat), person_id=person,
                created_at=now, updated_at=now).returning(account_t.c.id)).scalar_one()
        return out

    return await run(engine, go)


async def enqueue(engine: AsyncEngine, messages: list[tuple[int, str]],
                  accounts: dict[int, int], **kw: Any) -> list[int | None]:
    now = utcnow()
    return await run(engine, lambda c: [
        outbox.enqueue(c, channel=kw.get("channel", "telegram"), chat_id=str(chat),
                       account_id=accounts.get(chat), kind="alert", locale="vi", text=text,
                       options=kw.get("options", []), now=now,
                       dedupe_key=kw.get("dedupe_key"), not_before=kw.get("not_before"),
                       priority=kw.get("priority", 0))
        for chat, text in messages])


async def rows(engine: AsyncEngine) -> dict[int, dict[str, Any]]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(outbox_t).order_by(outbox_t.c.id))).mappings()
        return {r["id"]: dict(r) for r in found}


async def drain(engine: AsyncEngine, timeout: float = 15.0) -> dict[str, int]:  # noqa: ASYNC109
    """Wait until no row is pending or being sent; returns the status counts."""
    deadline = time.monotonic() + timeout
    while True:
        counts = Counter(r["status"] for r in (await rows(engine)).values())
        if not counts["pending"] and not counts["sending"]:
            return dict(counts)
        assert time.monotonic() < deadline, f"outbox not drained: {counts}"
        await asyncio.sleep(0.05)


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def delivered(fake: FakeTelegram, chats: Iterable[int]) -> dict[int, list[str]]:
    return {chat: [m["text"] for m in fake.messages(chat)] for chat in chats}


# --------------------------------------------------------------------------- storage


async def test_dedupe_key_prevents_a_second_enqueue(db: AsyncEngine) -> None:
    accounts = await add_accounts(db, [CHATS[0]])
    first = await enqueue(db, [(CHATS[0], "Hello")], accounts, dedupe_key="digest:1:2025-01-02")
    again = await enqueue(db, [(CHATS[0], "Hello")], accounts, dedupe_key="digest:1:2025-01-02")
    plain = await enqueue(db, [(CHATS[0], "Hi"), (CHATS[0], "Hi")], accounts)
    assert first[0] is not None and again == [None] and None not in plain
    assert len(await rows(db)) == 3


async def test_prune_drops_only_old_finished_rows(db: AsyncEngine) -> None:
    accounts = await add_accounts(db, [CHATS[0]])
    ids = await enqueue(db, [(CHATS[0], f"m{i}") for i in range(5)], accounts)
    old = utcnow() - timedelta(days=40)
    statuses = ["sent", "failed", "unreachable", "pending", "sent"]
    async with db.begin() as conn:
        for i, (row_id, status) in enumerate(zip(ids, statuses, strict=True)):
            await conn.execute(update(outbox_t).where(outbox_t.c.id == row_id).values(
                status=status, created_at=old if i < 4 else utcnow()))
    cut = utcnow() - timedelta(days=30)
    assert await run(db, lambda c: outbox.prune(c, before=cut, limit=2)) == 2
    assert await run(db, lambda c: outbox.prune(c, before=cut)) == 1
    assert await run(db, lambda c: outbox.prune(c, before=cut)) == 0
    # The pending row (however old) and the recent sent one stay.
    assert sorted(r["status"] for r in (await rows(db)).values()) == ["pending", "sent"]


async def test_claims_keep_chat_order_and_lease_rows(db: AsyncEngine) -> None:
    x, y, z = CHATS[:3]
    accounts = await add_accounts(db, [x, y, z])
    now = utcnow()
    later = now + timedelta(hours=1)
    scheduled = (await enqueue(db, [(x, "digest at 17:00")], accounts, not_before=later))[0]
    x_due, y1, y2 = await enqueue(db, [(x, "alert"), (y, "y1"), (y, "y2")], accounts)
    zalo = (await enqueue(db, [(z, "elsewhere")], accounts, channel="zalo"))[0]

    def claim(conn: Connection, at: Any = None) -> list[int]:
        return [r["id"] for r in outbox.claim_due(
            conn, now=at or utcnow(), limit=50, lease_seconds=60, channels=["telegram"])]

    # A row scheduled for later does not hold up its chat; one row per chat; channel filter.
    assert await run(db, claim) == [x_due, y1]
    assert await run(db, claim) == []  # y2 waits while y1 is in flight
    assert y1 is not None and x_due is not None and y2 is not None
    await run(db, lambda c: outbox.mark_retry(c, id=y1, not_before=later, error="e",
                                              now=utcnow()))
    assert await run(db, claim) == []  # ... and while y1 backs off
    # Expired leases are released: x_due's claimer "crashed".
    assert await run(db, lambda c: claim(c, now + timedelta(minutes=5))) == [x_due]
    await run(db, lambda c: outbox.mark_sent(c, ids=[x_due], now=utcnow()))
    found = await rows(db)
    assert found[y1]["attempts"] == 1 and found[y1]["last_error"] == "e"
    assert found[x_due]["status"] == "sent" and found[zalo]["status"] == "pending"
    assert found[scheduled]["status"] == "pending"
    assert await run(db, lambda c: outbox.counts(c)) == {"sent": 1, "pending": 4}
    with pytest.raises(ValueError, match="token"):
        await enqueue(db, [(x, "t")], accounts, options=[{"label": "L", "token": "a" * 65}])


# --------------------------------------------------------------------------- the sender


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own
async def test_telegram_sender_draws_and_translates(fake: FakeTelegram,
                                                    bot: telegram.Bot) -> None:
    sender = TelegramSender(bot)
    chat = CHATS[0]
    long_text = "\n".join(f"<b>Dòng {i}</b> " + "x" * 90 for i in range(60))  # > 4,096 chars
    options = (Option("Hợp lệ", "a:valid:1", "/hople SK-000001"), Option("Xem", "a:view:1"))
    await sender.deliver(str(chat), Reply(long_text, options), "vi")
    sent = fake.messages(chat)
    assert len(sent) == 2 and sent[0]["reply_markup"] is None
    assert [b[0]["callback_data"] for b in sent[1]["reply_markup"]["inline_keyboard"]] == [
        "a:valid:1", "a:view:1"]

    errors: list[DeliveryError] = []
    for setup, target, text in [
        (lambda: fake.fail_next("sendMessage", error_code=429, retry_after=3), chat, "x"),
        (lambda: fake.fail_next("sendMessage", error_code=500,
                                description="Internal Server Error"), chat, "x"),
        (lambda: fake.block_user(CHATS[1]), CHATS[1], "x"),
        (lambda: None, 4242, "x"),  # chat not found
        (lambda: None, chat, "<br>"),  # our mistake: a permanent error
    ]:
        setup()
        with pytest.raises(DeliveryError) as info:
            await sender.deliver(str(target), Reply(text), "vi")
        errors.append(info.value)
    kinds = [type(e) for e in errors]
    assert kinds == [RetryLater, Transient, Unreachable, Unreachable, DeliveryError]
    assert isinstance(errors[0], RetryLater) and errors[0].seconds == 3
    for error in errors:
        assert fake.token not in str(error) and fake.token.split(":")[1] not in str(error)


# --------------------------------------------------------------------------- the worker


async def test_messages_arrive_once_in_order_and_paced_per_chat(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot) -> None:
    accounts = await add_accounts(db, CHATS)
    messages = [(chat, f"Tin {i} cho {chat}") for i in range(4) for chat in CHATS]
    await enqueue(db, messages, accounts)
    worker = OutboxWorker(db, [TelegramSender(bot)], per_chat_interval=1.0, **FAST)
    started = time.monotonic()
    await worker.start()
    try:
        assert await drain(db) == {"sent": 20}
    finally:
        await worker.stop()
    elapsed = time.monotonic() - started
    assert delivered(fake, CHATS) == {
        chat: [f"Tin {i} cho {chat}" for i in range(4)] for chat in CHATS}
    assert len(calls(fake).sends()) == 20
    for chat in CHATS:
        times = [t for t, _params in calls(fake).sends(chat)]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 1.0, (chat, gaps)
    # Chats are served side by side: four messages each take about three per-chat gaps
    # (about 3.5 s); one chat after another would take over 15 s.
    assert elapsed < 12.0, elapsed


async def test_a_graceful_stop_then_restart_sends_each_message_once(
        db_factory: Callable[[], AsyncEngine], fake: FakeTelegram, bot: telegram.Bot) -> None:
    chats = list(range(9201, 9207))
    engine = db_factory()
    accounts = await add_accounts(engine, chats)
    messages = [(chat, f"Thông báo {i} / {chat}") for i in range(2) for chat in chats]
    await enqueue(engine, messages, accounts)
    # A slow overall rate so that the stop lands in the middle of a round.
    worker = OutboxWorker(engine, [TelegramSender(bot)], global_rate=8.0,
                          per_chat_interval=0.05, **FAST)
    await worker.start()
    await until(lambda: len(calls(fake).sends()) >= 3)
    await worker.stop()
    after_stop = await rows(engine)
    statuses = Counter(r["status"] for r in after_stop.values())
    assert statuses["sending"] == 0 and 0 < statuses["pending"] < 12, statuses
    # Every row marked sent was delivered, and nothing else was.
    sent_texts = sorted(r["text"] for r in after_stop.values() if r["status"] == "sent")
    assert sent_texts == sorted(p["text"] for _t, p in calls(fake).sends())
    await engine.dispose()

    engine = db_factory()  # the restart: a new process, a new engine
    worker = OutboxWorker(engine, [TelegramSender(bot)], per_chat_interval=0.05, **FAST)
    await worker.start()
    try:
        assert await drain(engine) == {"sent": 12}
    finally:
        await worker.stop()
        await engine.dispose()
    assert delivered(fake, chats) == {
        chat: [f"Thông báo {i} / {chat}" for i in range(2)] for chat in chats}
    assert len(calls(fake).sends()) == 12


async def test_rows_of_a_crashed_sender_are_sent_after_the_lease(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot) -> None:
    a, b = CHATS[:2]
    accounts = await add_accounts(db, [a, b])
    crashed, alive = await enqueue(
        db, [(a, "claimed by a crashed sender"), (b, "claimed by a live sender")], accounts)
    await run(db, lambda c: outbox.claim_due(c, now=utcnow(), limit=10, lease_seconds=60,
                                             channels=["telegram"]))
    # A minute on, the first claimer has died: its lease ran out. The other is still alive.
    await run(db, lambda c: c.execute(update(outbox_t).where(outbox_t.c.id == crashed)
                                      .values(claimed_until=utcnow() - timedelta(seconds=1))))
    worker = OutboxWorker(db, [TelegramSender(bot)], **FAST)
    assert await worker.run_once() == 1
    found = await rows(db)
    assert found[crashed]["status"] == "sent" and found[alive]["status"] == "sending"
    assert delivered(fake, [a, b]) == {a: ["claimed by a crashed sender"], b: []}


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_control_pauses_the_channel_and_retries_once(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot) -> None:
    a, b = CHATS[:2]
    accounts = await add_accounts(db, [a, b])
    first, second = await enqueue(db, [(a, "first"), (b, "second")], accounts)
    fake.fail_next("sendMessage", error_code=429, retry_after=1)
    # Paced so that the second row is still waiting when the 429 comes back.
    worker = OutboxWorker(db, [TelegramSender(bot)], global_rate=5.0, **FAST)
    await worker.start()
    try:
        assert await drain(db) == {"sent": 2}
    finally:
        await worker.stop()
    sends = calls(fake).sends()
    # Which of the two goes first after the pause depends on microseconds; both wait it out.
    assert sends[0][1]["text"] == "first"
    assert Counter(p["text"] for _t, p in sends) == {"first": 2, "second": 1}
    flood = sends[0][0]
    assert sends[1][0] - flood >= 1.0 and sends[2][0] - flood >= 1.0
    assert delivered(fake, [a, b]) == {a: ["first"], b: ["second"]}
    found = await rows(db)
    # "Slow down" says nothing about the message: it does not use up an attempt.
    assert found[first]["attempts"] == 0 and "retry after 1" in found[first]["last_error"]
    assert found[second]["attempts"] == 0


async def test_a_blocked_user_is_marked_unreachable_and_not_retried(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot) -> None:
    blocked, other = CHATS[:2]
    accounts = await add_accounts(db, [blocked, other])
    await enqueue(db, [(blocked, "one"), (blocked, "two"), (other, "hello")], accounts)
    fake.block_user(blocked)
    worker = OutboxWorker(db, [TelegramSender(bot)], per_chat_interval=0.05, **FAST)
    while await worker.run_once():
        pass
    assert [r["status"] for r in (await rows(db)).values()] == [
        "unreachable", "unreachable", "sent"]
    assert len(calls(fake).sends(blocked)) == 1  # the chat's queued row was not tried
    async with db.connect() as conn:
        reachable = dict((await conn.execute(select(account_t.c.id, account_t.c.reachable)
                                             .where(account_t.c.id.in_(accounts.values())))
                          ).all())
    assert reachable == {accounts[blocked]: False, accounts[other]: True}
    assert await worker.run_once() == 0 and len(calls(fake).sends(blocked)) == 1


async def test_transient_failures_are_retried_then_given_up(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot,
        caplog: pytest.LogCaptureFixture) -> None:
    a, b = CHATS[:2]
    accounts = await add_accounts(db, [a, b])
    secret = "Gọi 0912 345 678"
    worker = OutboxWorker(db, [TelegramSender(bot)], max_attempts=3, per_chat_interval=0.05,
                          **FAST)
    caplog.set_level(logging.DEBUG, logger="bot.outbox")
    ok = (await enqueue(db, [(a, f"{secret} · ok")], accounts))[0]
    fake.fail_next("sendMessage", error_code=500, description="Internal Server Error")
    assert ok is not None
    deadline = time.monotonic() + 10
    while True:  # the first send meets the 500; the retry is due 50 ms later
        if not await worker.run_once() and (await rows(db))[ok]["status"] == "sent":
            break
        assert time.monotonic() < deadline, (await rows(db))[ok]
        await asyncio.sleep(0.02)
    found = await rows(db)
    assert found[ok]["attempts"] == 1 and "NetworkError" in found[ok]["last_error"]
    assert delivered(fake, [a]) == {a: [f"{secret} · ok"]}

    doomed = (await enqueue(db, [(b, f"{secret} · doomed")], accounts))[0]
    assert doomed is not None
    fake.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=3)
    deadline = time.monotonic() + 10
    while (await rows(db))[doomed]["status"] in ("pending", "sending"):
        assert time.monotonic() < deadline, "the failing row was never given up"
        await worker.run_once()
        await asyncio.sleep(0.02)
    found = await rows(db)
    assert found[doomed]["status"] == "failed" and found[doomed]["attempts"] == 3
    # The worker's own lines name rows, never their text. (PTB itself logs parameters at
    # DEBUG: keep the "telegram" logger at INFO or above in production.)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "bot.outbox")
    assert f"row {doomed}" in ours and secret not in ours and "0912" not in ours


async def test_two_workers_never_send_a_row_twice(
        db_factory: Callable[[], AsyncEngine], fake: FakeTelegram, bot: telegram.Bot) -> None:
    chats = list(range(9201, 9211))
    engines = [db_factory(), db_factory()]
    accounts = await add_accounts(engines[0], chats)
    messages = [(chat, f"m{i}-{chat}") for i in range(4) for chat in chats]
    await enqueue(engines[0], messages, accounts)
    workers = [OutboxWorker(e, [TelegramSender(bot)], batch=3, per_chat_interval=0.05,
                            global_rate=200.0, **FAST) for e in engines]
    for w in workers:
        await w.start()
    try:
        assert await drain(engines[0]) == {"sent": 40}
    finally:
        for w in workers:
            await w.stop()
        for e in engines:
            await e.dispose()
    assert len(calls(fake).sends()) == 40
    assert delivered(fake, chats) == {chat: [f"m{i}-{chat}" for i in range(4)] for chat in chats}
    # (Which worker sent how many depends on timing: on a loaded machine one may send all.)
    assert sum(w.stats["sent"] for w in workers) == 40


async def test_the_loop_survives_database_errors(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = await add_accounts(db, [CHATS[0]])
    await enqueue(db, [(CHATS[0], "after the outage")], accounts)
    real, failures = outbox.claim_due, []

    def flaky(conn: Connection, **kw: Any) -> list[dict[str, Any]]:
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("claim", {}, Exception("database is locked"))
        return real(conn, **kw)

    monkeypatch.setattr(outbox, "claim_due", flaky)
    worker = OutboxWorker(db, [TelegramSender(bot)], **FAST)
    await worker.start()
    try:
        assert await drain(db) == {"sent": 1}
    finally:
        await worker.stop()
    assert len(failures) == 2
    assert delivered(fake, [CHATS[0]]) == {CHATS[0]: ["after the outage"]}


async def test_wake_sends_without_waiting_for_the_poll(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot) -> None:
    accounts = await add_accounts(db, [CHATS[0]])
    worker = OutboxWorker(db, [TelegramSender(bot)], poll_interval=30.0)
    await worker.start()
    try:
        await asyncio.sleep(0.1)  # the worker is idle, polling every 30 s
        await enqueue(db, [(CHATS[0], "now")], accounts)
        worker.wake()
        # Well inside the 30 s poll: the wake-up sent it.
        await fake.wait_for_messages(CHATS[0], 1, timeout=10)
    finally:
        await worker.stop()
