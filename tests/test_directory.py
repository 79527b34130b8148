"""The union directory: import (CSV as Excel writes it, UTF-16, XLSX), validation, moves,
export round trips and QR posters. Storage tests run on SQLite and on PostgreSQL (`db`)."""

from __future__ import annotations

import argparse
import codecs
import io
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
from PIL import Image
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import cli_units, directory, posters
from bot.config import Settings
from bot.i18n import gettext_for
from storage import queries
from storage.models import unit_t, unit_term_count_t, unit_term_t
from storage.textfold import terms

EN = gettext_for("en")
HEADER = "code,name,parent_code,kind,bloc,member_count,cluster\n"


async def import_text(db: AsyncEngine, body: str, *, header: str = HEADER):
    return await directory.import_units(db, (header + body).encode("utf-8"))


async def rejected(db: AsyncEngine, data: bytes) -> list[str]:
    before = await snapshot(db)
    with pytest.raises(directory.DirectoryError) as info:
        await directory.import_units(db, data)
    assert await snapshot(db) == before, "a rejected file changed the directory"
    return info.value.render(EN)


async def snapshot(db: AsyncEngine) -> tuple[list[tuple], list[tuple]]:
    async with db.connect() as conn:
        units = (await conn.execute(select(unit_t).order_by(unit_t.c.id))).all()
        term_rows = (await conn.execute(select(unit_term_t).order_by(
            unit_term_t.c.unit_id, unit_term_t.c.term))).all()
    return [tuple(u) for u in units], [tuple(t) for t in term_rows]


async def check_consistent(db: AsyncEngine) -> None:
    """Depths and search terms are what a fresh import of the tree would give."""
    units, term_rows = await snapshot(db)
    cols = list(unit_t.c.keys())
    by_id = {u[0]: dict(zip(cols, u, strict=True)) for u in units}
    want: set[tuple[bool, str, int, bool]] = set()
    for uid, u in by_id.items():
        chain, p = [], u["parent_id"]
        while p is not None:
            chain.append(by_id[p]["name"])
            p = by_id[p]["parent_id"]
        assert u["depth"] == len(chain), (u["code"], u["depth"], len(chain))
        own = terms(u["name"])
        g = u["kind"] == "grassroots"
        want.update((g, t, uid, True) for t in own)
        seen = set(own)
        for name in chain:
            for t in terms(name):
                if t not in seen:
                    seen.add(t)
                    want.add((g, t, uid, False))
    got = {(bool(g), t, uid, bool(own)) for g, t, uid, own in term_rows}
    assert got == want, (sorted(got - want)[:5], sorted(want - got)[:5])
    tally = Counter((g, t) for g, t, _uid, _own in want)
    async with db.connect() as conn:
        counted = {(bool(g), t): n for g, t, n in await conn.execute(select(
            unit_term_count_t.c.grassroots, unit_term_count_t.c.term,
            unit_term_count_t.c.units))}
    assert counted == dict(tally)


async def search(db: AsyncEngine, q: str, **kw: object) -> list[str]:
    async with db.connect() as conn:
        hits, _ = await conn.run_sync(lambda c: queries.search_units(c, q, **kw))
    return [h.code for h in hits]


# --------------------------------------------------------------------------- parsing only


def test_vietnamese_headers_values_and_number_formats() -> None:
    text = ("Mã;Tên đơn vị;Mã đơn vị cấp trên;Loại;Khối;Số đoàn viên;Cụm thi đua;Ghi chú\n"
            "x-1;  CĐCS   Công ty A ;bpc-pr;Cơ sở;Doanh nghiệp;1.250;Cụm 1;note\n"
            "X-2;CĐCS Trường B;BPC-PR;grassroots;Hành chính, sự nghiệp;2 400;;\n"
            "X-3;CĐCS C;BPC-PR;cdcs;;;;\n")
    parsed = directory.parse(text.encode())
    assert parsed.problems == []
    a, b, c = parsed.rows
    assert (a.code, a.name, a.parent_code, a.kind, a.bloc, a.member_count, a.cluster) == (
        "X-1", "CĐCS Công ty A", "BPC-PR", "grassroots", "enterprise", 1250, "Cụm 1")
    assert (b.bloc, b.member_count, b.cluster) == ("public_service", 2400, None)
    assert (c.kind, c.bloc, c.member_count) == ("grassroots", "other", 0)
    assert parsed.lines == {"X-1": 2, "X-2": 3, "X-3": 4}


