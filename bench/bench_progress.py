"""Progress at national scale: /tiendo's data, rankings and the rollups' write cost.

    python -m bench.bench_progress [--units N] [--initiatives N] [--pg URL] [--reads N]

1. The directory of bench_units (about 130,000 units in five levels) plus one industrial
   zone with 10,000 grassroots unions (for the ranking), imported with `bot.directory`;
   phases GĐ1 and GĐ2 and targets at national (10% of members), province (a count) and
   some district levels (per member, per bloc) imported with `bot.progress_files`.
2. Initiatives, skewed as real data is (a Pareto draw per grassroots union: a few unions
   with thousands), written in bulk (COPY on PostgreSQL) with their rollups, first a tenth
   of `--initiatives`, then the rest: the reads are measured at both sizes, so the ratio
   (goal ≤ 1.5) comes from one run.
3. At each size: 300 initiatives saved through `storage.imports.save` (the rollups' write
   path: one delta row per union up the chain), folded, and 30 more left unfolded, as the
   upkeep job's folds leave them; then p50/p99 of `progress()` + `children()` (the
   unit's figures and its first page of children) at the national root, the biggest
   province, a district and a grassroots union (goal p99 ≤ 20 ms), and `ranking()` over
   the 10,000 siblings (goal p99 ≤ 50 ms), in the current phase and in the ended GĐ1, read
   from its snapshot (frozen at each size).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import io
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.bench_units import generate, to_csv
from bench.common import pct, pg_schema, sqlite_file
from bot import directory, progress_files
from bot.services import progress as svc
from bot.services.actor import Actor
from storage import imports
from storage import progress as store
from storage.migrate import upgrade
from storage.models import initiative_author_t, initiative_t, unit_t
from storage.models_progress import phase_t, progress_day_t, progress_total_t

READ_GOAL_MS, RANK_GOAL_MS, RATIO_GOAL = 20.0, 50.0, 1.5
SIBLINGS = 10_000
PHASES = (("GĐ1", date(2022, 1, 8), date(2022, 5, 31)),
          ("GĐ2", date(2022, 6, 1), date(2023, 9, 1)))
FIRST, LAST = PHASES[0][1], PHASES[-1][2]
STATUSES = (("valid", 35), ("under_review", 40), ("needs_revision", 8), ("invalid", 12),
            ("withdrawn", 5))
REGISTERED = set(store.REGISTERED)
SHELL = Actor.shell()
NOW = datetime(2023, 5, 12, 3, tzinfo=UTC)


def directory_rows(n_units: int) -> list[list[str]]:
    rows, _names = generate(n_units - SIBLINGS - 1)
    rows.append(["BIG", "Công đoàn các KCN lớn", "P00", "industrial_zone", "other", "900000",
                 ""])
    rng = random.Random(3)
    rows += [[f"BIG-{i:05d}", f"CĐCS Công ty số {i}", "BIG", "grassroots",
              "enterprise" if rng.random() < 0.8 else "public_service",
              str(rng.randint(20, 4000)), ""] for i in range(SIBLINGS)]
    return rows


def targets_csv(rows: list[list[str]]) -> bytes:
    out = [list(progress_files.TARGET_COLUMNS)]
    for code, start, end in PHASES:
        out.append(["VN", code, start.isoformat(), end.isoformat(), "", "member_ratio",
                    "0.10", "10% đoàn viên"])
    provinces = [r[0] for r in rows[1:] if r[3] == "province"]
    districts = [r[0] for r in rows[1:] if r[3] == "district" and r[2].count("-") == 0]
    for i, p in enumerate(provinces):
        for code, start, end in PHASES:
            out.append([p, code, start.isoformat(), end.isoformat(), "", "count",
                        str(1000 + 97 * i), ""])
    for d in districts[::10]:
        for code, start, end in PHASES:
            out.append([d, code, start.isoformat(), end.isoformat(), "enterprise",
                        "per_member", "0.0667", ""])
            out.append([d, code, start.isoformat(), end.isoformat(), "public_service",
                        "per_member", "1", ""])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(out)
    return buf.getvalue().encode()


class Data:
    """The generated initiatives' rollups, kept cumulatively across the stages."""

    def __init__(self, units: list[Any], seed: int = 5) -> None:
        self.rng = random.Random(seed)
        self.parent = {u.id: u.parent_id for u in units}
        self.bloc = {u.id: u.bloc for u in units}
        self.grassroots = [u for u in units if u.kind == "grassroots"]
        weights = [self.rng.paretovariate(1.1) for _ in self.grassroots]
        total = 0.0
        self.cum = []
        for w in weights:
            total += w
            self.cum.append(total)
        self.totals: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0] * 8)
        self.days: dict[tuple[int, int, date], int] = defaultdict(int)
        self.made = 0

    def count(self, base: dict[tuple[int, int, str], list[int]],
              days: dict[tuple[int, int, date], int], g: Any, status: str, day: date,
              benefit: int, phase_ids: list[int]) -> None:
        phase = phase_ids[0] if day <= PHASES[0][2] else phase_ids[1]
        v = base[(phase, g.id, g.bloc)]
        v[store.COUNTERS.index(status)] += 1
        if status in REGISTERED:
            v[0] += 1
            v[6] += 1                      # each author distinct: a participant
            v[7] += benefit
            days[(phase, g.id, day)] += 1

    def roll_up(self, base: dict[tuple[int, int, str], list[int]],
                days: dict[tuple[int, int, date], int]) -> None:
        for (phase, u, bloc), v in base.items():
            node: int | None = u
            while node is not None:
                t = self.totals[(phase, node, bloc)]
                for j in range(8):
                    t[j] += v[j]
                node = self.parent.get(node)
        for (phase, u, day), n_reg in days.items():
            node = u
            while node is not None:
                self.days[(phase, node, day)] += n_reg
                node = self.parent.get(node)

    def rows(self, n: int, first_id: int, entered_by: int, phase_ids: list[int]
             ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rng, span = self.rng, (LAST - FIRST).days
        picks = rng.choices(self.grassroots, cum_weights=self.cum, k=n)
        statuses, sw = zip(*STATUSES, strict=True)
        states = rng.choices(statuses, sw, k=n)
        inis, authors = [], []
        base: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0] * 8)
        days: dict[tuple[int, int, date], int] = defaultdict(int)
        for k in range(n):
            g, status = picks[k], states[k]
            day = FIRST + timedelta(days=int(span * rng.random()))
            at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
            i = first_id + k
            benefit = rng.choice((0, 5_000_000, 20_000_000, 100_000_000))
            inis.append((i, f"B-{i}", None, entered_by, f"Tác giả {i}", g.id, f"Sáng kiến {i}",
                         "Mô tả", True, benefit, True, g.parent_id, status, "bench", at))
            authors.append((i, 0, f"Tác giả {i}", None))
            self.count(base, days, g, status, day, benefit, phase_ids)
        self.roll_up(base, days)
        self.made += n
        return inis, authors


