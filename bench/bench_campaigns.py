"""Campaign expansion: how fast a slot becomes outbox rows, and that a killed scheduler
neither repeats nor skips anyone.

    python -m bench.bench_campaigns                       # both parts, SQLite and PostgreSQL
    python -m bench.bench_campaigns --people 200000       # a smaller audience
    python -m bench.bench_campaigns --only expand|crash --backend sqlite|postgres
    python -m bench.bench_campaigns --only deliver        # bench/campaign_crash_delivery.py
    python -m bench.bench_campaigns --pg postgresql+asyncpg://postgres@127.0.0.1:5432/test

A. expand: N people (default 1,000,000), each with a Telegram account, spread over the demo
   directory's grassroots unions, bulk-created in SQL (generate_series / a recursive CTE); a
   campaign to everyone below the national union, sent now; the time from the slot's creation
   to the last batch committed (make_slots, then expand_batch transactions of CAMPAIGN_BATCH
   people until none is due). Goal ≤ 60 s. Checked: one outbox row per person.
B. crash: 20,000 people; the scheduler runs in a child process (`--child`) and is killed
   with SIGKILL once some rows are written, mid-slot; a second child finishes the slot.
   Checked: every person has exactly one outbox row (dedupe keys unique, the cursor saved
   with each batch).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import pg_schema, sqlite_file
from bot.campaign_schedule import Cap
from bot.campaign_scheduler import BATCH, Delivery, expand_batch, make_slots
from bot.demo import seed_if_empty
from bot.services import campaigns as svc
from bot.services.actor import Actor
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import account_t, outbox_t, person_t, unit_t

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
GOAL_SECONDS = 60.0
DELIVERY = Delivery(quiet=None, cap=Cap(per_day=100, per_week=100), batch=BATCH,
                    default_locale="vi")
TEXT = "Chào {ten}! Công đoàn {donvi} phát động: mỗi đoàn viên một sáng kiến."


@asynccontextmanager
async def database(backend: str, pg_url: str) -> AsyncIterator[tuple[AsyncEngine, str, str]]:
    """A fresh database with the demo directory: (engine, url, schema or "")."""
    if backend == "sqlite":
        async with sqlite_file() as engine:
            await upgrade(engine=engine)
            await seed_if_empty(engine)
            yield engine, str(engine.url), ""
    else:
        async with pg_schema(pg_url) as engine:
            await upgrade(engine=engine)
            await seed_if_empty(engine)
            async with engine.connect() as conn:
                schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
            yield engine, pg_url, schema


async def bulk_people(engine: AsyncEngine, n: int, layout: str = "spread") -> float:
    """`n` people with one Telegram account each over the grassroots unions: round-robin
    ("spread": a union's people have scattered ids, as when everyone joins at once), or
    each union's people one after another ("blocks": ids in the order of the walk)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        units = (await conn.execute(select(unit_t.c.id).where(unit_t.c.kind == "grassroots")
                                    .order_by(unit_t.c.id))).scalars().all()
        await conn.execute(text("CREATE TEMPORARY TABLE bench_units (i INTEGER PRIMARY KEY, "
                                "unit_id INTEGER)"))
        await conn.execute(text("INSERT INTO bench_units VALUES (:i, :u)"),
                           [{"i": i, "u": u} for i, u in enumerate(units)])
        first = (await conn.execute(select(func.coalesce(func.max(person_t.c.id), 0))
                                    )).scalar_one()
        k = len(units)
        if engine.dialect.name == "postgresql":
            seq = "SELECT g AS x FROM generate_series(1, :n) AS g"
            prefix = ""
        else:
            prefix = ("WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq "
                      "WHERE x < :n) ")
            seq = "SELECT x FROM seq"
        stamp = bindparam("now", type_=DateTime(timezone=True))
        await conn.execute(text(
            f"{prefix}INSERT INTO person (name, unit_id, onboarded, alert_mode, created_at) "
            f"SELECT 'Nguyễn Văn ' || s.x, b.unit_id, TRUE, 'instant', :now "
            f"FROM ({seq}) AS s JOIN bench_units b ON b.i = "
            + (f"s.x % {k}" if layout == "spread" else f"(s.x - 1) * {k} / :n")
        ).bindparams(stamp), {"n": n, "now": now})
        await conn.execute(text(
            "INSERT INTO account (channel, external_id, chat_id, person_id, locale, step, "
            "state, reachable, created_at, updated_at) "
            "SELECT 'telegram', 'b' || id, 'c' || id, id, 'vi', 'idle', '{}', TRUE, :now, :now "
            "FROM person WHERE id > :first"
        ).bindparams(stamp), {"now": now, "first": first})
        await conn.execute(text("DROP TABLE bench_units"))
    async with engine.begin() as conn:   # committed: rolled back, the statistics are lost
        await conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


async def create_campaign(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        out = await conn.run_sync(lambda c: svc.create(
            conn=c, actor=Actor.shell(), now=datetime.now(UTC),
            spec=svc.Spec(unit_code="VN", audience="members", text=TEXT, kind="once")))
    assert isinstance(out, svc.Created), out
    return out.campaign_id


async def expand_all(engine: AsyncEngine, delivery: Delivery = DELIVERY,
                     laps: list[float] | None = None) -> tuple[int, int]:
    """Slots, then batches until none is due: (batches, rows queued). `laps`: the seconds
    each 100 batches took (does a batch slow down as the outbox grows?)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: make_slots(c, now=datetime.now(UTC), delivery=delivery))
    batches = queued = 0
    lap = time.perf_counter()
    while True:
        async with engine.begin() as conn:
            result = await conn.run_sync(lambda c: expand_batch(
                c, now=datetime.now(UTC), delivery=delivery))
        if result is None:
            return batches, queued
        batches += 1
        queued += result.queued
        if laps is not None and batches % 100 == 0:
            laps.append(time.perf_counter() - lap)
            lap = time.perf_counter()


async def outbox_check(engine: AsyncEngine, people: int) -> tuple[int, int, int]:
    """(rows, distinct people, people with more than one row) of campaign rows."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(outbox_t)
                                   .where(outbox_t.c.kind == "campaign"))).scalar_one()
        per = (select(account_t.c.person_id, func.count().label("n"))
               .join(outbox_t, outbox_t.c.account_id == account_t.c.id)
               .where(outbox_t.c.kind == "campaign").group_by(account_t.c.person_id).subquery())
        distinct = (await conn.execute(select(func.count()).select_from(per))).scalar_one()
        twice = (await conn.execute(select(func.count()).select_from(per)
                                    .where(per.c.n > 1))).scalar_one()
    return rows, distinct, twice