def test_decomposed_accents_are_stored_composed() -> None:
    import unicodedata

    nfd = unicodedata.normalize("NFD", "CĐCS Công ty Phú Riềng")
    parsed = directory.parse((HEADER + f"N1,{nfd},,national,other,1,\n").encode())
    assert parsed.rows[0].name == unicodedata.normalize("NFC", nfd)


# --------------------------------------------------------------------------- import


async def test_import_a_small_file(db: AsyncEngine) -> None:
    stats = await import_text(db, (
        "HNI,LĐLĐ thành phố Hà Nội,VN,province,other,\"1,200,000\",\n"
        "HNI-GL-001,CĐCS Công ty TNHH Sứ Bát Tràng,HNI-GL,grassroots,enterprise,320,Cụm 1\n"
        "HNI-GL,LĐLĐ huyện Gia Lâm,HNI,district,other,15000,\n"))   # child before parent
    assert (stats.added, stats.updated, stats.unchanged) == (3, 0, 0)
    assert stats.untouched == 48
    assert (await search(db, "gia lam", grassroots=False))[0] == "HNI-GL"
    assert await search(db, "bat trang ha noi", grassroots=True) == ["HNI-GL-001"]
    async with db.connect() as conn:
        hit = await conn.run_sync(lambda c: queries.unit_by_code(c, "hni-gl-001"))
        members = (await conn.execute(select(unit_t.c.member_count).where(
            unit_t.c.code == "HNI"))).scalar_one()
    assert hit and hit.depth == 3 and hit.parent_name == "LĐLĐ huyện Gia Lâm"
    assert members == 1_200_000
    await check_consistent(db)


async def test_reimport_renames_and_moves_a_subtree(db: AsyncEngine) -> None:
    assert "BPC-PR-001" in await search(db, "phu rieng binh phuoc", grassroots=True)
    # LĐLĐ huyện Phú Riềng (with its five grassroots unions) moves from the province of
    # Bình Phước to under the city federation of Thanh Hóa: one level deeper.
    stats = await import_text(db, (
        "BPC-PR,LĐLĐ huyện Phú Riềng,THA-TP,district,other,12500,\n"
        "BPC-PR-001,CĐCS Công ty Cao su Phú Riềng Mới,BPC-PR,grassroots,enterprise,2900,"
        "Cụm thi đua số 1 (Phú Riềng)\n"
        "THA-TP,LĐLĐ TP Thanh Hóa,THA,district,other,31000,\n"))
    assert (stats.added, stats.updated, stats.unchanged) == (0, 3, 0)
    assert stats.moved == ["BPC-PR"] and sorted(stats.renamed) == ["BPC-PR-001", "THA-TP"]
    assert stats.depth_changed == 6        # BPC-PR and its five grassroots unions
    assert stats.untouched == 45
    assert stats.terms_rebuilt == len({"THA-TP", "BPC-PR"} | {f"BPC-PR-00{i}" for i in
                                                              range(1, 6)}
                                      | {f"THA-TP-00{i}" for i in range(1, 5)})

    moved = await search(db, "phu rieng thanh hoa", grassroots=True)
    assert {f"BPC-PR-00{i}" for i in range(1, 6)} <= set(moved)
    assert not {c for c in await search(db, "phu rieng binh phuoc", grassroots=True)
                if c.startswith("BPC-PR")}
    assert "BPC-PR-001" in await search(db, "cao su moi", grassroots=True)
    assert "BPC-PR-001" not in await search(db, "tnhh cao su", grassroots=True)
    async with db.connect() as conn:
        hit = await conn.run_sync(lambda c: queries.unit_by_code(c, "BPC-PR-003"))
    assert hit and hit.depth == 4
    await check_consistent(db)


async def test_unchanged_reimport_changes_nothing(db: AsyncEngine) -> None:
    before = await snapshot(db)
    stats = await import_text(db, "BPC,LĐLĐ tỉnh Bình Phước,VN,province,other,125000,\n")
    assert (stats.added, stats.updated, stats.unchanged, stats.terms_rebuilt) == (0, 0, 1, 0)
    assert await snapshot(db) == before


