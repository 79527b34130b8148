"""Similar initiatives at union size: 50,000 initiatives sent to ONE union.

    python -m bench.bench_similar [--initiatives N] [--lookups N] [--pg URL]

1. Generates N plausible Vietnamese initiatives (title + a 2–4 sentence description, with
   diacritics) from lists of verbs, objects, workplaces, purposes, methods and results.
2. Inserts them into a fresh SQLite file (and a fresh PostgreSQL schema with `--pg URL`) and
   indexes them with `storage.similar.index_initiatives` (1,000 a statement, as a backfill
   would); prints the index build time and the number of terms.
3. Times `storage.similar.find_similar` for a mix of lookups:
   - near duplicate: an existing initiative re-typed — verb swapped for a synonym, words of
     the title reordered, often without accents, description sentences shuffled and
     numbers changed, as someone registering it a second time would;
   - new, known object: a fresh combination of the same lists (the union usually holds
     initiatives on the same machine at the same place: they are shown, rightly);
   - new, unseen object: about a machine or process no initiative mentions.
   Prints p50/p99/max in ms per kind (goal: p99 < 50 ms over all), how many hits are shown
   and the best hit's score, and for near duplicates how often the original (or a twin
   with its exact text) came first and within the three shown.
4. Times `index_initiative` for single submissions (a transaction each).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import pct, pg_schema, sqlite_file
from bot.demo import seed_if_empty
from storage import similar
from storage.migrate import upgrade
from storage.models import initiative_t, initiative_term_t, person_t, unit_t
from storage.textfold import fold

LOOKUP_GOAL_MS = 50.0

VERBS = (
    "Cải tiến", "Ứng dụng", "Tự động hóa", "Cải tạo", "Thiết kế và chế tạo", "Số hóa",
    "Hợp lý hóa", "Nâng cấp", "Chuẩn hóa", "Tối ưu hóa", "Lắp đặt", "Xây dựng",
    "Sáng chế", "Đổi mới", "Áp dụng công nghệ mới cho", "Tin học hóa", "Sửa chữa và phục hồi",
)
SYNONYMS = {  # how someone re-typing it might say the same thing
    "Cải tiến": "Cải tạo", "Cải tạo": "Cải tiến", "Ứng dụng": "Áp dụng", "Nâng cấp": "Cải tiến",
    "Tự động hóa": "Tự động hoá", "Số hóa": "Tin học hóa", "Tin học hóa": "Số hóa",
    "Tối ưu hóa": "Hợp lý hóa", "Hợp lý hóa": "Tối ưu hóa", "Chuẩn hóa": "Hợp lý hóa",
    "Thiết kế và chế tạo": "Chế tạo", "Lắp đặt": "Lắp ráp", "Xây dựng": "Thiết lập",
    "Sáng chế": "Chế tạo", "Đổi mới": "Cải tiến", "Áp dụng công nghệ mới cho": "Ứng dụng",
    "Sửa chữa và phục hồi": "Phục hồi",
}
OBJECTS = (
    "dây chuyền đóng gói", "quy trình kiểm kê kho", "máy cạo mủ cao su", "hệ thống chiếu sáng",
    "máy cắt vải", "băng tải nguyên liệu", "lò hơi đốt củi", "hệ thống xử lý nước thải",
    "máy ép nhựa", "bàn may công nghiệp", "quy trình tiếp nhận bệnh nhân", "sổ theo dõi công văn",
    "máy hàn bán tự động", "hệ thống bơm tưới", "xe nâng hàng", "tủ điện điều khiển",
    "phần mềm quản lý hồ sơ", "máy sấy hạt điều", "khuôn đúc gạch không nung",
    "quy trình vệ sinh công nghiệp", "hệ thống camera giám sát", "máy khoan bàn",
    "kho lạnh bảo quản thủy sản", "máy bóc vỏ hạt điều", "hệ thống thông gió nhà xưởng",
    "máy nén khí", "quy trình thu phí", "dụng cụ tháo lắp vòng bi", "máy tiện CNC",
    "hệ thống đo đếm điện năng", "quy trình cấp phát thuốc", "giáo án điện tử môn Toán",
    "thiết bị thí nghiệm Vật lý", "quy trình bảo dưỡng xe tải", "bồn chứa nước sạch",
    "hệ thống phòng cháy chữa cháy", "máy xay xát lúa gạo", "lưới chắn rác cửa xả",
    "quy trình chấm công", "giàn giáo thi công", "máy trộn bê tông", "thang máng cáp",
    "bộ đếm sản phẩm", "quy trình nhập liệu kế toán", "mẫu báo cáo thống kê",
    "máy in mã vạch", "hệ thống khí nén", "bể lắng bùn", "máy đóng nắp chai", "quạt làm mát",
    "cần trục bốc xếp", "hệ thống sổ sức khỏe điện tử", "quy trình giao nhận hàng hóa",
    "dao cắt chỉ tự động", "cữ gá định vị", "máy mài dao", "hộp số băng tải", "bếp ăn tập thể",
    "nồi hấp tiệt trùng", "máy đo huyết áp", "máy phát điện dự phòng", "trạm biến áp",
)
NOVEL_OBJECTS = (  # never generated into the database
    "robot hút bụi lò sấy", "máy gấp thùng carton", "hệ thống tưới nhỏ giọt nhà kính",
    "ứng dụng di động đặt suất ăn", "cảm biến rò rỉ khí gas", "máy bế hộp giấy",
    "thiết bị thu hồi nhiệt khí thải", "quy trình mượn trả sách thư viện",
)
PLACES = (
    "phân xưởng 1", "phân xưởng 2", "phân xưởng 3", "xưởng cơ điện", "khoa Nội",
    "khoa Ngoại", "khoa Dược", "khoa Cấp cứu", "tổ bảo trì", "nhà máy chế biến",
    "nông trường Phú Riềng", "nông trường Thuận Phú", "phòng Kế toán", "phòng Hành chính",
    "kho thành phẩm", "bộ phận đóng gói", "tổ may số 5", "trạm bơm Đồng Xoài",
    "xí nghiệp vận tải", "trường Tiểu học Tân Phú", "bếp trung tâm", "chi nhánh Bình Dương",
    "đội thi công số 2", "cảng Cái Lân", "xưởng gỗ", "bộ phận kho vận", "trạm y tế xã",
)
PURPOSES = (
    "nhằm giảm hao hụt nguyên liệu", "giúp tiết kiệm điện năng", "rút ngắn thời gian thao tác",
    "đảm bảo an toàn lao động", "giảm chi phí sửa chữa", "tăng năng suất lao động",
    "giảm ô nhiễm môi trường", "giảm sai sót khi ghi chép", "nâng cao chất lượng sản phẩm",
    "giảm tiếng ồn", "giảm thời gian chờ của người bệnh", "tiết kiệm nước",
    "thay thế thiết bị nhập khẩu", "giảm sức lao động thủ công", "",
)
PROBLEMS = (
    "còn làm thủ công, mất nhiều thời gian và dễ sai sót",
    "thường xuyên hỏng hóc, phải dừng máy để sửa chữa",
    "tiêu tốn nhiều điện năng và chi phí vận hành cao",
    "gây nguy hiểm cho người lao động khi thao tác",
    "không đáp ứng được sản lượng tăng trong mùa cao điểm",
    "phụ thuộc vào linh kiện nhập khẩu giá cao",
    "khó theo dõi, số liệu không thống nhất giữa các bộ phận",
    "gây ồn và bụi ảnh hưởng sức khỏe công nhân",
)
METHODS = (
    "lắp thêm cảm biến và bộ điều khiển PLC", "thiết kế lại đồ gá bằng thép không gỉ",
    "viết phần mềm quản lý trên nền web", "dùng mã vạch và máy quét cầm tay",
    "thay động cơ thường bằng động cơ biến tần", "tận dụng vật tư phế liệu sẵn có",
    "bố trí lại mặt bằng theo dòng chảy sản phẩm", "lập bảng tính Excel có công thức tự động",
    "gắn bộ hẹn giờ và rơ le bảo vệ", "chế tạo cơ cấu truyền động bằng xích",
    "chia ca làm việc và chuẩn hóa biểu mẫu", "sử dụng đèn LED và cảm biến chuyển động",
)
RESULTS = (
    "Đã áp dụng thử {n} tháng, làm lợi khoảng {m} triệu đồng mỗi năm.",
    "Sau {n} tháng áp dụng, năng suất tăng {p}%, tiết kiệm {m} triệu đồng.",
    "Thời gian thực hiện giảm {p}%, chi phí đầu tư chỉ {m} triệu đồng.",
    "Giải pháp đã được nhân rộng ra {n} đơn vị trong công ty.",
    "Không còn xảy ra sự cố trong {n} tháng qua; giá trị làm lợi ước tính {m} triệu đồng.",
)


def strip_accents(s: str) -> str:
    """Typed without accents (telex off): letters folded, case and punctuation kept."""
    nfd = unicodedata.normalize("NFD", s.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in nfd if not unicodedata.combining(c))


def make_initiative(rng: random.Random, objects: tuple[str, ...] = OBJECTS) -> dict[str, str]:
    verb, obj, place, purpose = (rng.choice(VERBS), rng.choice(objects), rng.choice(PLACES),
                                 rng.choice(PURPOSES))
    title = f"{verb} {obj} tại {place}" + (f" {purpose}" if purpose else "")
    sentences = [
        f"Hiện nay, {obj} ở {place} {rng.choice(PROBLEMS)}.",
        f"Giải pháp: {verb.lower()} {obj} bằng cách {rng.choice(METHODS)}"
        + (f", {rng.choice(METHODS)}" if rng.random() < 0.4 else "") + ".",
        rng.choice(RESULTS).format(n=rng.randint(2, 12), m=rng.randint(5, 900),
                                   p=rng.randint(10, 60)),
    ]
    if rng.random() < 0.5:
        sentences.append(f"Sáng kiến do tổ {rng.randint(1, 9)} đề xuất và thực hiện.")
    return {"title": title, "description": " ".join(sentences), "verb": verb, "obj": obj,
            "place": place, "purpose": purpose}


def near_duplicate(rng: random.Random, orig: dict[str, str]) -> tuple[str, str]:
    """The same initiative typed again by someone else."""
    verb = SYNONYMS.get(orig["verb"], orig["verb"]) if rng.random() < 0.6 else orig["verb"]
    shapes = [
        f"{verb} {orig['obj']} tại {orig['place']}",
        f"{verb} {orig['obj']} ở {orig['place']}",
        f"{orig['obj'].capitalize()} tại {orig['place']}: {verb.lower()}",
        f"{orig['place'].capitalize()} - {verb.lower()} {orig['obj']}",
    ]
    title = rng.choice(shapes)
    if orig["purpose"] and rng.random() < 0.5:
        title += f" {orig['purpose']}"
    sentences = [s.strip() + ("" if s.strip().endswith(".") else ".")
                 for s in orig["description"].split(". ") if s.strip()]
    rng.shuffle(sentences)
    if len(sentences) > 2 and rng.random() < 0.5:
        sentences.pop()
    desc = " ".join(sentences)
    for a, b in (("tháng", "tháng nay"), ("khoảng", "chừng"), ("Hiện nay, ", "")):
        if rng.random() < 0.5:
            desc = desc.replace(a, b)
    if rng.random() < 0.5:
        title, desc = strip_accents(title), strip_accents(desc)
    return title, desc


async def setup(engine: AsyncEngine, items: list[dict[str, str]]) -> tuple[int, int, float, int]:
    """Insert the initiatives into one union and index them; (unit, first id, secs, terms)."""
    await upgrade(engine=engine)
    await seed_if_empty(engine)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        unit_id = (await conn.execute(
            select(unit_t.c.id).where(unit_t.c.code == "BPC-PR"))).scalar_one()
        person = (await conn.execute(insert(person_t).values(name="Bench", created_at=now)
                                     .returning(person_t.c.id))).scalar_one()
        for start in range(0, len(items), 5000):
            await conn.execute(insert(initiative_t), [
                {"entered_by": person, "person_id": person, "author_name": "Bench",
                 "unit_id": unit_id, "title": it["title"], "description": it["description"],
                 "channel": "bench", "submitted_at": now, "status": "under_review",
                 "code": f"SK-{start + k + 1:06d}"}
                for k, it in enumerate(items[start:start + 5000])])
        first = (await conn.execute(select(func.min(initiative_t.c.id)))).scalar_one()
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        for start in range(0, len(items), 1000):
            await conn.run_sync(similar.index_initiatives, [
                (first + start + k, unit_id, it["title"], it["description"])
                for k, it in enumerate(items[start:start + 1000])])
    secs = time.perf_counter() - t0
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE initiative_term"))
            await conn.execute(text("ANALYZE initiative"))
        else:
            await conn.execute(text("ANALYZE"))
        n_terms = (await conn.execute(
            select(func.count()).select_from(initiative_term_t))).scalar_one()
    return unit_id, first, secs, n_terms


async def bench_backend(label: str, engine: AsyncEngine, items: list[dict[str, str]],
                        lookups: list[tuple[str, str, str, int | None]]) -> bool:
    print(f"\n== {label}")
    unit_id, first, secs, n_terms = await setup(engine, items)
    print(f"  index build            {secs:7.2f} s  {len(items):,} initiatives, "
          f"{n_terms:,} terms ({n_terms / len(items):.1f} each)")
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:   # index-only scans need the visibility map
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE initiative_term"))

    key = {i: (fold(it["title"]), fold(it["description"])) for i, it in enumerate(items)}
    ms_by_kind: dict[str, list[float]] = defaultdict(list)
    top_by_kind: dict[str, list[float]] = defaultdict(list)
    shown_by_kind: dict[str, list[int]] = defaultdict(list)
    top1 = top3 = n_dup = 0
    dup_scores: list[float] = []
    async with engine.connect() as conn:
        for _kind, title, desc, _orig in lookups[:20]:     # warm the caches
            await conn.run_sync(lambda c, t=title, d=desc: similar.find_similar(
                c, unit_id=unit_id, title=t, description=d))
        for kind, title, desc, orig in lookups:
            t0 = time.perf_counter()
            hits = await conn.run_sync(lambda c, t=title, d=desc: similar.find_similar(
                c, unit_id=unit_id, title=t, description=d))
            ms_by_kind[kind].append((time.perf_counter() - t0) * 1000)
            top_by_kind[kind].append(hits[0].score if hits else 0.0)
            shown_by_kind[kind].append(len(hits))
            if orig is None:
                continue
            n_dup += 1
            same = [h for h in hits if key.get(h.initiative_id - first) == key[orig]]
            top1 += bool(hits) and hits[0] in same
            top3 += bool(same)
            dup_scores.append(same[0].score if same else 0.0)
    print(f"  lookups ({len(lookups)}), ms; and the best hit's score (0 = none shown):")
    print(f"    {'kind':<22} {'n':>4} {'p50':>7} {'p99':>7} {'max':>7}   hits  best p50/p95")
    every: list[float] = []
    for kind, ms in ms_by_kind.items():
        every += ms
        top = top_by_kind[kind]
        print(f"    {kind:<22} {len(ms):>4} {pct(ms, 50):7.2f} {pct(ms, 99):7.2f} "
              f"{max(ms):7.2f}   {statistics.mean(shown_by_kind[kind]):4.1f}  "
              f"{pct(top, 50):5.1f}/{pct(top, 95):5.1f}")
    good = pct(every, 99) < LOOKUP_GOAL_MS
    print(f"    {'all':<22} {len(every):>4} {pct(every, 50):7.2f} {pct(every, 99):7.2f} "
          f"{max(every):7.2f}   [goal p99 < {LOOKUP_GOAL_MS:.0f} ms: "
          f"{'ok' if good else 'MISSED'}]")
    print(f"  near duplicates: the original (or a twin with its exact text) first "
          f"{top1}/{n_dup}, among the three {top3}/{n_dup}; its score p5/p50 "
          f"{pct(dup_scores, 5):.1f}/{pct(dup_scores, 50):.1f}")

    # One submission's share: index_initiative inside a transaction of its own.
    ms: list[float] = []
    for k, (_kind, title, desc, _orig) in enumerate(lookups[:200]):
        t0 = time.perf_counter()
        async with engine.begin() as conn:
            await conn.run_sync(lambda c, k=k, t=title, d=desc: similar.index_initiative(
                c, initiative_id=10_000_000 + k, unit_id=unit_id, title=t, description=d))
        ms.append((time.perf_counter() - t0) * 1000)
    print(f"  index_initiative + commit, ms: p50 {pct(ms, 50):.2f} p99 {pct(ms, 99):.2f}")
    return good


async def amain(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    rng = random.Random(7)
    items = [make_initiative(rng) for _ in range(args.initiatives)]
    lookups: list[tuple[str, str, str, int | None]] = []
    for i in range(args.lookups):
        if i % 2 == 0:
            orig = rng.randrange(len(items))
            lookups.append(("near duplicate", *near_duplicate(rng, items[orig]), orig))
        else:
            unseen = i % 4 == 1
            it = make_initiative(rng, NOVEL_OBJECTS if unseen else OBJECTS)
            lookups.append(("new, unseen object" if unseen else "new, known object",
                            it["title"], it["description"], None))
    print(f"generated {len(items):,} initiatives and {len(lookups)} lookups in "
          f"{time.perf_counter() - t0:.1f} s; e.g.\n  {items[0]['title']}\n  "
          f"{items[0]['description']}\n  near duplicate: {lookups[0][1]} / {lookups[0][2]}")
    ok = True
    async with sqlite_file() as engine:
        ok &= await bench_backend("SQLite (file, WAL)", engine, items, lookups)
    if args.pg:
        async with pg_schema(args.pg) as engine:
            ok &= await bench_backend("PostgreSQL", engine, items, lookups)
    print("\nall goals met" if ok else "\nsome goal MISSED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_similar", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--initiatives", type=int, default=50_000)
    p.add_argument("--lookups", type=int, default=500)
    p.add_argument("--pg", metavar="URL", help="also run on PostgreSQL (a schema of its own)")
    return asyncio.run(amain(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