INI_COLS = ("id", "code", "person_id", "entered_by", "author_name", "author_unit_id", "title",
            "description", "recognized", "benefit_vnd", "benefit_known", "unit_id", "status",
            "channel", "submitted_at")
AUTHOR_COLS = ("initiative_id", "position", "name", "person_id")


async def bulk(conn: AsyncConnection, table: Any, cols: tuple[str, ...],
               rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            table.name, records=rows, columns=list(cols), schema_name=schema)
        return
    for i in range(0, len(rows), 20_000):
        await conn.execute(insert(table), [dict(zip(cols, r, strict=True))
                                           for r in rows[i:i + 20_000]])


async def write_stage(engine: AsyncEngine, data: Data, n: int, phase_ids: list[int],
                      who: int) -> float:
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        await conn.run_sync(store.fold)       # the saves' deltas: Data counts them too
        first = ((await conn.execute(select(func.max(initiative_t.c.id)))).scalar() or 0) + 1
        for i in range(0, n, 200_000):
            inis, authors = data.rows(min(200_000, n - i), first + i, who, phase_ids)
            await bulk(conn, initiative_t, INI_COLS, inis)
            await bulk(conn, initiative_author_t, AUTHOR_COLS, authors)
        # the rollups of every initiative so far, bulk and saved (Data counted both)
        await conn.execute(delete(progress_total_t))
        await conn.execute(delete(progress_day_t))
        cols = ("phase_id", "unit_id", "bloc", "parent_id", *store.COUNTERS)
        await bulk(conn, progress_total_t, cols,
                   [(p, u, b, data.parent.get(u), *v) for (p, u, b), v in data.totals.items()])
        await bulk(conn, progress_day_t, ("phase_id", "unit_id", "day", "registered"),
                   [(p, u, d, r) for (p, u, d), r in data.days.items()])
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('initiative', 'id'), "
                                    "(SELECT max(id) FROM initiative))"))
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("ANALYZE"))
    return time.perf_counter() - t0


