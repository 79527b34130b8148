"""Spreadsheet files read within bounds, and written so that no cell runs as a formula.

Reading (`read_rows`) streams a CSV or the first sheet of an .xlsx workbook row by row and
bounds what that costs, whatever the file holds: the file's size (`MAX_FILE_BYTES`); for a
workbook, the unpacked size of each part it reads, checked in the zip's directory before
anything is inflated (a zip stops inflating a part at the size its directory gives); the
length of a CSV row (`ROW_MAX`); the columns kept (`MAX_COLUMNS`: a cell further right is
only noticed, never padded up to); and the length of a cell: one longer than `CELL_MAX`
comes back cut to `CELL_MAX + 1` characters, so the caller can say it is too long without
holding it. What cannot be read raises `Unreadable`, with a message id and the line.

Writing (`safe_cell` for CSV, `xlsx_row` for an .xlsx written with openpyxl): see
`bot.spreadsheet.writing`; any export of user-supplied text goes through one of them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bot.i18n import N_
from bot.spreadsheet.base import (
    CELL_MAX,
    MAX_FILE_BYTES,
    MB,
    Row,
    Unreadable,
    control_character,
    shown,
)
from bot.spreadsheet.csv_reader import csv_rows
from bot.spreadsheet.writing import formula_like, safe_cell, unquote, xlsx_row
from bot.spreadsheet.xlsx_reader import xlsx_rows

__all__ = ["CELL_MAX", "MAX_FILE_BYTES", "Row", "Unreadable", "control_character",
           "formula_like", "read_file", "read_rows", "safe_cell", "shown", "unquote",
           "xlsx_row"]


def _too_big() -> Unreadable:
    return Unreadable(0, N_("The file is larger than {max} MB."), {"max": MAX_FILE_BYTES // MB})


def read_file(path: str | Path | IO[bytes]) -> bytes:
    """A file's bytes; `Unreadable` when it is larger than `MAX_FILE_BYTES` (not read then)."""
    if isinstance(path, str | Path):
        with open(path, "rb") as fp:
            return read_file(fp)
    try:
        size = os.fstat(path.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        size = 0                # not a file: read up to the limit
    if size > MAX_FILE_BYTES:
        raise _too_big()
    data = path.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _too_big()
    return data


def read_rows(data: bytes) -> Iterator[Row]:
    """The rows of a CSV or XLSX file's bytes, in file order, blank ones included."""
    if len(data) > MAX_FILE_BYTES:
        raise _too_big()
    if data.startswith(b"PK\x03\x04"):
        return xlsx_rows(data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise Unreadable(0, N_(
            "This is an old Excel file (.xls). Save it as an .xlsx workbook or as «CSV UTF-8»."))
    return csv_rows(data)