async def server_cpu(engine: AsyncEngine) -> Callable[[], str]:
    """PostgreSQL on this machine: the CPU its server process for the bench's connection
    spent from now on (the expansion runs its batches one after another on one pooled
    connection), as the bench's report says it; elsewhere nothing."""
    if engine.dialect.name != "postgresql":
        return lambda: ""
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

    def used() -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    start = used()

    def report() -> str:
        end = used()
        return "" if start is None or end is None else \
            f", its database server process's {end - start:.1f} s"
    return report


async def bench_expand(backend: str, people: int, pg_url: str, layout: str = "spread",
                       batch: int = DELIVERY.batch) -> bool:
    async with database(backend, pg_url) as (engine, _url, _schema):
        made = await bulk_people(engine, people, layout)
        await create_campaign(engine)
        server = await server_cpu(engine)
        started = time.perf_counter()
        cpu = time.process_time()
        laps: list[float] = []
        delivery = Delivery(quiet=None, cap=DELIVERY.cap, batch=batch, default_locale="vi")
        batches, queued = await expand_all(engine, delivery, laps=laps)
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu
        served = server()
        rows, distinct, twice = await outbox_check(engine, people)
    ok = rows == distinct == people == queued and twice == 0 and took <= GOAL_SECONDS
    print(f"expand {backend} ({layout}, batches of {batch:,}): {people:,} people "
          f"(created in {made:.1f} s) → "
          f"{rows:,} outbox rows in {batches} batches, {took:.1f} s wall "
          f"({people / took:,.0f} rows/s, "
          f"this process's CPU {cpu:.1f} s{served}), {took / GOAL_SECONDS:.2f} of the "
          f"{GOAL_SECONDS:.0f} s "
          f"budget; distinct people {distinct:,}, twice {twice} → {'OK' if ok else 'FAIL'}")
    if len(laps) >= 2:
        print(f"  per 100 batches: first {laps[0]:.1f} s, last {laps[-1]:.1f} s, slowest "
              f"{max(laps):.1f} s, fastest {min(laps):.1f} s (load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return ok


# ============================================================================ B. crash


async def child(url: str, schema: str) -> None:
    """The scheduler alone: expand until nothing is due (the parent kills it midway)."""
    engine = make_engine(url, schema=schema or None)
    slow = Delivery(quiet=None, cap=DELIVERY.cap, batch=500, default_locale="vi")
    try:
        await expand_all(engine, slow)
    finally:
        await engine.dispose()


async def bench_crash(backend: str, people: int, pg_url: str) -> bool:
    async with database(backend, pg_url) as (engine, url, schema):
        await bulk_people(engine, people)
        await create_campaign(engine)
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        args = [sys.executable, "-m", "bench.bench_campaigns", "--child", url,
                "--schema", schema]
        first = await asyncio.create_subprocess_exec(*args, env=env)
        killed_at = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows, _d, _t = await outbox_check(engine, people)
            if rows >= people // 3:
                first.send_signal(signal.SIGKILL)
                killed_at = rows
                break
            await asyncio.sleep(0.05)
        await first.wait()
        second = await asyncio.create_subprocess_exec(*args, env=env)
        await second.wait()
        rows, distinct, twice = await outbox_check(engine, people)
    ok = 0 < killed_at < people and rows == distinct == people and twice == 0
    print(f"crash {backend}: {people:,} people; scheduler SIGKILLed with {killed_at:,} rows "
          f"written ({killed_at / people:.2f} of the slot), restarted → {rows:,} rows, "
          f"{distinct:,} distinct people, {twice} twice → {'OK' if ok else 'FAIL'}")
    return ok


async def main(args: argparse.Namespace) -> int:
    if args.child:
        await child(args.child, args.schema)
        return 0
    backends = [args.backend] if args.backend else ["sqlite", "postgres"]
    ok = True
    for backend in backends:
        if args.only in (None, "expand"):
            ok &= await bench_expand(backend, args.people, args.pg, args.layout, args.batch)
        if args.only in (None, "crash"):
            ok &= await bench_crash(backend, args.crash_people, args.pg)
    if args.only == "deliver":   # bench/campaign_crash_delivery.py: sender and scheduler killed
        from bench.campaign_crash_delivery import run
        ok &= await run(args.pg, args.crash_people, args.deliver_rate)
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--crash-people", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=DELIVERY.batch,
                        help=f"people per transaction (CAMPAIGN_BATCH; default {BATCH})")
    parser.add_argument("--only", choices=("expand", "crash", "deliver"))
    parser.add_argument("--deliver-rate", type=float, default=60.0,
                        help="--only deliver: the sender's messages a second")
    parser.add_argument("--layout", choices=("spread", "blocks"), default="spread",
                        help="people's ids scattered over the unions (default) or by union")
    parser.add_argument("--backend", choices=("sqlite", "postgres"))
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--schema", default="", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