async def saves(engine: AsyncEngine, data: Data, n: int, phase_ids: list[int], who: int, *,
                fold: bool, seed: int) -> list[float]:
    """`n` initiatives through the rollups' write path, one transaction each."""
    rng = random.Random(seed)
    ms = []
    base: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0] * 8)
    days: dict[tuple[int, int, date], int] = defaultdict(int)
    for _ in range(n):
        g = rng.choice(data.grassroots)
        at = NOW - timedelta(days=rng.randint(0, 60))
        row = imports.ImportedInitiative(None, "T", "D", [f"Người {rng.random()}"], g.id,
                                         g.parent_id, None, 1_000_000, "under_review", at)
        data.count(base, days, g, "under_review", store.local_day(at), 1_000_000, phase_ids)
        t0 = time.perf_counter()
        async with engine.begin() as conn:
            await conn.run_sync(lambda c, r=row: imports.save(c, r, entered_by=who, now=NOW))
        ms.append((time.perf_counter() - t0) * 1000)
    data.roll_up(base, days)
    if fold:
        async with engine.begin() as conn:
            await conn.run_sync(store.fold)
    return ms


def _read(c: Any, code: str) -> None:
    p = svc.progress(conn=c, actor=SHELL, now=NOW, unit_code=code)
    assert isinstance(p, svc.Progress), p
    page = svc.children(conn=c, actor=SHELL, now=NOW, unit_id=p.unit.unit_id,
                        phase_id=p.phase.id)
    assert isinstance(page, svc.Page)


def _rank(c: Any, phase: str | None = None) -> None:
    r = svc.ranking(conn=c, actor=SHELL, now=NOW, unit_code="BIG", phase_code=phase)
    assert isinstance(r, svc.Ranking) and r.total == SIBLINGS
    assert phase is None or r.phase.ended


