"""The first worksheet of an .xlsx workbook, read a row at a time without openpyxl.

openpyxl's read-only mode pads every row to the furthest column used and builds each string
whole; here the zip's parts are fed to expat a chunk at a time, each cell keeps at most
`CELL_MAX + 1` characters (undoing Excel's _xHHHH_ escapes), the columns past `MAX_COLUMNS`
are only noticed, and each part read is refused when its unpacked size is over its limit.
Numbers come back as their text ("850.0" as "850"); a date cell as its serial number.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO
from xml.parsers import expat

from bot.i18n import N_
from bot.spreadsheet.base import (
    CELL_MAX,
    CHUNK,
    MAX_COLUMNS,
    MAX_META_BYTES,
    MAX_SHEET_BYTES,
    MAX_STRINGS_BYTES,
    MAX_ZIP_DIRECTORY,
    MB,
    Row,
    Unreadable,
    shown,
)

DAMAGED = N_("The Excel file cannot be opened ({error}).")
# Excel writes characters XML cannot hold as _xHHHH_ (and a literal "_x" as _x005F_x).
_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _local(name: str) -> str:
    """An element's or attribute's name without its prefix ("x:row" → "row"): parts are read
    without namespace processing, and every name is matched on its local part."""
    return name.rpartition(":")[2] if ":" in name else name


def _no_doctype(*_args: object) -> None:
    raise ValueError("a DTD in a workbook part")


def _parse(part: IO[bytes], start: Callable[[str, dict[str, str]], None],
           end: Callable[[str], None] | None = None,
           text: Callable[[str], None] | None = None) -> Iterator[None]:
    """Feed a part to expat a chunk at a time, yielding after each; the handlers get names
    as written (see `_local`). A DTD, and with it any entity, is refused."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _no_doctype
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if text is not None:
        parser.CharacterDataHandler = text
    while chunk := part.read(CHUNK):
        parser.Parse(chunk, False)
        yield
    parser.Parse(b"", True)


