"""The outbox against the fake Bot API, with real sender processes on PostgreSQL.

    python -m bench.bench_outbox [--pg URL] [--rate 30] [--seconds 60] [--rows 1000000]
                                 [--skip pacing,kill,claim]

Every sender is a process of its own (`python -m bench.bench_outbox sender …`: an
`OutboxWorker` with `TelegramSender` over a real PTB `Bot`, paced through the database as in
production); the fake Bot API (tests/fakes/telegram_server.py) runs in this process over
loopback HTTP and stamps every sendMessage as it arrives. Each part runs in a PostgreSQL schema
of its own, dropped afterwards.

1. **Pacing** with 1, then 2 senders: about `rate × (seconds + 10)` campaign rows (priority 9)
   to distinct chats, plus 5 "hot" chats with 70 messages each (their per-chat gap binds).
   Measured over `seconds` from the first send: the rate achieved against the configured one
   (goal: ≥ 98 %, never above), the most sends in any second (sliding window [t, t+1 s), and
   calendar seconds from the first send), the smallest gap between two sends to one chat
   (goal ≥ 1 s), and messages received twice.
2. **kill -9** mid-stream: (a) one sender killed after 8 s and started again at once; (b) two
   senders, one killed and not restarted. Afterwards, per recipient (one message each):
   received exactly once, twice (none: a row handed to the channel is never sent again),
   never (a kill between a row's handed mark and its request leaving the process); and how
   long the dead sender's rows waited (its heartbeat goes stale after 10 s).
3. **Claim time** with `rows` (1,000,000) queued campaign rows: the time to write them
   (`enqueue_many`), then claims of 29 rows (one second at 30/s) — p50 / p99 / max — and the
   claim that takes an alert queued behind all of them (it must come first).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import pct
from storage import outbox
from storage.engine import make_engine, utcnow
from storage.migrate import upgrade
from storage.models import outbox_t
from storage.outbox import Pace
from tests.fakes.telegram_server import FakeTelegram

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
HOT_CHATS, HOT_MESSAGES = 5, 70
COLD_BASE, HOT_BASE = 1_000_000, 900_000


# --------------------------------------------------------------------------- the sender process


async def sender_main(url: str, schema: str, base_url: str, token: str,
                      rate: float) -> list[float]:
    import telegram
    from telegram.request import HTTPXRequest

    from bot.outbox import OutboxWorker
    from handlers.telegram_sender import TelegramSender

    engine = make_engine(url, schema=schema)
    bot = telegram.Bot(token, base_url=base_url,
                       request=HTTPXRequest(connection_pool_size=16))
    await bot.initialize()
    sender = Stamped(TelegramSender(bot))
    worker = OutboxWorker(engine, [sender], pace={"telegram": Pace(rate, 1.0)})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # As `sangkien run` does: the long-lived objects out of the collector's full passes,
    # whose pauses would make sends late.
    gc.collect()
    gc.freeze()
    await worker.start()
    print(f"ready {worker.name}", flush=True)
    await stop.wait()
    await worker.stop()
    print(f"sender {worker.name}: {worker.stats}, late {worker.late}, "
          f"shifted {worker.shifted:.3f} s", file=sys.stderr)
    await bot.shutdown()
    await engine.dispose()
    return sender.starts


class Stamped:
    """A sender that notes when each send started (CLOCK_MONOTONIC: one clock for every
    process of the machine), to tell the senders' pacing from the fake server's stalls."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.channel, self.starts = inner, inner.channel, []
        # With BENCH_OUTBOX_TRACE: "chat start-wall" per send as it starts, kept through a
        # kill -9 (`bench.campaign_crash_delivery` splits the in-doubt window with it).
        trace = os.environ.get("BENCH_OUTBOX_TRACE")
        self.trace = open(f"{trace}.{os.getpid()}", "a", buffering=1) if trace else None  # noqa: SIM115

    async def deliver(self, chat_id: str, reply: Any, locale: str) -> None:
        self.starts.append(time.monotonic())
        if self.trace is not None:
            self.trace.write(f"{chat_id} {time.time()}\n")
        await self.inner.deliver(chat_id, reply, locale)


