"""CSV as Excel writes it, read a row at a time: UTF-8 with or without a BOM, UTF-16 or
UTF-32 with a BOM (or UTF-16 without one, told by its zero bytes), `,` `;` tab or `|` as the
delimiter (the one the first non-blank line has most of), any line ends."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from bot.i18n import N_
from bot.spreadsheet.base import CHUNK, ROW_MAX, Row, Unreadable, bounded_row, shown

_SNIFF_LINES = 1000             # lines looked at for the first non-blank one


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _codec(data: bytes) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    # UTF-16 without a BOM: ASCII-heavy text has a zero in every other byte.
    head = data[:4096]
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4:
        return "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > len(head) // 4:
        return "utf-16-be"
    return "utf-8"


def _undecodable(data: bytes, codec: str) -> Unreadable:
    """The line of the first byte that does not decode, found a chunk at a time."""
    decoder = codecs.getincrementaldecoder(codec)()
    newlines = 0
    try:
        for at in range(0, len(data), CHUNK):
            newlines += decoder.decode(data[at:at + CHUNK]).count("\n")
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        newlines += exc.object[:exc.start].decode(exc.encoding, errors="replace").count("\n")
    return Unreadable(0, N_(
        "The file is not UTF-8 or UTF-16 text (unreadable bytes on line {line}). "
        "In Excel, save it as «CSV UTF-8» or as an .xlsx workbook."), {"line": newlines + 1})


class _RowTooLong(Exception):
    pass


class _Lines:
    """The physical lines of a CSV, decoded as they are read, for `csv.reader`; a row
    (`used` is reset by the caller at each row) longer than `ROW_MAX` stops the reading."""

    def __init__(self, data: bytes, codec: str) -> None:
        self.data, self.codec = data, codec
        self.text = io.TextIOWrapper(io.BytesIO(data), encoding=codec, newline="")
        self.ahead: list[str] = []
        self.used = 0

    def _read(self) -> str:
        try:
            return self.text.readline(ROW_MAX + 1)
        except UnicodeDecodeError:
            raise _undecodable(self.data, self.codec) from None

    def first_content(self) -> str:
        """The first non-blank line (read ahead, and given to the reader later)."""
        while len(self.ahead) < _SNIFF_LINES:
            line = self._read()
            if not line:
                break
            self.ahead.append(line)
            if line.strip():
                return line
        return ""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.ahead.pop(0) if self.ahead else self._read()
        if not line:
            raise StopIteration
        self.used += len(line)
        if self.used > ROW_MAX:
            raise _RowTooLong
        return line


def csv_rows(data: bytes) -> Iterator[Row]:
    lines = _Lines(data, _codec(data))
    first = lines.first_content()
    delimiter = max((",", ";", "\t", "|"), key=first.count)
    if not first.count(delimiter):
        delimiter = ","
    reader = csv.reader(lines, delimiter=delimiter)
    start = 1
    while True:
        lines.used = 0
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise Unreadable(start, N_("cannot read this line: {error}"),
                             {"error": shown(str(exc))}) from None
        except _RowTooLong:
            raise Unreadable(start, N_(
                "this line is longer than {max} characters; the file was not read further"),
                {"max": ROW_MAX}) from None
        yield bounded_row(start, cells)
        start = reader.line_num + 1
