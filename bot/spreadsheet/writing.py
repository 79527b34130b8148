"""Cells written so that no spreadsheet program runs them.

A cell whose text starts with =, +, -, @, a tab, a line break or NUL is taken for a formula
by Excel, LibreOffice Calc or Google Sheets ("CSV injection", OWASP; ASVS 1.2.10): a name
such as =HYPERLINK(…) becomes a live link, =cmd|… a command. For a CSV `safe_cell` puts a
«'» in front of such text, which spreadsheets read as "this is text" and do not show;
`unquote` takes it off again when the file is read back. In an .xlsx `xlsx_row` writes every
text as a string cell, never evaluated, and sets Excel's own «'» marker (quotePrefix) on the
ones that look like formulas, so editing the cell keeps it text; the text itself is kept
exactly, in Excel's escapes where XML cannot hold a character (_x0000_) and where the text
would read as one (_x005F_). Only text is touched: numbers (negative ones too) stay numbers,
dates stay dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")
# Text that openpyxl would otherwise store as an error value rather than as text.
_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))

# What Excel escapes in a cell's text (ECMA-376 ST_Xstring): characters XML 1.0 cannot hold,
# and an underscore that would otherwise start an escape.
_EXCEL_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
                           "|_(?=x[0-9A-Fa-f]{4}_)")

T = TypeVar("T")


def formula_like(value: object) -> bool:
    """Text that a spreadsheet program would take for a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def safe_cell(value: T) -> T | str:
    """A value for a CSV cell: text that would be taken for a formula gets a leading «'»;
    anything else is returned as it is."""
    return "'" + value if isinstance(value, str) and formula_like(value) else value


def unquote(text: str) -> str:
    """Undo `safe_cell` on text read back: «'=…» is «=…» again; other text is unchanged."""
    return text[1:] if text.startswith("'") and formula_like(text[1:]) else text


def _excel_escape(match: re.Match[str]) -> str:
    return f"_x{ord(match.group()):04X}_"


def xlsx_row(ws: WriteOnlyWorksheet, values: Iterable[object]) -> list[object]:
    """A row for `ws.append` on a write-only sheet: text that openpyxl would store as a
    formula or an error becomes a string cell, with the «'» marker when it looks like a
    formula; everything else goes as it is (openpyxl stores other text as text)."""
    from openpyxl.cell import WriteOnlyCell

    out: list[object] = []
    for value in values:
        if isinstance(value, str) and _EXCEL_UNSAFE.search(value):
            value = _EXCEL_UNSAFE.sub(_excel_escape, value)
        if isinstance(value, str) and (formula_like(value) or value in _ERROR_CODES):
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            cell.quotePrefix = formula_like(value)
            value = cell
        out.append(value)
    return out