# --------------------------------------------------------------------------- helpers


class TimedCalls(list):  # type: ignore[type-arg]
    """`fake.calls` that also records when each call reached the server."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self.walls: list[float] = []   # the same moments on the wall clock (as `sent_at`)

    def append(self, item: Any) -> None:
        self.times.append(time.monotonic())
        self.walls.append(time.time())
        super().append(item)

    def sends(self) -> list[tuple[float, int, str]]:
        return [(t, int(p["chat_id"]), str(p.get("text", "")))
                for t, (name, p) in zip(self.times, self, strict=True) if name == "sendMessage"]


@asynccontextmanager
async def schema_engine(url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A migrated PostgreSQL schema of its own, dropped afterwards."""
    schema = f"bench_outbox_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, schema=schema)
    try:
        await upgrade(engine=engine)
        yield engine, schema
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def campaign_row(chat: int, n: int, campaign: int = 1) -> dict[str, Any]:
    return {"channel": "telegram", "chat_id": str(chat), "account_id": None,
            "kind": "campaign", "locale": "vi", "text": f"Chiến dịch {campaign} · {n}",
            "options": [], "priority": 9, "dedupe_key": f"camp:{campaign}:s:{n}"}


async def enqueue_rows(engine: AsyncEngine, rows: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), 20_000):
        async with engine.begin() as conn:
            await conn.run_sync(lambda c, part=rows[i:i + 20_000]: outbox.enqueue_many(
                c, rows=part, now=utcnow()))
    return time.perf_counter() - started


class Senders:
    def __init__(self, url: str, schema: str, fake: FakeTelegram, rate: float,
                 trace: str | None = None) -> None:
        self.argv = [sys.executable, "-m", "bench.bench_outbox", "sender", url, schema,
                     fake.base_url, fake.token, str(rate)]
        self.stamps = f"/tmp/bench_outbox_{schema}"
        self.trace = trace
        self.procs: list[asyncio.subprocess.Process] = []
        self.names: dict[int, str] = {}   # pid → the worker's name (`claimed_by`)

    async def start(self, n: int = 1) -> list[asyncio.subprocess.Process]:
        new = []
        for _ in range(n):
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_OUTBOX_STAMPS": self.stamps,
                     **({"BENCH_OUTBOX_TRACE": self.trace} if self.trace else {})})
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
            assert line[:1] == ["ready"], line
            self.names[proc.pid] = line[1]
            new.append(proc)
        self.procs += new
        return new

    @staticmethod
    async def kill(proc: asyncio.subprocess.Process) -> None:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            await asyncio.wait_for(proc.wait(), 60)

    def starts(self) -> list[float]:
        """When the senders started each send, all processes together."""
        out: list[float] = []
        for proc in self.procs:
            path = Path(f"{self.stamps}.{proc.pid}")
            if path.exists():
                out += [float(line) for line in path.read_text().split()]
                path.unlink()
        return sorted(out)


async def active(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).where(
            outbox_t.c.status.in_(("pending", "sending"))))).scalar_one()


def max_in_any_second(times: list[float]) -> int:
    times, most, lo = sorted(times), 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


# --------------------------------------------------------------------------- 1. pacing