# --------------------------------------------------------------------------- rejections

BAD_FILES = [
    ("unknown parent",
     "N1,CĐCS Một,BPC-PR,grassroots,enterprise,10,\nN2,CĐCS Hai,NOPE,grassroots,other,1,\n",
     ["Line 3: unknown parent «NOPE»"]),
    ("cycle in the file",
     "A1,CĐ A,B1,sector,other,1,\nB1,CĐ B,C1,sector,other,1,\nC1,CĐ C,A1,sector,other,1,\n",
     ["Line 2: this makes a cycle: A1 → B1 → C1 → A1"]),
    ("own parent", "A1,CĐ A,A1,sector,other,1,\n", ["Line 2: this makes a cycle: A1 → A1"]),
    ("cycle with existing units",
     "BPC,LĐLĐ tỉnh Bình Phước,BPC-PR-001,province,other,125000,\n",
     ["Line 2: this makes a cycle: BPC → BPC-PR-001 → BPC-PR → BPC"]),
    ("duplicate code",
     "N1,CĐ Một,VN,sector,other,1,\nN2,CĐ Hai,VN,sector,other,1,\nn1,CĐ Ba,VN,sector,other,1,\n",
     ["Line 4: duplicate code «N1» (already on line 2)"]),
    ("bad number", "N1,CĐ Một,VN,sector,other,12.5,\nN2,CĐ Hai,VN,sector,other,-3,\n",
     ["Line 2: bad member count «12.5»", "Line 3: bad member count «-3»"]),
    ("empty name", "N1, ,VN,sector,other,1,\n", ["Line 2: the name is empty"]),
    ("unknown kind", "N1,CĐ Một,VN,union,other,1,\n", ["Line 2: unknown kind «union»"]),
    ("unknown bloc", "N1,CĐ Một,VN,sector,private,1,\n", ["Line 2: unknown bloc «private»"]),
    ("bad code", "N 1,CĐ Một,VN,sector,other,1,\n,CĐ Hai,VN,sector,other,1,\n",
     ["Line 2: bad code «N 1»", "Line 3: the code is empty"]),
    ("extra values", "N1,CĐ Một,VN,sector,other,1,,surprise\n",
     ["Line 2: more values than columns"]),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in BAD_FILES],
                         ids=[c[0] for c in BAD_FILES])
async def test_a_bad_file_is_rejected_whole(db: AsyncEngine, body: str,
                                            expected: list[str]) -> None:
    # A valid first row that must not be applied either.
    messages = await rejected(db, (HEADER + body).encode())
    assert len(messages) == len(expected), messages
    for message, want in zip(messages, expected, strict=True):
        assert message.startswith(want), messages


async def test_every_problem_is_listed_in_line_order(db: AsyncEngine) -> None:
    body = ("GOOD,CĐ Tốt,VN,sector,other,1,\n"
            "\n"
            "N1,,NOPE,weird,enterprise,x,\n"
            "GOOD,CĐ Trùng,VN,sector,other,1,\n")
    messages = await rejected(db, (HEADER + body).encode())
    assert messages == [
        "Line 4: the name is empty",
        "Line 4: unknown kind «weird» (expected one of: national, province, sector, district, "
        "industrial_zone, grassroots; or in Vietnamese: quốc gia, tỉnh, ngành, huyện, "
        "khu công nghiệp, cơ sở)",
        "Line 4: bad member count «x»: expected a whole number",
        "Line 4: unknown parent «NOPE»: it is neither in the file nor in the directory",
        "Line 5: duplicate code «GOOD» (already on line 2)",
    ]


async def test_missing_columns_and_files_that_are_not_text(db: AsyncEngine) -> None:
    messages = await rejected(db, b"code,name,kind\nN1,X,sector\n")
    assert messages == [f"Line 1: missing column «{c}»"
                        for c in ("parent_code", "bloc", "member_count")]
    messages = await rejected(db, (HEADER + "N1,Công đoàn Phú,VN,sector,other,1,\n").encode(
        "cp1258"))
    assert len(messages) == 1 and "not UTF-8 or UTF-16" in messages[0] and "line 2" in \
        messages[0], messages
    assert (await rejected(db, b""))[0] == "The file is empty."
    assert "old Excel file" in (await rejected(db, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))[0]
    assert "cannot be opened" in (await rejected(db, b"PK\x03\x04broken"))[0]


