"""Directory import and union search at national size: 130,000 units in five levels.

    python -m bench.bench_units [--units N] [--searches N] [--pg URL] [--keep FILE.csv]

1. Generates a directory CSV: Tổng Liên đoàn → 63 provincial federations → ~700 district
   federations, sector and industrial-zone unions → ~7,000 unions above grassroots (enterprise
   groups, commune civil-servant unions, zone clusters) → grassroots unions (CĐCS), with
   Vietnamese names built from real place names and enterprise words.
2. Imports it with `bot.directory.import_units` (parse, validate, apply in one transaction)
   into a fresh SQLite file, and into a fresh PostgreSQL schema when `--pg URL` is given.
   Goal: < 30 s.
3. Re-imports the same file (nothing changes) and a file that moves one district federation,
   with its whole subtree, to another province (its search terms are recomputed).
4. Runs union searches through `storage.queries.search_units` (the bot's "which union?"
   step: grassroots=False) — "phu rieng", "y te <province>", "ldld <district>", one common
   word, a misspelling that finds nothing — and prints p50/p99 per kind. Goal: p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import pct, pg_schema, sqlite_file
from bot import directory
from storage import queries
from storage.migrate import upgrade
from storage.models import unit_t, unit_term_t
from storage.textfold import fold

IMPORT_GOAL = 30.0
SEARCH_GOAL_MS = 20.0

PROVINCES = (
    "An Giang", "Bà Rịa - Vũng Tàu", "Bạc Liêu", "Bắc Giang", "Bắc Kạn", "Bắc Ninh",
    "Bến Tre", "Bình Dương", "Bình Định", "Bình Phước", "Bình Thuận", "Cà Mau", "Cao Bằng",
    "Cần Thơ", "Đà Nẵng", "Đắk Lắk", "Đắk Nông", "Điện Biên", "Đồng Nai", "Đồng Tháp",
    "Gia Lai", "Hà Giang", "Hà Nam", "Hà Nội", "Hà Tĩnh", "Hải Dương", "Hải Phòng",
    "Hậu Giang", "Hòa Bình", "Hưng Yên", "Khánh Hòa", "Kiên Giang", "Kon Tum", "Lai Châu",
    "Lâm Đồng", "Lạng Sơn", "Lào Cai", "Long An", "Nam Định", "Nghệ An", "Ninh Bình",
    "Ninh Thuận", "Phú Thọ", "Phú Yên", "Quảng Bình", "Quảng Nam", "Quảng Ngãi", "Quảng Ninh",
    "Quảng Trị", "Sóc Trăng", "Sơn La", "Tây Ninh", "Thái Bình", "Thái Nguyên", "Thanh Hóa",
    "Thừa Thiên Huế", "Tiền Giang", "TP Hồ Chí Minh", "Trà Vinh", "Tuyên Quang", "Vĩnh Long",
    "Vĩnh Phúc", "Yên Bái",
)
CITY_PROVINCES = {"Hà Nội", "Hải Phòng", "Đà Nẵng", "Cần Thơ", "TP Hồ Chí Minh"}
DISTRICTS = (
    "Vĩnh Thuận", "Hoằng Hóa", "Quảng Xương", "Đông Sơn", "Thọ Xuân", "Tĩnh Gia",
    "Chơn Thành", "Đồng Xoài", "Bù Đăng", "Lộc Ninh", "Hớn Quản", "Châu Thành", "Cai Lậy",
    "Cái Bè", "Gò Công", "Tân Phước", "Chợ Gạo", "Mỏ Cày", "Ba Tri", "Giồng Trôm", "Bình Đại",
    "Thạnh Phú", "Long Thành", "Nhơn Trạch", "Trảng Bom", "Biên Hòa", "Dĩ An", "Thuận An",
    "Bến Cát", "Tân Uyên", "Dầu Tiếng", "Phú Giáo", "Củ Chi", "Hóc Môn", "Bình Chánh",
    "Nhà Bè", "Cần Giờ", "Thủ Đức", "Gia Lâm", "Đông Anh", "Sóc Sơn", "Mê Linh", "Ba Vì",
    "Thạch Thất", "Quốc Oai", "Chương Mỹ", "Thanh Oai", "Ứng Hòa", "Mỹ Đức", "Phú Xuyên",
    "Thường Tín", "Hoài Đức", "Đan Phượng", "Phúc Thọ", "Sơn Tây", "Kiến An", "Thủy Nguyên",
    "An Dương", "Tiên Lãng", "Vĩnh Bảo", "Cát Hải", "Hòa Vang", "Liên Chiểu", "Sơn Trà",
    "Ngũ Hành Sơn", "Cẩm Lệ", "Ninh Kiều", "Cái Răng", "Ô Môn", "Thốt Nốt", "Phong Điền",
    "Cờ Đỏ", "Vĩnh Thạnh", "Tuy Phước", "An Nhơn", "Hoài Nhơn", "Phù Cát", "Tây Sơn",
    "Điện Bàn", "Duy Xuyên", "Thăng Bình", "Núi Thành", "Tam Kỳ", "Hội An", "Quế Sơn",
    "Nghĩa Hành", "Mộ Đức", "Đức Phổ", "Bình Sơn", "Sơn Tịnh", "Tư Nghĩa", "Lý Sơn",
    "Diễn Châu", "Quỳnh Lưu", "Yên Thành", "Đô Lương", "Nam Đàn", "Hưng Nguyên", "Nghi Lộc",
    "Thanh Chương", "Anh Sơn", "Con Cuông", "Tương Dương", "Kỳ Sơn", "Quế Phong", "Mường Tè",
)
SECTORS = ("Y tế", "Giáo dục", "Công Thương", "Giao thông Vận tải", "Xây dựng",
           "Nông nghiệp và Phát triển nông thôn", "Viên chức")
SYLLABLES = (
    "Tân", "Phú", "Long", "Hòa", "An", "Bình", "Thạnh", "Mỹ", "Vĩnh", "Hưng", "Phước",
    "Thuận", "Đông", "Tây", "Nam", "Bắc", "Trung", "Xuân", "Hải", "Sơn", "Lộc", "Thành",
    "Minh", "Quang", "Đức", "Nghĩa", "Hiệp", "Lợi", "Thịnh", "Khánh", "Hậu", "Tiến", "Cường",
    "Định", "Quý", "Hồng", "Kim", "Ngọc", "Châu", "Lạc", "Yên", "Thái", "Cẩm", "Hà", "Giang",
)
TRADES = (
    "May mặc", "Giày da", "Cao su", "Chế biến Gỗ", "Thủy sản", "Điện tử", "Cơ khí",
    "Xây dựng", "Dệt may", "Bao bì", "Thực phẩm", "Dược phẩm", "Vận tải", "Nhựa", "Thép",
    "Xi măng", "Phân bón", "Chế biến Hạt điều", "Cà phê", "Chè", "Mía đường", "Gạch men",
    "Điện lực", "Cấp nước", "Môi trường Đô thị", "In", "Bia", "Sữa", "Linh kiện Ô tô",
)
FORMS = ("Công ty TNHH", "Công ty CP", "Công ty TNHH MTV", "Doanh nghiệp tư nhân", "Hợp tác xã")
PUBLIC = ("Trường Mầm non", "Trường Tiểu học", "Trường THCS", "Trường THPT", "Trạm Y tế xã",
          "UBND xã", "Bệnh viện Đa khoa", "Trung tâm Y tế", "Kho bạc Nhà nước", "Chi cục Thuế")


def _place(rng: random.Random) -> str:
    return f"{rng.choice(SYLLABLES)} {rng.choice(SYLLABLES)}"


def generate(n_units: int, seed: int = 7) -> tuple[list[list[str]], dict[str, list[str]]]:
    """The directory rows (header first) and the names the searches will ask for."""
    rng = random.Random(seed)
    rows: list[list[str]] = [list(directory.COLUMNS)]
    names: dict[str, list[str]] = defaultdict(list)

    def add(code: str, name: str, parent: str, kind: str, bloc: str, members: int,
            cluster: str = "") -> None:
        rows.append([code, name, parent, kind, bloc, str(members), cluster])

    add("VN", "Tổng Liên đoàn Lao động Việt Nam", "", "national", "other", 11_000_000)
    n_prov = len(PROVINCES)
    n_l2 = 700
    n_l3 = 7000
    left = n_units - 1 - n_prov - n_l2 - n_l3
    if left <= 0:
        raise SystemExit("--units must be more than 7,764")
    l2: list[str] = []
    districts = list(DISTRICTS)
    rng.shuffle(districts)
    d_i = 0
    for p_i, prov in enumerate(PROVINCES):
        pc = f"P{p_i:02d}"
        city = prov in CITY_PROVINCES
        add(pc, f"LĐLĐ {'thành phố' if city else 'tỉnh'} {prov}", "VN", "province", "other",
            rng.randint(40_000, 900_000))
        names["province"].append(prov)
        share = n_l2 // n_prov + (1 if p_i < n_l2 % n_prov else 0)
        for j in range(share):
            code = f"{pc}-{j:02d}"
            if j < len(SECTORS) - 4:
                name, kind = f"Công đoàn ngành {SECTORS[j]}", "sector"
            elif j == len(SECTORS) - 4:
                name, kind = f"Công đoàn các Khu công nghiệp {prov}", "industrial_zone"
            else:
                if prov == "Bình Phước" and j == share - 1:
                    district = "Phú Riềng"
                else:
                    district = districts[d_i % len(districts)]
                    if d_i >= len(districts):
                        district = f"{district} {_place(rng).split()[0]}"
                    d_i += 1
                name, kind = f"LĐLĐ huyện {district}", "district"
                names["district"].append(district)
            add(code, name, pc, kind, "other", rng.randint(2_000, 60_000))
            l2.append(code)
    l3: list[str] = []
    for i in range(n_l3):
        parent = l2[i % len(l2)]
        code = f"{parent}-{i // len(l2):02d}"
        r = rng.random()
        if r < 0.4:
            name = f"Công đoàn Tổng công ty {rng.choice(TRADES)} {_place(rng)}"
            kind = "sector"
        elif r < 0.8:
            name = f"Công đoàn viên chức xã {_place(rng)}"
            kind = "district"
        else:
            name = f"Công đoàn Cụm công nghiệp {_place(rng)}"
            kind = "industrial_zone"
        add(code, name, parent, kind, "other", rng.randint(200, 8_000))
        l3.append(code)
    for i in range(left):
        parent = l3[i % len(l3)]
        code = f"{parent}-{i // len(l3):03d}"
        if rng.random() < 0.6:
            name = f"CĐCS {rng.choice(FORMS)} {rng.choice(TRADES)} {_place(rng)}"
            bloc = "enterprise"
        else:
            name = f"CĐCS {rng.choice(PUBLIC)} {_place(rng)}"
            bloc = "public_service"
        add(code, name, parent, "grassroots", bloc, rng.randint(10, 5_000),
            f"Cụm thi đua số {rng.randint(1, 6)}")
    return rows, names


def to_csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def queries_mix(names: dict[str, list[str]], n: int, seed: int = 11) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    kinds = [
        ("phu rieng", lambda: "phu rieng"),
        ("y te <province>", lambda: f"y te {fold(rng.choice(names['province']))}"),
        ("ldld <district>", lambda: f"ldld {fold(rng.choice(names['district']))}"),
        ("common word", lambda: rng.choice(("cong doan", "tinh", "huyen", "ldld", "nganh"))),
        ("no match", lambda: rng.choice(("phu rienggg", "xqzt", "ldld huyen khongco",
                                         "y te atlantis"))),
    ]
    return [(k, make()) for i in range(n) for k, make in (kinds[i % len(kinds)],)]


async def bench_backend(label: str, engine: AsyncEngine, data: bytes, moved: bytes,
                        searches: list[tuple[str, str]]) -> bool:
    ok = True
    await upgrade(engine=engine)
    print(f"\n== {label}")
    t0 = time.perf_counter()
    stats = await directory.import_units(engine, data)
    t_import = time.perf_counter() - t0
    async with engine.connect() as conn:
        n_units = (await conn.execute(select(func.count()).select_from(unit_t))).scalar_one()
        n_terms = (await conn.execute(select(func.count()).select_from(unit_term_t))).scalar_one()
    good = t_import < IMPORT_GOAL
    ok &= good
    print(f"  import (fresh)         {t_import:7.2f} s  {stats.added:,} units, {n_terms:,} "
          f"search terms  [goal < {IMPORT_GOAL:.0f} s: {'ok' if good else 'MISSED'}]")
    assert n_units == stats.added, (n_units, stats)

    t0 = time.perf_counter()
    again = await directory.import_units(engine, data)
    print(f"  re-import (no change)  {time.perf_counter() - t0:7.2f} s  "
          f"{again.unchanged:,} unchanged, {again.updated} updated")
    t0 = time.perf_counter()
    mv = await directory.import_units(engine, moved)
    print(f"  re-import with a move  {time.perf_counter() - t0:7.2f} s  moved {mv.moved}, "
          f"{mv.depth_changed} levels changed, terms recomputed for {mv.terms_rebuilt:,} units")

    by_kind: dict[str, list[float]] = defaultdict(list)
    hits_by_kind: dict[str, list[int]] = defaultdict(list)
    async with engine.connect() as conn:
        for _k, q in searches[:20]:     # warm the caches
            await conn.run_sync(lambda c, q=q: queries.search_units(c, q, grassroots=False))
        for kind, q in searches:
            t0 = time.perf_counter()
            hits, _trunc = await conn.run_sync(
                lambda c, q=q: queries.search_units(c, q, grassroots=False))
            by_kind[kind].append((time.perf_counter() - t0) * 1000)
            hits_by_kind[kind].append(len(hits))
    print(f"  searches ({len(searches)}, grassroots=False), ms:")
    print(f"    {'query':<18} {'n':>4} {'p50':>7} {'p99':>7} {'max':>7}  hits(median)")
    every: list[float] = []
    for kind, ms in by_kind.items():
        every += ms
        print(f"    {kind:<18} {len(ms):>4} {pct(ms, 50):7.2f} {pct(ms, 99):7.2f} "
              f"{max(ms):7.2f}  {statistics.median(hits_by_kind[kind]):.0f}")
    good = pct(every, 99) < SEARCH_GOAL_MS
    ok &= good
    print(f"    {'all':<18} {len(every):>4} {pct(every, 50):7.2f} {pct(every, 99):7.2f} "
          f"{max(every):7.2f}  [goal p99 < {SEARCH_GOAL_MS:.0f} ms: "
          f"{'ok' if good else 'MISSED'}]")
    return ok


async def amain(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    rows, names = generate(args.units)
    data = to_csv(rows)
    # Move the district federation of Phú Riềng (and its subtree) to another province.
    moved_rows = [list(r) for r in rows]
    pr = next(r for r in moved_rows if r[1] == "LĐLĐ huyện Phú Riềng")
    pr[2] = "P01-04"
    moved = to_csv(moved_rows)
    if args.keep:
        await asyncio.to_thread(Path(args.keep).write_bytes, data)
    print(f"generated {len(rows) - 1:,} units ({len(data) / 1e6:.1f} MB CSV) in "
          f"{time.perf_counter() - t0:.1f} s; later moving {pr[0]} {pr[1]!r} under P01-04 "
          "(a district: one level down)")
    searches = queries_mix(names, args.searches)
    ok = True
    async with sqlite_file() as engine:
        ok &= await bench_backend("SQLite (file, WAL)", engine, data, moved, searches)
    if args.pg:
        async with pg_schema(args.pg) as engine:
            ok &= await bench_backend("PostgreSQL", engine, data, moved, searches)
    print("\nall goals met" if ok else "\nsome goal MISSED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_units", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", type=int, default=130_000)
    p.add_argument("--searches", type=int, default=500)
    p.add_argument("--pg", metavar="URL", help="also run on PostgreSQL (a schema of its own)")
    p.add_argument("--keep", metavar="FILE", help="write the generated CSV there")
    return asyncio.run(amain(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
