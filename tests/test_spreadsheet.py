"""bot.spreadsheet: the streaming readers give what openpyxl would, within their bounds."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from bot import spreadsheet
from bot.spreadsheet import CELL_MAX, Row
from tests.test_directory_limits import xlsx


def rows(data: bytes) -> list[Row]:
    return list(spreadsheet.read_rows(data))


def test_xlsx_cells_read_as_openpyxl_reads_them() -> None:
    values = [
        ["code", "name", 1250, 850.0, 12.5, -3, True, None, "Công đoàn ngành Y tế"],
        [1001, "x" * 5000, 1.2e6, "", "#N/A", "  spaced  ", False, 0, "Đ" * 10],
    ]
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in values:
        ws.append(row)
    ws["C5"] = "after a gap"
    buf = io.BytesIO()
    wb.save(buf)

    def expected(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return str(int(v))
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)[:CELL_MAX + 1]

    got = rows(buf.getvalue())
    want = [Row(n, [expected(v) for v in row]) for n, row in enumerate(values, start=1)]
    want.append(Row(5, ["", "", "after a gap"]))
    for g, w in zip(got, want, strict=True):
        # Trailing empty cells are not padded: compare what is there.
        assert g.line == w.line and g.cells == w.cells[:len(g.cells)] and not g.beyond, (g, w)
        assert all(not c for c in w.cells[len(g.cells):])


def test_xlsx_as_excel_writes_it() -> None:
    """Shared strings with rich-text runs and phonetic readings, Excel's _xHHHH_ escapes,
    cells and rows without a reference, formula results, booleans, errors."""
    shared = ['<si><t>Mã</t></si>',
              '<si><r><t>CĐCS </t></r><r><rPr><b/></rPr><t xml:space="preserve">Sa Đéc</t></r>'
              '<rPh sb="0" eb="1"><t>さ</t></rPh></si>',
              '<si><t>line_x000D_break _x005F_x0041_</t></si>']
    sheet = ['<row r="1"><c r="A1" t="s"><v>0</v></c><c t="s"><v>1</v></c>'
             '<c r="D1" t="s"><v>2</v></c></row>',
             '<row><c><v>1.5E+3</v></c><c t="b"><v>1</v></c><c t="e"><v>#DIV/0!</v></c>'
             '<c t="str"><f>A1&amp;"x"</f><v>Mãx</v></c></row>',
             '<row r="7"><c r="B7"><f>1+1</f><v>2</v></c></row>']
    assert rows(xlsx(sheet, shared)) == [
        Row(1, ["Mã", "CĐCS Sa Đéc", "", "line\rbreak _x0041_"]),
        Row(2, ["1500", "1", "#DIV/0!", "Mãx"]),
        Row(7, ["", "2"]),
    ]


def test_columns_past_the_limit_are_only_noticed() -> None:
    sheet = ['<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c>'
             '<c r="XFD1" t="inlineStr"><is><t>far</t></is></c></row>',
             '<row r="2"><c r="XFD2" t="inlineStr"><is><t> </t></is></c><c r="IW2" s="1"/>'
             '</row>']
    assert rows(xlsx(sheet)) == [Row(1, ["a"], True), Row(2, [], False)]
    wide = "," * 300 + "x\n" + "a,b\n"
    assert rows(wide.encode()) == [Row(1, [""] * 256, True), Row(2, ["a", "b"])]


@pytest.mark.parametrize("data", [
    b"PK\x03\x04broken",
    xlsx(['<row r="1"><c r="A1" t="s"><v>5</v></c></row>']),        # no such string
    xlsx(['<row r="1"><c r="A1"><v>1</v></c>']),                       # not well-formed
])
def test_a_damaged_workbook_cannot_be_opened(data: bytes) -> None:
    with pytest.raises(spreadsheet.Unreadable) as info:
        rows(data)
    assert info.value.msgid == "The Excel file cannot be opened ({error})."


def test_a_workbook_with_a_dtd_is_refused() -> None:
    """No entity is ever expanded: a part with a DTD is not read at all."""
    bomb = ('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<si><t>&b;</t></si></sst>')
    data = xlsx(['<row r="1"><c r="A1" t="s"><v>0</v></c></row>'])
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, bomb if info.filename == "xl/sharedStrings.xml"
                         else src.read(info))
    with pytest.raises(spreadsheet.Unreadable) as info:
        rows(buf.getvalue())
    assert "DTD" in info.value.params["error"]


def test_csv_rows_keep_their_first_line_and_cells_are_cut() -> None:
    text = 'a;b\r\n"multi\nline";' + "y" * 3000 + "\n\nlast;row\n"
    assert rows(text.encode("utf-8")) == [
        Row(1, ["a", "b"]), Row(2, ["multi\nline", "y" * (CELL_MAX + 1)]), Row(4, []),
        Row(5, ["last", "row"])]


def test_an_undecodable_csv_names_its_line() -> None:
    data = ("code,name\n" * 20_000).encode() + b"N1,C\xf4ng\n"
    with pytest.raises(spreadsheet.Unreadable) as info:
        rows(data)
    assert info.value.params == {"line": 20_001}
