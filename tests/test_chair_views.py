"""The chair's views apart from the chat apps: the /tiendo text for the figures the
programme's documents report (Vietnamese, the default), the text bar, the charts, `sangkien
report` and `sangkien chat --as chair` as real processes."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from bot import charts
from bot.render_progress import progress_text, ranking_text, text_bar
from bot.services.progress import (
    AuthorRow,
    PhaseInfo,
    Progress,
    Ranking,
    RankRow,
    TargetFigure,
    UnitFigures,
)
from storage.engine import make_engine
from storage.migrate import upgrade
from tests.test_cli import sangkien
from tests.test_e2e_progress import seed

PHASE = PhaseInfo(1, "GĐ1", date(2022, 1, 24), date(2022, 5, 31), False)


def figures(name: str = "LĐLĐ tỉnh Điện Biên", *, targets: tuple[TargetFigure, ...] = (),
            registered: int = 396, members: int | None = 9900) -> UnitFigures:
    return UnitFigures(1, "DBN", name, "province", None, members, registered, 136, 260, 0, 7, 2,
                       350, 1_250_000_000, targets, None)


DIEN_BIEN_TARGET = TargetFigure("member_ratio", Decimal("0.10"), None, 9900, 990, 396, 40.0,
                                594, "VN", None)


def test_dien_bien_as_a_chair_reads_it() -> None:
    """12/5/2022: 396 registered (136 valid, 260 under review), 40% of 990, 594 short."""
    p = Progress(PHASE, figures(targets=(DIEN_BIEN_TARGET,)), date(2022, 5, 12), 20, 29.7,
                 12.5, 646, (), False, 10)
    text = progress_text(p, locale="vi")
    assert "<b>Đã đăng ký: 396</b>" in text
    assert "hợp lệ 136 · đang xem xét 260 · cần bổ sung 0 · không hợp lệ 7" in text
    assert "Chỉ tiêu: 990 sáng kiến — 10% của 9.900 đoàn viên (theo chỉ tiêu của VN)" in text
    assert "▓▓▓▓░░░░░░ 40% của 990 (396 đã đăng ký) · còn thiếu 594" in text
    assert "còn 20 ngày" in text and "29,7 sáng kiến mỗi ngày" in text
    assert "Nhịp độ 14 ngày qua: 12,5" in text and "dự báo cuối giai đoạn: 646" in text
    assert "(3,5% của 9.900 đoàn viên)" in text              # participation, and its basis
    assert "1.250.000.000" in text and "₫" in text
    english = progress_text(p, locale="en")
    assert "10% of 9,900 members" in english and "594 short" in english


def test_several_targets_and_none_and_escaping() -> None:
    """Vĩnh Thuận: 5% of members and at least 50; each shown. A name is escaped."""
    five = TargetFigure("member_ratio", Decimal("0.05"), None, 1150, 58, 30, None, 28, None,
                        None)
    fifty = TargetFigure("count", Decimal(50), None, None, 50, 30, None, 20, None, "ít nhất 50")
    p = Progress(PHASE, figures("<b>Vĩnh Thuận</b>", targets=(five, fifty), registered=30,
                                members=1150), date(2022, 5, 12), 20, 1.4, 1.0, 50, (), False, 0)
    text = progress_text(p, locale="en")
    assert "&lt;b&gt;Vĩnh Thuận&lt;/b&gt;" in text
    assert "5% of 1,150 members" in text and "28 short" in text
    assert "Target: 50 initiatives — a set number of initiatives" in text and "20 short" in text
    bloc = TargetFigure("per_member", Decimal("0.0667"), "enterprise", 3000, 200, 10, None,
                        190, None, None)
    text = progress_text(Progress(PHASE, figures(targets=(bloc,)), date(2022, 5, 12), 20, 9.5,
                                  0.0, 10, (), False, 0), locale="vi")
    assert "1 sáng kiến / 15 đoàn viên, trên 3.000 đoàn viên khối doanh nghiệp" in text
    none = progress_text(Progress(PHASE, figures(), date(2022, 5, 12), 20, None, 0.0, 396, (),
                                  False, 0), locale="en")
    assert "No target is set for this unit in this phase." in none


def test_text_bar() -> None:
    assert text_bar(62, "vi") == "▓▓▓▓▓▓░░░░ 62%"
    assert text_bar(351.4, "vi") == "▓▓▓▓▓▓▓▓▓▓ 351,4%"   # full, and the true figure beside
    assert text_bar(62.5, "en") == "▓▓▓▓▓▓░░░░ 62.5%"    # as `percent` writes it
    assert text_bar(0, "vi") == "░░░░░░░░░░ 0%"
    assert text_bar(None, "vi") == "░░░░░░░░░░ –"
    assert text_bar(40, "vi", width=5) == "▓▓░░░ 40%"


def test_ranking_marks_the_own_unit_and_lists_authors() -> None:
    a = figures("CĐCS A", targets=(DIEN_BIEN_TARGET,))
    b = figures("CĐCS B", targets=())
    r = Ranking(PHASE, "DBN-TP", "LĐLĐ TP Điện Biên Phủ", "cluster",
                (RankRow(1, a, 4.0, False), RankRow(2, b, None, True)), 12)
    text = ranking_text(r, locale="vi", authors=[AuthorRow(1, "Lò Văn <A>", 5, 7)])
    assert "Xếp hạng cụm thi đua LĐLĐ TP Điện Biên Phủ" in text
    assert "1. CĐCS A — 40% · 4/100 đoàn viên · 396 đã đăng ký, 136 hợp lệ" in text
    assert "▶ 2. <b>CĐCS B</b> — – · chưa rõ số đoàn viên" in text and "(đơn vị của bạn)" in text
    assert "… tổng cộng 12 đơn vị" in text
    assert "1. Lò Văn &lt;A&gt; — 5 hợp lệ, 7 đã đăng ký" in text


def test_charts_are_png() -> None:
    cumulative = charts.CumulativeChart("Phú Riềng", date(2022, 1, 8), date(2022, 5, 31),
                                        ((date(2022, 1, 9), 3), (date(2022, 2, 1), 40)), 1250)
    assert charts.draw_cumulative(cumulative, locale="vi").startswith(b"\x89PNG")
    bars = charts.ChildrenChart("Phú Riềng", (("A", 12.0), ("B", 130.0)))
    assert charts.draw_children(bars, locale="en").startswith(b"\x89PNG")
    assert charts.draw_children(charts.ChildrenChart("x", ()), locale="en").startswith(b"\x89PNG")


def seeded_database(tmp_path: Path) -> None:
    async def build() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/cli.db")
        await upgrade(engine=engine)
        from bot.demo import seed_if_empty
        await seed_if_empty(engine)
        async with engine.begin() as conn:
            await conn.run_sync(seed)
        await engine.dispose()
    asyncio.run(build())


def test_report_command(tmp_path: Path) -> None:
    seeded_database(tmp_path)
    done = sangkien(tmp_path, "report", "bpc-pr", "--phase", "GDT", "-o", "r.xlsx")
    assert done.returncode == 0, done.stderr
    assert "r.xlsx: 5 units, 50 initiatives (BPC-PR, phase GĐT)" in done.stdout
    units = load_workbook(tmp_path / "r.xlsx").worksheets[0]
    rows = list(units.iter_rows(values_only=True))
    assert rows[-1][1] == "Total" and rows[-1][5] == 48
    # The total's member count is the union's own, the one its target is taken of (beside
    # it: "10% of 12,500 members"), not the sum of the few unions the demo lists below it.
    assert rows[-1][2] == 12_500 and "12,500" in rows[-1][4]
    unknown = sangkien(tmp_path, "report", "BPC-PR", "--phase", "GD9")
    assert unknown.returncode == 1 and "no phase is called «GD9»; the phases: GĐT" in unknown.stderr
    assert not list(tmp_path.glob("*.part"))
    missing = sangkien(tmp_path, "report", "NOPE")
    assert missing.returncode == 1 and "no union has the code NOPE" in missing.stderr


def test_chat_as_chair(tmp_path: Path) -> None:
    seeded_database(tmp_path)
    chat = sangkien(tmp_path, "chat", "--as", "chair", stdin="/tiendo\n/baocao\n")
    assert chat.returncode == 0, chat.stderr
    out = chat.stdout
    assert "You are now chair of LĐLĐ huyện Phú Riềng" in out
    assert "Progress: LĐLĐ huyện Phú Riềng" in out and "Registered: 48" in out
    charts_saved = list((tmp_path / "exports").glob("*.png"))
    reports = list((tmp_path / "exports").glob("*.xlsx"))
    assert charts_saved and reports
    assert f"(file saved: {reports[0]})" in out


def test_attachments_are_kept_as_descriptions() -> None:
    """A reply is kept with its event as JSON until sent: its chart or report travels as a
    small description (no bytes), and comes back the same."""
    from bot import media
    from bot.events import Outcome, Reply, replies_from_json, replies_json
    from bot.services.actor import Actor

    att = media.attachment("report", actor=Actor(7, "telegram"), unit_code="BPC-PR",
                           phase_code="GĐ1", locale="vi")
    kept = replies_json(Outcome([Reply("Báo cáo", separate=True, attachment=att),
                                 Reply("x")], locale="vi"))
    assert kept is not None and len(kept) < 400
    _locale, replies = replies_from_json(kept)
    assert replies[0].attachment == att and replies[1].attachment is None
    assert media.spec_of(att) == {"unit": "BPC-PR", "phase": "GĐ1", "person": 7,
                                  "channel": "telegram", "locale": "vi", "mode": ""}


def test_media_links_are_signed_and_expire() -> None:
    from bot import media
    from bot.services.actor import Actor

    key = media.media_key("zalo-token")
    att = media.attachment("chart", actor=Actor(7, "zalo"), unit_code="BPC-PR",
                           phase_code="GĐ1", locale="vi", mode="cumulative")
    token = media.signed_token(key, att, now=1000.0, lifetime=60)
    assert media.open_token(key, token, now=1059.0) == att
    assert media.open_token(key, token, now=1061.0) is None                # expired
    assert media.open_token(media.media_key("other"), token, now=1000.0) is None
    body, mac = token.split(".")
    assert media.open_token(key, body[:-2] + "AA." + mac, now=1000.0) is None  # altered
    assert media.open_token(key, "garbage", now=1000.0) is None