class _Book:
    """The parts of a workbook, each opened only when its declared size is within bounds."""

    def __init__(self, data: bytes) -> None:
        self.zip = zipfile.ZipFile(io.BytesIO(data))

    def open(self, name: str, limit: int) -> IO[bytes]:
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            raise Unreadable(0, DAMAGED, {"error": shown(f"no part {name}")}) from None
        if info.file_size > limit:
            raise Unreadable(0, N_(
                "The Excel file is too large once unpacked: {part} holds {size} MB "
                "(at most {max} MB)."),
                {"part": shown(name), "size": -(-info.file_size // MB), "max": limit // MB})
        return self.zip.open(info)

    def relations(self, part: str) -> dict[str, tuple[str, str]]:
        """A part's relationships: id → (type, the target's part name)."""
        folder, base = posixpath.split(part)
        found: dict[str, tuple[str, str]] = {}

        def start(name: str, attrs: dict[str, str]) -> None:
            if _local(name) == "Relationship" and attrs.get("TargetMode") != "External":
                target = attrs.get("Target", "")
                target = target.lstrip("/") if target.startswith("/") else \
                    posixpath.normpath(posixpath.join(folder, target))
                found[attrs.get("Id", "")] = (attrs.get("Type", ""), target)

        with self.open(posixpath.join(folder, "_rels", base + ".rels"), MAX_META_BYTES) as fp:
            for _ in _parse(fp, start):
                pass
        return found

    def first_sheet(self) -> tuple[str, str | None]:
        """The part names of the first worksheet and of the shared strings (if any)."""
        workbook = next((t for kind, t in self.relations("").values()
                         if kind.endswith("/officeDocument")), "xl/workbook.xml")
        sheets: list[str] = []

        def start(name: str, attrs: dict[str, str]) -> None:
            if _local(name) == "sheet":     # its relationship: the r:id attribute
                sheets.append(next((v for k, v in attrs.items() if _local(k) == "id"), ""))

        with self.open(workbook, MAX_META_BYTES) as fp:
            for _ in _parse(fp, start):
                pass
        rels = self.relations(workbook)
        sheet = next((rels[i][1] for i in sheets
                      if i in rels and rels[i][0].endswith("/worksheet")), None)
        if sheet is None:
            raise Unreadable(0, DAMAGED, {"error": "no worksheet"})
        strings = next((t for kind, t in rels.values() if kind.endswith("/sharedStrings")),
                       None)
        return sheet, strings


def _cell_text(raw: str) -> str:
    if "_x" in raw:
        raw = _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw)
    return raw[:CELL_MAX + 1]


_RAW_MAX = 7 * (CELL_MAX + 1)   # an escape is 7 characters for 1


class _Text:
    """The text of the element being read, kept up to `_RAW_MAX` characters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.on = False

    def add(self, data: str) -> None:
        if self.on and self.size < _RAW_MAX:
            self.parts.append(data[:_RAW_MAX - self.size])
            self.size += len(self.parts[-1])

    def take(self) -> str:
        raw = "".join(self.parts)
        self.parts, self.size = [], 0
        return raw


def _shared_strings(book: _Book, part: str) -> list[str]:
    strings: list[str] = []
    text = _Text()
    phonetic = 0        # inside <rPh>: a reading aid, not part of the value

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal phonetic
        name = _local(name)
        if name == "t":
            text.on = not phonetic
        elif name == "rPh":
            phonetic += 1

    def end(name: str) -> None:
        nonlocal phonetic
        name = _local(name)
        if name == "t":
            text.on = False
        elif name == "rPh":
            phonetic -= 1
        elif name == "si":
            strings.append(_cell_text(text.take()))

    with book.open(part, MAX_STRINGS_BYTES) as fp:
        for _ in _parse(fp, start, end, text.add):
            pass
    return strings


def _number(raw: str) -> str:
    """A number cell's text: whole numbers without a decimal part ("850.0" → "850")."""
    try:
        return str(int(raw))
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    return str(int(value)) if value.is_integer() else str(value)


_DIGITS = "0123456789"


def _column(letters: str) -> int | None:
    """The 0-based column of a reference's letters ("XFD" of "XFD7"); None when there are
    none or they are not letters."""
    if not letters or len(letters) > 3:
        return None if not letters else 1 << 20    # past any sheet's last column
    n = 0
    for ch in letters.upper():
        if not "A" <= ch <= "Z":
            return None
        n = n * 26 + ord(ch) - 64
    return n - 1


class _Sheet:
    """Reads a worksheet's rows out of the parse events, keeping the first columns only."""

    def __init__(self, shared: list[str]) -> None:
        self.shared = shared
        self.rows: list[Row] = []
        self.inside = False         # in <sheetData>
        self.number = 0
        self.cells: dict[int, str] = {}
        self.beyond = False
        self.column = -1
        self.kind = "n"
        self.inline = False
        self.phonetic = 0
        self.text = _Text()
        self.columns: dict[str, int | None] = {}     # a reference's letters → its column

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if ":" in name:
            name = _local(name)
        if not self.inside:
            self.inside = name == "sheetData"
        elif name == "c":
            ref = attrs.get("r")
            col = None if ref is None else self.columns.get(ref.rstrip(_DIGITS), -1)
            if col == -1:
                letters = ref.rstrip(_DIGITS)           # type: ignore[union-attr]
                col = _column(letters)
                if len(self.columns) < 1000:            # a real sheet has a few dozen
                    self.columns[letters] = col
            self.column = self.column + 1 if col is None else col
            self.kind = attrs.get("t", "n")
        elif name == "v":
            self.text.on = True
        elif name == "t":
            self.text.on = self.inline and not self.phonetic
        elif name == "is":
            self.inline = True
        elif name == "row":
            r = attrs.get("r", "")
            self.number = int(r) if r.isdigit() and len(r) < 8 else self.number + 1
            self.cells, self.beyond, self.column = {}, False, -1
        elif name == "rPh":
            self.phonetic += 1

    def end(self, name: str) -> None:
        if not self.inside:
            return
        if ":" in name:
            name = _local(name)
        if name == "v" or name == "t":
            self.text.on = False
        elif name == "c":
            value = self._value(self.text.take())
            if value and self.column < MAX_COLUMNS:
                self.cells[self.column] = value
            elif value.strip():
                self.beyond = True
        elif name == "is":
            self.inline = False
        elif name == "row":
            cells = [""] * (max(self.cells) + 1 if self.cells else 0)
            for col, value in self.cells.items():
                cells[col] = value
            self.rows.append(Row(self.number, cells, self.beyond))
        elif name == "rPh":
            self.phonetic -= 1
        elif name == "sheetData":
            self.inside = False

    def _value(self, raw: str) -> str:
        if self.kind == "s":
            try:
                return self.shared[int(raw)]
            except (ValueError, IndexError):
                raise Unreadable(self.number, DAMAGED, {
                    "error": shown(f"no shared string {raw}")}) from None
        if self.kind in ("inlineStr", "str"):
            return _cell_text(raw)
        if self.kind in ("b", "e", "d"):
            return raw[:CELL_MAX + 1]
        return _number(raw) if raw else ""


def xlsx_rows(data: bytes) -> Iterator[Row]:
    _check_zip_directory(data)
    try:
        book = _Book(data)
        with book.zip:
            sheet_part, strings_part = book.first_sheet()
            sheet = _Sheet(_shared_strings(book, strings_part) if strings_part else [])
            with book.open(sheet_part, MAX_SHEET_BYTES) as fp:
                for _ in _parse(fp, sheet.start, sheet.end, sheet.text.add):
                    yield from sheet.rows
                    sheet.rows.clear()
            yield from sheet.rows
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, expat.ExpatError, EOFError,
            ValueError, NotImplementedError, RuntimeError, OSError) as exc:
        raise Unreadable(0, DAMAGED, {"error": shown(str(exc) or type(exc).__name__)}) from None


def _check_zip_directory(data: bytes) -> None:
    """Refuse a zip whose list of parts is larger than any workbook's, before `ZipFile`
    builds an object per part: a few bytes a part would otherwise cost hundreds."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if at < 0:
        return                  # ZipFile will say what is wrong
    size = int.from_bytes(data[at + 12:at + 16], "little")
    if size == 0xFFFFFFFF:      # zip64: the size is in the zip64 end record
        locator = data.rfind(b"PK\x06\x07", 0, at)
        offset = int.from_bytes(data[locator + 8:locator + 16], "little") if locator >= 0 else -1
        if 0 <= offset and data[offset:offset + 4] == b"PK\x06\x06":
            size = int.from_bytes(data[offset + 40:offset + 48], "little")
    if size > MAX_ZIP_DIRECTORY:
        raise Unreadable(0, DAMAGED, {"error": "too many parts"})