async def measure(engine: AsyncEngine, codes: dict[str, str], reads: int
                  ) -> dict[str, tuple[float, float]]:
    out = {}
    # The generator's millions of dict entries would make every full garbage collection
    # of this process slow; a bot process has no such heap. Frozen, they are not scanned.
    gc.collect()
    gc.freeze()
    async with engine.connect() as conn:
        for label, code in codes.items():
            for _ in range(5):
                await conn.run_sync(_read, code)
            ms = []
            for _ in range(reads):
                t0 = time.perf_counter()
                await conn.run_sync(_read, code)
                ms.append((time.perf_counter() - t0) * 1000)
            out[label] = (pct(ms, 50), pct(ms, 99))
        # the current phase, and the ended one read from its snapshot (by parent)
        for label, phase in (("ranking 10,000", None), ("ranking ended", PHASES[0][0])):
            await conn.run_sync(_rank, phase)
            ms = []
            for _ in range(max(10, reads // 10)):
                t0 = time.perf_counter()
                await conn.run_sync(_rank, phase)
                ms.append((time.perf_counter() - t0) * 1000)
            out[label] = (pct(ms, 50), pct(ms, 99))
    return out


async def bench_backend(label: str, engine: AsyncEngine, args: argparse.Namespace,
                        rows: list[list[str]]) -> bool:
    print(f"\n== {label}")
    await upgrade(engine=engine)
    t0 = time.perf_counter()
    await directory.import_units(engine, to_csv(rows))
    stats = await progress_files.import_targets(engine, targets_csv(rows))
    print(f"  directory + targets     {time.perf_counter() - t0:7.1f} s  "
          f"({len(rows) - 1:,} units, {stats.targets} targets)")
    async with engine.begin() as conn:
        units = (await conn.execute(select(unit_t.c.id, unit_t.c.code, unit_t.c.parent_id,
                                           unit_t.c.kind, unit_t.c.bloc))).all()
        phase_ids = [(await conn.execute(select(phase_t.c.id).where(phase_t.c.code == c))
                      ).scalar_one() for c, _s, _e in PHASES]
        who = await conn.run_sync(lambda c: imports.importer(c, now=NOW))
    data = Data(units)
    # The biggest province, one of its districts, and a grassroots union under it.
    by_code = {u.code: u for u in units}
    codes = {"national root": "VN", "province": "P24", "district": "P24-10",
             "grassroots": next(u.code for u in units
                                if u.kind == "grassroots" and u.code.startswith("P24-10-"))}
    assert all(c in by_code for c in codes.values()), codes
    sizes = [max(1, args.initiatives // 10), args.initiatives]
    results = {}
    ok = True
    for stage, size in enumerate(sizes):
        took = await write_stage(engine, data, size - data.made, phase_ids, who)
        w = await saves(engine, data, 300, phase_ids, who, fold=True, seed=stage)
        await saves(engine, data, 30, phase_ids, who, fold=False, seed=100 + stage)
        print(f"  {size:>9,} initiatives: bulk-loaded in {took:6.1f} s; a save with its "
              f"rollups p50 {pct(w, 50):5.1f} ms, p99 {pct(w, 99):5.1f} ms")
        t0 = time.perf_counter()
        async with engine.begin() as conn:     # GĐ1 ended: frozen (`sangkien snapshot`)
            frozen = await conn.run_sync(lambda c: store.snapshot(
                c, phase_id=phase_ids[0], now=NOW))
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("ANALYZE progress_snapshot"))
        print(f"  {PHASES[0][0]} frozen: {frozen:,} rows in {time.perf_counter() - t0:5.1f} s")
        results[size] = await measure(engine, codes, args.reads)
        for what, (p50, p99) in results[size].items():
            goal = RANK_GOAL_MS if what.startswith("ranking") else READ_GOAL_MS
            good = p99 <= goal
            ok &= good
            print(f"    {what:<16} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                  f"[goal p99 ≤ {goal:.0f} ms: {'ok' if good else 'MISSED'}]")
    small, big = (results[s] for s in sizes)
    print(f"  ratio p99 at {sizes[1]:,} / p99 at {sizes[0]:,} (goal ≤ {RATIO_GOAL}):")
    for what in big:
        ratio = big[what][1] / small[what][1]
        good = ratio <= RATIO_GOAL
        ok &= good
        print(f"    {what:<16} {ratio:5.2f}  [{'ok' if good else 'MISSED'}]")
    return ok


async def amain(args: argparse.Namespace) -> int:
    rows = directory_rows(args.units)
    ok = True
    if not args.pg_only:
        async with sqlite_file() as engine:
            ok &= await bench_backend("SQLite (file, WAL)", engine, args, rows)
    if args.pg:
        async with pg_schema(args.pg) as engine:
            ok &= await bench_backend("PostgreSQL", engine, args, rows)
    print("\nall goals met" if ok else "\nsome goal MISSED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_progress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", type=int, default=130_000)
    p.add_argument("--initiatives", type=int, default=2_000_000)
    p.add_argument("--reads", type=int, default=200, help="timed reads per unit and size")
    p.add_argument("--pg", metavar="URL", help="also run on PostgreSQL (a schema of its own)")
    p.add_argument("--pg-only", action="store_true", help="skip SQLite")
    return asyncio.run(amain(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