# --------------------------------------------------------------------------- encodings


EXCEL_ROWS = [
    ["code", "name", "parent_code", "kind", "bloc", "member_count", "cluster"],
    ["DTP-YT-101", "CĐCS Bệnh viện Đa khoa Sa Đéc; khoa Nhi", "DTP-YT", "grassroots",
     "public_service", "1250", "Cụm thi đua số 3"],
    ["DTP-YT-102", "CĐCS Trạm Y tế xã Tân Khánh Đông", "DTP-YT", "grassroots",
     "public_service", "35", ""],
]


async def test_excel_csv_with_bom_semicolons_and_crlf(db: AsyncEngine) -> None:
    buf = io.StringIO()
    import csv
    csv.writer(buf, delimiter=";", lineterminator="\r\n").writerows(EXCEL_ROWS)
    data = codecs.BOM_UTF8 + buf.getvalue().encode("utf-8")
    assert data.count(b"\r\n") == 3
    stats = await directory.import_units(db, data)
    assert stats.added == 2
    assert "DTP-YT-101" in await search(db, "sa dec khoa nhi dong thap", grassroots=True)
    async with db.connect() as conn:
        hit = await conn.run_sync(lambda c: queries.unit_by_code(c, "DTP-YT-101"))
    assert hit and hit.name == "CĐCS Bệnh viện Đa khoa Sa Đéc; khoa Nhi"


async def test_utf16_tab_delimited(db: AsyncEngine) -> None:
    text = "\r\n".join("\t".join(r) for r in EXCEL_ROWS) + "\r\n"
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    stats = await directory.import_units(db, data)
    assert stats.added == 2
    assert "DTP-YT-102" in await search(db, "tan khanh dong", grassroots=True)
    await check_consistent(db)


async def test_xlsx(db: AsyncEngine) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Mã", "Tên", "Mã đơn vị cấp trên", "Loại", "Khối", "Số đoàn viên"])
    ws.append(["HNI", "LĐLĐ thành phố Hà Nội", "VN", "province", "other", 1_200_000])
    ws.append([])
    ws.append([1001, "CĐCS Công ty May Thăng Long", "HNI", "grassroots", "enterprise", 850.0])
    ws.append([1002, "CĐCS Trường THPT Chu Văn An", "HNI", "grassroots", "public_service",
               "bad"])
    buf = io.BytesIO()
    wb.save(buf)
    messages = await rejected(db, buf.getvalue())
    assert messages == ["Line 5: bad member count «bad»: expected a whole number"]
    ws["F5"] = 120
    buf = io.BytesIO()
    wb.save(buf)
    stats = await directory.import_units(db, buf.getvalue())
    assert stats.added == 3
    assert await search(db, "may thang long ha noi", grassroots=True) == ["1001"]


# --------------------------------------------------------------------------- export


async def test_export_then_import_is_a_no_op(db: AsyncEngine, tmp_path: Path) -> None:
    await import_text(db, "THA-TP,LĐLĐ thành phố Thanh Hóa,BPC,district,other,31000,\n"
                          "ZZ,CĐ ngành Giao thông,VN,sector,other,900,\"Cụm \"\"A\"\", B\"\n")
    before = await snapshot(db)
    rows = await directory.export_units(db)
    codes = [r.code for r in rows]
    assert len(codes) == 49 and codes[0] == "VN"
    position = {c: i for i, c in enumerate(codes)}
    assert all(position[r.parent_code] < position[r.code] for r in rows if r.parent_code)

    buf = io.StringIO()
    directory.write_csv(rows, buf)
    assert buf.getvalue().startswith(HEADER)
    xlsx = tmp_path / "units.xlsx"
    directory.write_xlsx(rows, xlsx)
    for data in (buf.getvalue().encode("utf-8-sig"), xlsx.read_bytes()):
        stats = await directory.import_units(db, data)
        assert (stats.added, stats.updated, stats.unchanged) == (0, 0, 49), stats
        assert await snapshot(db) == before


