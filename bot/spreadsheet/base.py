"""What the spreadsheet readers share: the limits, a row, the error, the echo of a value."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

MB = 2**20
MAX_FILE_BYTES = 64 * MB        # a national directory as CSV: about 15 MB
MAX_SHEET_BYTES = 256 * MB      # streamed; 130,000 units as openpyxl writes them: 58 MB
MAX_STRINGS_BYTES = 32 * MB     # shared strings are held in memory while the sheet is read
MAX_META_BYTES = 4 * MB         # the workbook and relationship parts
MAX_ZIP_DIRECTORY = 1 * MB      # the zip's list of parts (a workbook has a few dozen)
CELL_MAX = 1000
ROW_MAX = 100_000               # characters in one CSV row (csv's own field limit: 131,072)
MAX_COLUMNS = 256
CHUNK = 64 * 1024
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same but for tab and line breaks, which are whitespace in a cell.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class Row(NamedTuple):
    """One row: its line (CSV) or row number (XLSX), its first `MAX_COLUMNS` cells, and
    whether a non-empty cell lay further right."""

    line: int
    cells: list[str]
    beyond: bool = False


class Unreadable(Exception):
    """The file cannot be read (further): why, as a msgid and its values; line 0 is the
    file as a whole."""

    def __init__(self, line: int, msgid: str, params: dict[str, Any] | None = None) -> None:
        self.line, self.msgid, self.params = line, msgid, params or {}
        super().__init__(msgid.format(**self.params))


def shown(value: str, limit: int = 60) -> str:
    """A value as echoed in a message: cut short, control characters made visible."""
    cut = value[:limit] + "…" if len(value) > limit else value
    return _UNSHOWABLE.sub("\N{REPLACEMENT CHARACTER}", cut)


def control_character(text: str) -> str | None:
    """The first C0 or C1 control character other than tab and line breaks, or lone
    surrogate, in `text` («U+0000»); None when there is none. Such a character is invisible,
    PostgreSQL refuses NUL, and no database driver can encode a lone surrogate."""
    m = _CONTROL.search(text)
    return f"U+{ord(m.group()):04X}" if m else None


def bounded_row(line: int, cells: list[str]) -> Row:
    """A row cut to `MAX_COLUMNS` cells of at most `CELL_MAX + 1` characters."""
    beyond = len(cells) > MAX_COLUMNS and any(c.strip() for c in cells[MAX_COLUMNS:])
    return Row(line, [c[:CELL_MAX + 1] for c in cells[:MAX_COLUMNS]], beyond)