async def pacing(args: argparse.Namespace, senders_n: int) -> None:
    rate, seconds = args.rate, args.seconds
    cold = int(rate * (seconds + 10))
    rows = [campaign_row(COLD_BASE + n, n) for n in range(cold)]
    # The hot chats' rows spread through the queue.
    for h in range(HOT_CHATS):
        for m in range(HOT_MESSAGES):
            rows.insert((m * len(rows)) // HOT_MESSAGES,
                        campaign_row(HOT_BASE + h, 10_000_000 + h * 1000 + m))
    async with FakeTelegram() as fake, schema_engine(args.pg) as (engine, schema):
        fake.calls = calls = TimedCalls()
        for r in rows:
            fake.add_user(int(r["chat_id"]))
        await enqueue_rows(engine, rows)
        # The fake server stamps a request when its event loop reads it: keep this
        # process's long-lived objects out of the collector's full passes (as `sangkien run`
        # does), so that its pauses do not bunch the stamps.
        gc.collect()
        gc.freeze()
        senders = Senders(args.pg, schema, fake, rate)
        await senders.start(senders_n)
        while not calls.sends():  # noqa: ASYNC110  (the fake's list, polled)
            await asyncio.sleep(0.01)
        t0 = calls.sends()[0][0]
        await asyncio.sleep(seconds + 1.0 - (time.monotonic() - t0))
        await senders.stop()
        sends = calls.sends()
        starts = senders.starts()
    window = [s for s in sends if t0 <= s[0] < t0 + seconds]
    times = [t for t, _c, _x in sends]
    calendar = Counter(int(t - t0) for t in times)
    per_chat: dict[int, list[float]] = defaultdict(list)
    for t, chat, _x in sends:
        per_chat[chat].append(t)
    gaps = [b - a for ts in per_chat.values() for a, b in zip(ts, ts[1:], strict=False)]
    twice = sum(n - 1 for n in Counter((c, x) for _t, c, x in sends).values())
    if os.environ.get("BENCH_OUTBOX_DEBUG"):
        ts, lo, worst = sorted(times), 0, (0, 0, 0)
        for hi, t in enumerate(ts):
            while t - ts[lo] >= 1.0:
                lo += 1
            worst = max(worst, (hi - lo + 1, lo, hi))
        _n, lo, hi = worst
        print(f"densest second at +{ts[lo] - t0:.2f} s:",
              [round((b - a) * 1000, 1) for a, b in zip(ts[lo:hi], ts[lo + 1:hi + 1],
                                                          strict=True)], file=sys.stderr)
    achieved = len(window) / seconds
    print(f"pacing, {senders_n} sender(s), {rate:g}/s configured, over {seconds:g} s: "
          f"{len(window)} sends = {achieved:.2f}/s = {achieved / rate:.4f} of the rate; "
          f"most in any second: {max_in_any_second(times)} (sliding), "
          f"{max(calendar.values())} (calendar) for a limit of {rate:g}, "
          f"{max_in_any_second(starts)} (sliding) as the senders started them; "
          f"smallest per-chat gap {min(gaps):.3f} s over {len(gaps)} gaps "
          f"(hot chats: {sum(len(per_chat[HOT_BASE + h]) for h in range(HOT_CHATS))} sends); "
          f"received twice: {twice}")


# --------------------------------------------------------------------------- 2. kill -9


async def kill_run(args: argparse.Namespace, *, restart: bool) -> None:
    rate = args.rate
    n_rows = int(rate * 25)
    rows = [campaign_row(COLD_BASE + n, n) for n in range(n_rows)]
    async with FakeTelegram() as fake, schema_engine(args.pg) as (engine, schema):
        fake.calls = calls = TimedCalls()
        for r in rows:
            fake.add_user(int(r["chat_id"]))
        await enqueue_rows(engine, rows)
        senders = Senders(args.pg, schema, fake, rate)
        victim, *_others = await senders.start(1 if restart else 2)
        await asyncio.sleep(8.0)
        killed_at = time.monotonic()
        before_kill = len(calls.sends())
        await Senders.kill(victim)
        async with engine.connect() as conn:
            stuck_chats = set((await conn.execute(select(outbox_t.c.chat_id).where(
                outbox_t.c.status == "sending",
                outbox_t.c.claimed_by == senders.names[victim.pid]))).scalars())
        stuck = len(stuck_chats)
        if restart:
            await senders.start(1)
        deadline = time.monotonic() + 120
        while await active(engine) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        done_at = time.monotonic()
        await asyncio.sleep(1.0)
        await senders.stop()
        left = await active(engine)
        sends = calls.sends()
    got = Counter(chat for _t, chat, _x in sends)
    once = sum(1 for r in rows if got[int(r["chat_id"])] == 1)
    twice = sum(1 for r in rows if got[int(r["chat_id"])] == 2)
    never = sum(1 for r in rows if got[int(r["chat_id"])] == 0)
    more = sum(1 for r in rows if got[int(r["chat_id"])] > 2)
    # When the rows the dead sender held went out again.
    after = sorted(t - killed_at for t, chat, _x in sends
                   if t > killed_at and str(chat) in stuck_chats)
    label = ("one sender killed and restarted" if restart
             else "two senders, one killed, not restarted")
    print(f"kill -9 ({label}): {n_rows} recipients, {before_kill} sends before the kill, "
          f"{stuck} rows left 'sending' by the dead sender; exactly once {once}, twice "
          f"{twice}, more {more}, never {never}; rows still active {left}; all done "
          f"{done_at - killed_at:.1f} s after the kill"
          + (f"; its rows not yet handed sent from +{after[0]:.1f} s to +{after[-1]:.1f} s "
             f"after the kill" if after else ""))