async def test_cli(db: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME", raising=False)
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    cli_units.add_parser(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> int:
        return await cli_units.run(parser.parse_args(argv), db, Settings())

    good = tmp_path / "good.csv"
    good.write_text(HEADER + "N1,Công đoàn ngành Điện lực,VN,sector,other,10,\n",
                    encoding="utf-8")
    assert await run("units", "import", str(good)) == 0
    out = capsys.readouterr().out
    assert "1 new, 0 updated, 0 unchanged" in out and "48 units" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "N2,,NOPE,sector,other,1,\n", encoding="utf-8")
    assert await run("units", "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "nothing was changed" in err and "Line 2: the name is empty" in err
    assert await run("units", "import", str(tmp_path / "missing.csv")) == 2

    assert await run("units", "export", "out.csv") == 0
    assert (tmp_path / "out.csv").read_bytes().startswith(codecs.BOM_UTF8 + b"code,name")
    assert await run("units", "export", "out.xlsx") == 0
    assert await run("units", "export") == 0
    assert capsys.readouterr().out.count("\n") == 50 + 2    # header + 49 units + 2 messages

    assert await run("units", "qr", "BPC-PR") == 2              # no bot username
    assert await run("units", "qr", "NOPE", "--bot-username", "x_bot") == 1
    assert await run("units", "qr", "bpc-pr", "--bot-username", "@sangkien_bot") == 0
    assert "https://t.me/sangkien_bot?start=BPC-PR" in capsys.readouterr().out
    assert Image.open(tmp_path / "qr-BPC-PR.png").size == posters.POSTER_SIZE


# --------------------------------------------------------------------------- QR poster


def test_qr_poster(tmp_path: Path) -> None:
    link = posters.deep_link("@sangkien_bot", "BPC-PR-001")
    assert link == "https://t.me/sangkien_bot?start=BPC-PR-001"
    poster = posters.render_poster(
        name="CĐCS Công ty TNHH Cao su Phú Riềng", parent_name="LĐLĐ huyện Phú Riềng",
        link=link, out=tmp_path / "p.png", _=gettext_for("vi"))
    assert poster.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(poster.path).convert("L")
    assert img.size == posters.POSTER_SIZE == (1240, 1748)
    # Every module of the QR code is in the picture where the poster says it is.
    matrix = posters.qr_matrix(link)
    x0, y0 = poster.qr_origin
    m = poster.module
    assert m >= 8
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            px = img.getpixel((x0 + c * m + m // 2, y0 + r * m + m // 2))
            assert (px < 128) == dark, (r, c)


def test_qr_poster_scans(tmp_path: Path) -> None:
    """A real QR reader finds the link on the poster (needs the optional zxing-cpp)."""
    zxingcpp = pytest.importorskip("zxingcpp")
    link = posters.deep_link("@sangkien_bot", "BPC-PR-001")
    poster = posters.render_poster(
        name="CĐCS Công ty TNHH Cao su Phú Riềng", parent_name="LĐLĐ huyện Phú Riềng",
        link=link, out=tmp_path / "p.png", _=gettext_for("vi"))
    found = zxingcpp.read_barcodes(Image.open(poster.path).convert("L"))
    assert [b.text for b in found] == [link]


def test_poster_has_a_font_with_vietnamese_letters() -> None:
    font = posters.find_font()
    if font is None:
        pytest.skip("no TrueType font on this machine (the poster falls back to Pillow's)")
    from PIL import ImageDraw, ImageFont

    f = ImageFont.truetype(str(font), 40)
    # Missing glyphs all render as the same box: distinct letters must give distinct pictures.
    seen = set()
    for ch in "ĐđẾếỀềỆệƯưỢợ":
        img = Image.new("L", (60, 60))
        ImageDraw.Draw(img).text((5, 5), ch, font=f, fill=255)
        seen.add(img.tobytes())
    assert len(seen) == 12


async def test_big_imports_take_the_bulk_path(db: AsyncEngine,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Above a size, terms are loaded with indexes and keys detached (PostgreSQL) or a big
    page cache (SQLite); afterwards the schema is whole and the terms right."""
    from sqlalchemy import text

    from storage import directory as store

    monkeypatch.setattr(store, "_BULK_MIN", 1)

    async def schema_state() -> object:
        async with db.connect() as conn:
            if db.dialect.name == "postgresql":
                return (await conn.execute(text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                    "conrelid = CAST('unit_term' AS regclass) UNION ALL "
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'unit_term' "
                    "AND schemaname = current_schema() "
                    "ORDER BY 1"))).all()
            return (await conn.exec_driver_sql("PRAGMA cache_size")).scalar()

    before = await schema_state()
    body = "".join(f"B{i},CĐCS Công ty Số {i},BPC-KCN,grassroots,enterprise,{i},\n"
                   for i in range(40))
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(" ".join(statement.split()))

    event.listen(db.sync_engine, "before_cursor_execute", record)
    try:
        stats = await import_text(db, body)
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", record)
    assert stats.added == 40 and stats.terms_rebuilt == 40
    # The bulk recipe ran, and was undone (the schema check below says how completely).
    if db.dialect.name == "postgresql":
        assert any(s.startswith('ALTER TABLE "unit_term" DROP CONSTRAINT') for s in statements)
        assert any(s.startswith('ALTER TABLE "unit_term" ADD CONSTRAINT') for s in statements)
        assert any(s.startswith("DROP INDEX") for s in statements)
    else:
        big_cache = f"PRAGMA cache_size = -{store._BULK_CACHE_KIB}"
        assert before != -store._BULK_CACHE_KIB and big_cache in statements, statements
        assert statements.index(f"PRAGMA cache_size = {before}") > statements.index(big_cache)
    assert await schema_state() == before
    assert "B7" in await search(db, "so 7 binh phuoc", grassroots=True)
    await check_consistent(db)
    with pytest.raises(IntegrityError):  # the foreign key is back: a dangling term fails
        async with db.begin() as conn:
            await conn.execute(unit_term_t.insert().values(grassroots=True, term="x", unit_id=10**9,
                                                        own=True))


async def test_a_unit_that_changes_kind_is_searched_as_its_new_kind(db: AsyncEngine) -> None:
    await import_text(db, "K1,Công đoàn Công ty Kim Khí,BPC-PR,district,enterprise,10,\n")
    assert await search(db, "kim khi", grassroots=False) == ["K1"]
    assert await search(db, "kim khi", grassroots=True) == []
    stats = await import_text(db, "K1,Công đoàn Công ty Kim Khí,BPC-PR,grassroots,enterprise,10,\n")
    assert stats.updated == 1 and stats.terms_rebuilt == 1
    assert await search(db, "kim khi", grassroots=False) == []
    assert await search(db, "kim khi", grassroots=True) == ["K1"]
    assert await search(db, "kim khi") == ["K1"]
    await check_consistent(db)


async def test_a_short_prefix_counts_units_not_words(db: AsyncEngine) -> None:
    """"t" matches several words of each of these names: the search still finds every unit
    once and does not claim there were more."""
    await import_text(db, "".join(
        f"T{i},CĐCS Trường Tiểu học Thị trấn Tân Tiến {i},BPC-PR,grassroots,other,1,\n"
        for i in range(60)))
    async with db.connect() as conn:
        hits, truncated = await conn.run_sync(
            lambda c: queries.search_units(c, "t", grassroots=True))
    codes = [h.code for h in hits]
    assert len(codes) == len(set(codes)) and not truncated
    assert {f"T{i}" for i in range(60)} <= set(codes)


@pytest.mark.parametrize(("kind", "bloc", "expected"), [
    ("LĐLĐ tỉnh", "khối doanh nghiệp", ("province", "enterprise")),
    ("Liên đoàn Lao động huyện", "Khối hành chính, sự nghiệp", ("district", "public_service")),
    ("cấp tỉnh", "hành chính", ("province", "public_service")),
    ("Công đoàn KCN", "DN", ("industrial_zone", "enterprise")),
    ("CĐ cơ sở", "doanh nghiệp", ("grassroots", "enterprise")),
    ("nghiệp đoàn", "khác", ("grassroots", "other")),
    ("quận", "", ("district", "other")),
])
def test_kinds_and_blocs_as_union_offices_write_them(kind: str, bloc: str,
                                                     expected: tuple[str, str]) -> None:
    parsed = directory.parse((HEADER + f'X1,Đơn vị thử,,{kind},"{bloc}",10,\n').encode())
    assert not parsed.problems, parsed.problems
    [row] = parsed.rows
    assert (row.kind, row.bloc) == expected
