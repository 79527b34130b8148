"""Demo progress data, loaded with the demo directory on a first run (not by the tests'
fixtures): the documents' targets (bot/data/demo_targets.csv), a current demo phase holding
today with the latest phase's targets, and generated initiatives (channel "demo") spread
over the demo grassroots unions — so that /tiendo, its chart, /bangxephang and /baocao show
something real at once. A few hundred rows: well under a second."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.demo import DATA_DIR
from bot.progress_files import import_targets_sync, parse_targets
from storage import imports
from storage import progress as store
from storage import targets as target_store
from storage.models import unit_t
from storage.models_progress import phase_t

DEMO_PHASE = "GĐ demo"
DEMO_CHANNEL = "demo"
DAYS_BEFORE, DAYS_AFTER = 75, 45
INITIATIVES = 240
STATUS_WEIGHTS = {"valid": 35, "under_review": 45, "needs_revision": 8, "invalid": 7,
                  "withdrawn": 5}
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Lò", "Quàng", "Điểu")
MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Thanh", "Đức", "Ngọc")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hòa", "Hùng", "Lan", "Linh",
         "Mai", "Nam", "Phúc", "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Yến")
TITLES = (
    ("Cải tiến đồ gá hàn khung xe", "production"),
    ("Sắp xếp lại dây chuyền may cổ áo", "production"),
    ("Tận dụng nhiệt thải lò sấy hạt điều", "production"),
    ("Biển báo an toàn bằng hình ảnh tại khu máy cắt", "safety"),
    ("Che chắn dây curoa máy xay xát", "safety"),
    ("Số hóa sổ theo dõi đoàn viên", "admin_reform"),
    ("Một cửa tiếp nhận hồ sơ khám bệnh bảo hiểm", "admin_reform"),
    ("Phiếu điện tử đăng ký khám bệnh qua mã QR", "community"),
    ("Góc đọc sách cho con công nhân nhà trọ", "community"),
    ("Giảm thời gian thay khuôn ép đế giày", "production"),
    ("Tái sử dụng nước rửa máy lọc", "production"),
    ("Bảng phân công trực ca trên nhóm Zalo", "admin_reform"),
)


async def seed(engine: AsyncEngine, *, now: datetime) -> int:
    """Load the demo progress data once (when no demo phase exists); returns how many
    initiatives were generated."""
    async with engine.begin() as conn:
        return await conn.run_sync(lambda c: seed_sync(c, now=now))


def seed_sync(conn: Connection, *, now: datetime) -> int:
    if conn.execute(select(phase_t.c.id).where(phase_t.c.code == DEMO_PHASE)).first():
        return 0
    if not conn.execute(select(unit_t.c.id).where(unit_t.c.code == "VN",
                                                  unit_t.c.is_demo.is_(True))).first():
        return 0        # not the demo directory
    today = store.local_day(now)
    parsed = parse_targets((DATA_DIR / "demo_targets.csv").read_bytes())
    starts, ends = today - timedelta(days=DAYS_BEFORE), today + timedelta(days=DAYS_AFTER)
    latest = max(r.phase for r in parsed.rows)
    overlapping = {code for code, p in target_store.phases(conn).items()
                   if p.starts_on <= ends and p.ends_on >= starts}
    if overlapping:      # a real phase holds today: leave the data alone
        return 0
    demo = [replace(r, phase=DEMO_PHASE, starts_on=starts, ends_on=ends)
            for r in parsed.rows if r.phase == latest]
    parsed.rows += demo
    parsed.lines += [0] * len(demo)
    import_targets_sync(conn, parsed)
    return _initiatives(conn, now=now, starts=starts, today=today)


def _initiatives(conn: Connection, *, now: datetime, starts: date, today: date) -> int:
    units = conn.execute(select(unit_t.c.id, unit_t.c.parent_id, unit_t.c.member_count)
                         .where(unit_t.c.kind == "grassroots", unit_t.c.is_demo.is_(True))
                         .order_by(unit_t.c.code)).all()
    if not units:
        return 0
    rng = random.Random(2022)
    # big unions write more, and a few run ahead: the ranking then has something to show
    weights = [u.member_count ** 0.6 * rng.choice((0.5, 1, 1, 2, 4)) for u in units]
    who = imports.importer(conn, now=now)
    span = max(1, (today - starts).days)
    statuses, status_w = zip(*STATUS_WEIGHTS.items(), strict=True)
    for i in range(INITIATIVES):
        u = rng.choices(units, weights)[0]
        day = starts + timedelta(days=int(span * rng.random() ** 0.7))   # picking up pace
        title, field = rng.choice(TITLES)
        authors = [f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
                   for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        benefit = rng.choice((None, 0, 5, 12, 30, 80, 250)) if rng.random() < 0.8 else None
        imports.save(conn, imports.ImportedInitiative(
            None, f"{title} ({i + 1})", f"{title}: sáng kiến mẫu (demo).", authors, u.id,
            u.parent_id, field, benefit * 1_000_000 if benefit is not None else None,
            rng.choices(statuses, status_w)[0],
            min(now, datetime.combine(day, time(8 + i % 9, (7 * i) % 60), store.TIMEZONE))),
            entered_by=who, now=now, demo_channel=DEMO_CHANNEL)
    store.fold(conn)
    return INITIATIVES