# --------------------------------------------------------------------------- 3. claims


async def claims(args: argparse.Namespace) -> None:
    async with schema_engine(args.pg) as (engine, _schema):
        written = 0.0
        chunk = 100_000
        for start in range(0, args.rows, chunk):
            part = [campaign_row(COLD_BASE + n, n) for n in range(start,
                                                               min(start + chunk, args.rows))]
            written += await enqueue_rows(engine, part)
        print(f"claims: {args.rows:,} rows written by enqueue_many in {written:.1f} s "
              f"({args.rows / written:,.0f} rows/s)")
        pace = {"telegram": Pace(30.0 * 0.985, 1.0, 1.0, 0.1)}
        timings: list[float] = []
        base = utcnow()
        for i in range(60):
            now = base + timedelta(seconds=2 * i)   # a free second of slots each time
            started = time.perf_counter()
            async with engine.begin() as conn:
                got = await conn.run_sync(lambda c, now=now: outbox.claim_due(
                    c, now=now, limit=50, lease_seconds=60, channels=["telegram"],
                    sender="bench", stale_seconds=10, pace=pace))
            timings.append(time.perf_counter() - started)
            async with engine.begin() as conn:
                await conn.execute(update(outbox_t).where(
                    outbox_t.c.id.in_([r["id"] for r in got])).values(status="sent"))
            if i == 0:
                claimed_first = len(got)
        async with engine.begin() as conn:
            alert = await conn.run_sync(lambda c: outbox.enqueue(
                c, channel="telegram", chat_id="42", account_id=None, kind="alert",
                locale="vi", text="Sáng kiến mới cần duyệt", options=[], now=utcnow()))
            await conn.run_sync(lambda c: outbox.beat(c, sender="bench", now=utcnow()))
        now = base + timedelta(seconds=200)
        started = time.perf_counter()
        async with engine.begin() as conn:
            got = await conn.run_sync(lambda c: outbox.claim_due(
                c, now=now, limit=50, lease_seconds=60, channels=["telegram"],
                sender="bench", stale_seconds=10, pace=pace))
        alert_claim = time.perf_counter() - started
        print(f"claims with {args.rows:,} queued: {claimed_first} rows a claim; "
              f"p50 {pct(timings, 50) * 1000:.1f} ms, p99 {pct(timings, 99) * 1000:.1f} ms, "
              f"max {max(timings) * 1000:.1f} ms over {len(timings)} claims; an alert queued "
              f"behind them: claimed first {got[0]['id'] == alert}, in "
              f"{alert_claim * 1000:.1f} ms")


# --------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace) -> None:
    skip = set(filter(None, args.skip.split(",")))
    if "pacing" not in skip:
        for n in args.senders.split(","):
            await pacing(args, int(n))
    if "kill" not in skip:
        await kill_run(args, restart=True)
        await kill_run(args, restart=False)
    if "claim" not in skip:
        await claims(args)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "sender":
        url, schema, base_url, token, rate = sys.argv[2:7]
        starts = asyncio.run(sender_main(url, schema, base_url, token, float(rate)))
        log = os.environ.get("BENCH_OUTBOX_STAMPS")
        if log:
            Path(f"{log}.{os.getpid()}").write_text("".join(f"{t}\n" for t in starts))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", PG_URL))
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip", default="", help="pacing,kill,claim")
    parser.add_argument("--senders", default="1,2", help="sender processes per pacing run")
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()
