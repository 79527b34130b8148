"""A campaign delivered through kill -9s: the scheduler killed mid-expansion and the sender
killed mid-send, several times each, then restarted; every recipient must get exactly one
message, counted at the fake Telegram server (not in our tables).

    python -m bench.bench_campaigns --only deliver [--crash-people 20000] [--deliver-rate 60]

PostgreSQL, a schema of its own: the demo directory and `people` members, each with a
Telegram account whose chat is a user of the fake Bot API, which runs in this process and
records every sendMessage. A campaign to everyone, sent now. Two kinds of child process, each
started, SIGKILLed and started again:

- the scheduler (`python -m bench.campaign_crash_delivery scheduler URL SCHEMA`): slots, then
  expansion batches of 200 until none is due; killed at a quarter and at two thirds of the
  audience queued;
- the sender (`python -m bench.bench_outbox sender …`: an `OutboxWorker` with the Telegram
  sender, paced at `rate` a second through the database): killed `sender_kills` times while
  a sendMessage of its is at the fake server (the request arrived, its answer not yet sent:
  the classic duplicate, a message sent but not marked sent), and once more at a moment the
  bench does not choose (a timer); restarted at once each time.

At the end, once the slot is expanded and no row is pending or sending: per recipient, how
many messages the fake server received (exactly once / twice or more / never), and the
outbox's rows by status (rows handed by a dead sender count `sent`, marked uncertain).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.bench_outbox import Senders, TimedCalls
from bench.common import pct
from bot.campaign_schedule import Cap
from bot.campaign_scheduler import Delivery, expand_batch, make_slots
from storage import outbox
from storage.engine import make_engine
from storage.models import account_t, outbox_t
from tests.fakes.telegram_server import FakeTelegram

SCHEDULER = Delivery(quiet=None, cap=Cap(per_day=100, per_week=100), batch=200,
                     default_locale="vi")


# --------------------------------------------------------------------------- the scheduler child


async def scheduler_main(url: str, schema: str) -> None:
    """Slots, then expansion batches until none is due (the parent kills it midway)."""
    engine = make_engine(url, schema=schema or None)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: make_slots(c, now=datetime.now(UTC),
                                                     delivery=SCHEDULER))
        print("ready", flush=True)
        while True:
            async with engine.begin() as conn:
                result = await conn.run_sync(lambda c: expand_batch(
                    c, now=datetime.now(UTC), delivery=SCHEDULER))
            if result is None:
                return
    finally:
        await engine.dispose()


class Scheduler:
    def __init__(self, url: str, schema: str) -> None:
        self.argv = [sys.executable, "-m", "bench.campaign_crash_delivery", "scheduler", url,
                     schema]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        assert line.startswith(b"ready"), line

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()


# --------------------------------------------------------------------------- the bench


async def run(pg_url: str, people: int, rate: float) -> bool:
    """The part of `bench.bench_campaigns` (`--only deliver`), on PostgreSQL."""
    from bench.bench_campaigns import bulk_people, create_campaign, database

    async with database("postgres", pg_url) as (engine, url, schema):
        await bulk_people(engine, people)
        await create_campaign(engine)
        return await bench_deliver(engine, url, schema, people, rate=rate)


async def queued(engine: Any) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(outbox_t)
                                   .where(outbox_t.c.kind == "campaign"))).scalar_one()


async def active(engine: Any) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(outbox_t).where(
            outbox_t.c.status.in_(("pending", "sending"))))).scalar_one()


async def bench_deliver(engine: Any, url: str, schema: str, people: int, *, rate: float,
                        sender_kills: int = 3) -> bool:
    """`engine`: a migrated PostgreSQL schema with the demo directory, `people` members with
    Telegram accounts and a campaign to them all, not yet expanded."""
    # The fake's users are numbers: the chats become the people's ids.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE account SET chat_id = CAST(person_id AS TEXT) "
                                "WHERE channel = 'telegram' AND person_id IS NOT NULL"))
        chats = [int(c) for c in (await conn.execute(
            select(account_t.c.chat_id).where(account_t.c.channel == "telegram",
                                              account_t.c.person_id.is_not(None))
        )).scalars()]
    kills: list[str] = []
    sender_kills_at: list[datetime] = []   # when each sender died (wall clock, as `sent_at`)
    async with FakeTelegram() as fake:
        fake.calls = calls = TimedCalls()
        for chat in chats:
            fake.add_user(chat)
        trace = f"/tmp/bench_deliver_{schema}"
        senders = Senders(url, schema, fake, rate, trace=trace)
        scheduler = Scheduler(url, schema)
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        # Sender kills from within the fake's handler of a sendMessage: its request is here,
        # its answer not yet sent. Thresholds spread over the campaign.
        thresholds = [people * (i + 1) // (sender_kills + 2) for i in range(sender_kills)]
        restarts: list[asyncio.Task[Any]] = []

        seen = [0]

        def kill_mid_send(params: dict[str, Any]) -> None:
            seen[0] += 1
            victim = senders.procs[-1] if senders.procs else None
            if (thresholds and seen[0] >= thresholds[0] and victim is not None
                    and victim.returncode is None):
                thresholds.pop(0)
                os.kill(victim.pid, signal.SIGKILL)
                sender_kills_at.append(datetime.now(UTC))
                kills.append(f"sender mid-send at {seen[0]:,} sends "
                             f"(+{time.monotonic() - started:.0f} s)")
                restarts.append(loop.create_task(restart_sender(victim)))

        async def restart_sender(victim: asyncio.subprocess.Process) -> None:
            await victim.wait()
            await senders.start(1)

        fake.on_call("sendMessage", kill_mid_send)
        await senders.start(1)
        await scheduler.start()
        # The scheduler: killed at a quarter and at two thirds of the audience queued.
        for share in (4, 3 / 2):
            while await queued(engine) < people / share:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            await scheduler.kill()
            kills.append(f"scheduler mid-expansion at {await queued(engine):,} rows queued "
                         f"(+{time.monotonic() - started:.0f} s)")
            await scheduler.start()
        # The sender once more at a moment of the timer's choosing.
        while len(calls.sends()) < people * (sender_kills + 1) // (sender_kills + 2):  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.137)
        victim = senders.procs[-1]
        await Senders.kill(victim)
        sender_kills_at.append(datetime.now(UTC))
        kills.append(f"sender at a timer's moment at {len(calls.sends()):,} sends "
                     f"(+{time.monotonic() - started:.0f} s)")
        await senders.start(1)
        assert scheduler.proc is not None
        await asyncio.wait_for(scheduler.proc.wait(), 600)
        await asyncio.gather(*restarts)
        deadline = time.monotonic() + 600
        while await active(engine) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        took = time.monotonic() - started
        await asyncio.sleep(1.0)   # anything still on its way
        await senders.stop()
        sends = calls.sends()
    async with engine.connect() as conn:
        statuses = await conn.run_sync(lambda c: outbox.counts(c))
        handed = (await conn.execute(select(outbox_t.c.chat_id, outbox_t.c.sent_at).where(
            outbox_t.c.last_error == outbox.UNCERTAIN))).all()
        marked = (await conn.execute(select(outbox_t.c.chat_id, outbox_t.c.sent_at).where(
            outbox_t.c.kind == "campaign", outbox_t.c.status == "sent",
            outbox_t.c.last_error.is_(None)))).all()
    arrived: dict[int, float] = {}
    for wall, (name, params) in zip(calls.walls, calls, strict=True):
        if name == "sendMessage":
            arrived.setdefault(int(params["chat_id"]), wall)
    # The window a kill leaves a message in doubt: from its handed mark (`sent_at`, taken
    # just before the mark's statement) to its request's arrival at the fake server.
    windows = sorted(arrived[int(c)] - (h if h.tzinfo else h.replace(tzinfo=UTC)).timestamp()
                     for c, h in marked if int(c) in arrived)
    # Split at the moment the sender called the channel's `deliver` (traced per send).
    began = read_trace(trace)
    to_call = sorted(began[int(c)] - (h if h.tzinfo else h.replace(tzinfo=UTC)).timestamp()
                     for c, h in marked if int(c) in began)
    to_arrive = sorted(arrived[c] - at for c, at in began.items() if c in arrived)
    uncertain = len(handed)
    got = Counter(chat for _t, chat, _x in sends)
    once = sum(1 for c in chats if got[c] == 1)
    twice = sum(1 for c in chats if got[c] >= 2)
    never = sum(1 for c in chats if got[c] == 0)
    # Per sender kill: its rows handed but unanswered, and how many of them never arrived
    # (a row's handed mark comes before the kill that left it so).
    per_kill = []
    for i, at in enumerate(sender_kills_at):
        before = sender_kills_at[i - 1] if i else datetime.min.replace(tzinfo=UTC)
        mine = [int(c) for c, h in handed
                if before < (h if h.tzinfo else h.replace(tzinfo=UTC)) <= at]
        per_kill.append(f"{len(mine)} handed / {sum(1 for c in mine if got[c] == 0)} lost")
    strangers = sum(n for c, n in got.items() if c not in set(chats))
    ok = once == people == len(chats) and twice == never == strangers == 0
    print(f"deliver (PostgreSQL, {rate:g}/s): {people:,} recipients; kills: "
          + "; ".join(kills))
    print(f"  at the fake server: exactly once {once:,}, twice or more {twice}, never "
          f"{never}, messages to no recipient {strangers}; outbox {statuses}, of which "
          f"{uncertain} sent by a sender that died before the answer (uncertain; per sender "
          f"kill: {', '.join(per_kill)}); "
          f"{took:.0f} s from the first start to an empty outbox → {'OK' if ok else 'FAIL'}")
    # A message that never arrived must be one its campaign counts uncertain (handed by a
    # sender that died before the answer), never one counted sent for certain or pending.
    unaccounted = never - sum(1 for c, _h in handed if got[int(c)] == 0)
    print(f"  never arrived and not counted uncertain: {unaccounted}")
    if windows:
        share = sum(windows) / took
        print(f"  handed mark → arrival at the fake server, {len(windows):,} rows: p50 "
              f"{pct(windows, 50) * 1e3:.1f} ms, p99 {pct(windows, 99) * 1e3:.1f} ms, max "
              f"{windows[-1] * 1e3:.1f} ms; a kill at a random moment leaves a message in "
              f"doubt with probability {share:.3f}")
    for name, part in (("handed mark → deliver called", to_call),
                       ("deliver called → arrival", to_arrive)):
        if part:
            print(f"  {name}: p50 {pct(part, 50) * 1e3:.1f} ms, p99 "
                  f"{pct(part, 99) * 1e3:.1f} ms")
    return ok


def read_trace(prefix: str) -> dict[int, float]:
    """The senders' traces (`bench.bench_outbox.Stamped`): chat → when its first send began
    (wall clock); the files are removed."""
    began: dict[int, float] = {}
    for path in Path(prefix).parent.glob(f"{Path(prefix).name}.*"):
        for line in path.read_text().splitlines():
            chat, _, at = line.partition(" ")
            began.setdefault(int(chat), float(at))
        path.unlink()
    return began


if __name__ == "__main__":
    if sys.argv[1:2] == ["scheduler"]:
        asyncio.run(scheduler_main(sys.argv[2], sys.argv[3]))
