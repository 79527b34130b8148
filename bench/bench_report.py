"""The XLSX progress report of a province with 200,000 initiatives: time and peak memory.

    python -m bench.bench_report [--initiatives N] [--keep DIR]

1. Builds an SQLite database: the national root, a province with 20 district federations of
   50 grassroots unions each (1,000), a phase holding the initiatives' dates and a 10%
   target on the province; N initiatives (default 200,000) spread over the grassroots unions,
   skewed (a few unions hold thousands), one to three authors each, all statuses; with
   --rollups, the rollups counted from scratch (`storage.progress.rebuild`, slow), which
   only changes sheet 1's figures (20 rows read from the rollups either way).
2. Runs `sangkien report PROVINCE --phase B1 -o FILE.xlsx` as its own process, as an
   administrator would, and measures its wall time and its peak RSS (the child's
   ru_maxrss). Goals: ≤ 60 s and ≤ 300 MB.
3. Reads the workbook back (openpyxl, read-only) and checks the row counts and the total.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import Connection, insert, select

from bot import directory
from storage import imports, targets
from storage import progress as progress_store
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import initiative_author_t, initiative_t, unit_t

TIME_GOAL = 60.0
RSS_GOAL_MB = 300.0
DISTRICTS, GRASSROOTS = 20, 50
START, END = date(2022, 6, 1), date(2023, 9, 1)
STATUSES = ("valid",) * 5 + ("under_review",) * 3 + ("needs_revision", "invalid", "withdrawn")
FIELDS = ("san_xuat", "an_toan", "cai_cach", "cong_dong", "khac")


def directory_csv() -> bytes:
    lines = ["code,name,parent_code,kind,bloc,member_count",
             "VN,Tổng Liên đoàn Lao động Việt Nam,,national,other,11000000",
             "P,LĐLĐ tỉnh Bình Phước (bench),VN,province,other,300000"]
    for d in range(DISTRICTS):
        lines.append(f"P-{d:02d},LĐLĐ huyện số {d} (bench),P,district,other,15000")
        for g in range(GRASSROOTS):
            bloc = "enterprise" if g % 3 else "public_service"
            lines.append(f"P-{d:02d}-{g:03d},CĐCS Công ty số {g} huyện {d} (bench),P-{d:02d},"
                         f"grassroots,{bloc},{random.randint(20, 3000)}")
    return "\n".join(lines).encode()


def fill(conn: Connection, n: int, rollups: bool) -> None:
    rng = random.Random(12)
    targets.save_phase(conn, code="B1", starts_on=START, ends_on=END)
    phase_id = targets.phases(conn)["B1"].id
    province = conn.execute(select(unit_t.c.id).where(unit_t.c.code == "P")).scalar_one()
    targets.replace_targets(conn, phase_id=phase_id, unit_id=province, rows=[
        targets.TargetRow("P", "B1", START, END, None, "member_ratio", Decimal("0.10"), None)])
    grassroots = conn.execute(select(unit_t.c.id, unit_t.c.parent_id)
                              .where(unit_t.c.kind == "grassroots")).all()
    weights = [rng.paretovariate(1.2) for _ in grassroots]   # a few unions hold thousands
    who = imports.importer(conn, now=datetime.now(UTC))
    span = (END - START).days
    first = (conn.execute(select(initiative_t.c.id).order_by(initiative_t.c.id.desc())
                          .limit(1)).scalar() or 0) + 1
    batch = 5000
    for start in range(0, n, batch):
        rows, authors = [], []
        picks = rng.choices(grassroots, weights=weights, k=min(batch, n - start))
        for i, (unit_id, parent_id) in enumerate(picks):
            ini_id = first + start + i
            day = START + timedelta(days=rng.randrange(span))
            rows.append({
                "id": ini_id, "code": f"SK-{ini_id:07d}", "entered_by": who,
                "author_name": f"Nguyễn Văn {ini_id % 9973}", "author_unit_id": unit_id,
                "title": f"Cải tiến quy trình số {ini_id} ở phân xưởng {ini_id % 17}",
                "description": "Mô tả ngắn.", "field_code": rng.choice(FIELDS),
                "recognized": True, "benefit_vnd": rng.choice((None, rng.randrange(10**8))),
                "benefit_known": True, "unit_id": parent_id, "status": rng.choice(STATUSES),
                "channel": "import",
                "submitted_at": datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)})
            authors += [{"initiative_id": ini_id, "position": k,
                         "name": f"Tác giả {ini_id % 50_000}-{k}"}
                        for k in range(rng.choice((1, 1, 2, 3)))]
        conn.execute(insert(initiative_t), rows)
        conn.execute(insert(initiative_author_t), authors)
    if rollups:
        progress_store.rebuild(conn)


async def build(path: Path, n: int, rollups: bool) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine=engine)
        await directory.import_units(engine, directory_csv())
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: fill(c, n, rollups))
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--initiatives", type=int, default=200_000)
    parser.add_argument("--keep", help="a folder to keep the database and the workbook in")
    parser.add_argument("--rollups", action="store_true",
                        help="count the rollups from scratch too (sheet 1's figures; slow: "
                        "about 4 ms an initiative), else sheet 1 shows zeros")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.db"
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    asyncio.run(build(db, args.initiatives, args.rollups))
    print(f"built {args.initiatives:,} initiatives in {time.perf_counter() - t0:.1f} s")

    out = folder / "report.xlsx"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "SEED_DEMO_DATA": "false",
           "TELEGRAM_BOT_TOKEN": "", "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "vi"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot", "report", "P", "--phase", "B1",
                           "-o", str(out)], env=env, capture_output=True, text=True,
                          cwd=folder)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime   # what a loaded machine does not inflate
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    print(done.stdout.strip())
    wb = load_workbook(out, read_only=True)
    units, inis = wb.worksheets
    unit_rows = list(units.iter_rows(values_only=True))
    n_inis = sum(1 for _ in inis.iter_rows()) - 1
    print(f"sheet 1: {len(unit_rows) - 2} units + total (registered {unit_rows[-1][5]:,}); "
          f"sheet 2: {n_inis:,} initiatives; {out.stat().st_size / 2**20:.1f} MB")
    print(f"report: {seconds:.1f} s (goal ≤ {TIME_GOAL:.0f} s, ratio {seconds / TIME_GOAL:.2f}); "
          f"peak RSS {rss_mb:.0f} MB (goal ≤ {RSS_GOAL_MB:.0f} MB, ratio "
          f"{rss_mb / RSS_GOAL_MB:.2f}); CPU {cpu:.1f} s")
    ok = seconds <= TIME_GOAL and rss_mb <= RSS_GOAL_MB and n_inis == args.initiatives
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
