"""Directory files: read, validate and import the union hierarchy; export it; print QR posters.

A directory file is a table with a header row and the columns of `bot/data/demo_units.csv`:
code, name, parent_code, kind, bloc, member_count, cluster (optional). Union offices keep such
lists in Excel, so it may be an `.xlsx` workbook (first sheet) or a CSV as Excel writes it: UTF-8
with or without a BOM, UTF-16 with a BOM ("Unicode text", tab-delimited), `,` `;` or tab as the
delimiter, Windows line ends. Vietnamese column names ("mã", "tên", "mã đơn vị cấp trên", "loại",
"khối", "số đoàn viên", "cụm thi đua") and kind/bloc values ("cơ sở", "doanh nghiệp"…) are
accepted too.

An import is all or nothing: the whole file is checked first, against itself and against the
directory already in the database, and every problem is reported with its line number (up to
`MAX_PROBLEMS`; then reading stops); only a clean file is applied, in one transaction (see
`storage.directory.apply_units`). What a file may cost to read is bounded (`bot.spreadsheet`),
and a value echoed in a problem is cut short.
"""

from __future__ import annotations

import csv
import logging
import operator
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import spreadsheet
from bot.file_columns import Msgid, titles
from bot.file_columns import missing as missing_column
from bot.i18n import N_, Gettext
from bot.spreadsheet import (
    CELL_MAX,
    Row,
    Unreadable,
    control_character,
    formula_like,
    safe_cell,
    shown,
    unquote,
    xlsx_row,
)
from storage import directory as store
from storage import progress_units as progress_store
from storage.directory import ApplyStats, StoredUnit
from storage.queries import UnitRow
from storage.textfold import fold

log = logging.getLogger(__name__)

COLUMNS = ("code", "name", "parent_code", "kind", "bloc", "member_count", "cluster")
REQUIRED = COLUMNS[:-1]
KINDS = ("national", "province", "sector", "district", "industrial_zone", "grassroots")
BLOCS = ("enterprise", "public_service", "other")
CODE_MAX, NAME_MAX, CLUSTER_MAX = 32, 255, 128
MEMBER_MAX = 2**31 - 1
MAX_UNITS = 500_000             # units in one file (the national directory: about 130,000)
MAX_PROBLEMS = 500              # problems listed before reading stops
# Codes travel in Telegram deep links (?start=CODE), which allow A–Z a–z 0–9 _ - only.
_CODE = re.compile(rf"[A-Z0-9_-]{{1,{CODE_MAX}}}")


def may_be_code(text: str) -> bool:
    """Could `text` be a unit's code (as typed: any case, spaces around)?"""
    return _CODE.fullmatch(text.strip().upper()) is not None


_GROUPED = re.compile(r"\d{1,3}([.,\u00a0\u202f ])\d{3}(?:\1\d{3})*")

# Header names and values are compared folded (no accents, lower case), spaces as "_".
_HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("ma", "ma_don_vi", "ma_cong_doan", "ma_cd"),
    "name": ("ten", "ten_don_vi", "ten_cong_doan"),
    "parent_code": ("parent", "ma_cap_tren", "ma_don_vi_cap_tren", "ma_cong_doan_cap_tren",
                    "ma_cd_cap_tren"),
    "kind": ("loai", "loai_don_vi", "cap"),
    "bloc": ("khoi",),
    "member_count": ("members", "so_doan_vien", "doan_vien"),
    "cluster": ("cum", "cum_thi_dua", "khoi_thi_dua", "cum_khoi_thi_dua"),
}
_HEADERS = {alias: col for col, aliases in _HEADER_ALIASES.items()
            for alias in (col, *aliases)}
# Kinds and blocs as union offices write them; a leading "cấp"/"khối" and the level's own
# union ("LĐLĐ tỉnh", "Liên đoàn Lao động huyện", "Công đoàn KCN") are accepted too.
_KIND_ALIASES = {
    "quoc_gia": "national", "trung_uong": "national", "tong_lien_doan": "national",
    "tinh": "province", "tinh_thanh_pho": "province", "thanh_pho": "province",
    "nganh": "sector", "cong_doan_nganh": "sector", "cd_nganh": "sector",
    "huyen": "district", "quan_huyen": "district", "quan": "district", "thi_xa": "district",
    "khu_cong_nghiep": "industrial_zone", "kcn": "industrial_zone",
    "cong_doan_kcn": "industrial_zone", "cd_kcn": "industrial_zone",
    "cong_doan_khu_cong_nghiep": "industrial_zone",
    "co_so": "grassroots", "cong_doan_co_so": "grassroots", "cdcs": "grassroots",
    "cd_co_so": "grassroots", "nghiep_doan": "grassroots",
}
_BLOC_ALIASES = {
    "doanh_nghiep": "enterprise", "dn": "enterprise", "hanh_chinh_su_nghiep": "public_service",
    "hanh_chinh": "public_service", "su_nghiep": "public_service", "hcsn": "public_service",
    "khac": "other",
}
_PREFIXES = ("cap_", "khoi_", "ldld_", "lien_doan_lao_dong_")
# Named in the problem when a value is not understood, beside the English keys.
KINDS_VI = "quốc gia, tỉnh, ngành, huyện, khu công nghiệp, cơ sở"
BLOCS_VI = "doanh nghiệp, hành chính sự nghiệp, khác"

def _key(text: str) -> str:
    return fold(text).replace(" ", "_")


def _clean(text: str) -> str:
    """NFC, surrounding and repeated whitespace removed."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: a msgid (English, translated when shown) and its values."""

    line: int               # 0: the file as a whole
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, _: Gettext) -> str:
        params = {k: _(v) if isinstance(v, Msgid) else v for k, v in self.params.items()}
        text = _(self.msgid).format(**params)
        return _("Line {line}: {problem}").format(line=self.line, problem=text) \
            if self.line else text


class DirectoryError(Exception):
    """The file was rejected as a whole; `problems` says why, in line order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__("; ".join(p.render(lambda s: s) for p in self.problems))

    def render(self, _: Gettext) -> list[str]:
        return [p.render(_) for p in self.problems]


# --------------------------------------------------------------------------- reading


def read_file(path: str | Path | IO[bytes]) -> bytes:
    """A directory file's bytes; `DirectoryError` when it is too large (it is not read then);
    `OSError` when it cannot be read."""
    try:
        return spreadsheet.read_file(path)
    except Unreadable as exc:
        raise DirectoryError([_problem(exc)]) from None


def _problem(exc: Unreadable) -> Problem:
    return Problem(exc.line, exc.msgid, exc.params)


# --------------------------------------------------------------------------- parsing


@dataclass(slots=True)
class ParsedFile:
    """The units of a file, the line each came from, and what is wrong with it on its own."""

    rows: list[UnitRow]
    lines: dict[str, int]
    problems: list[Problem]
    complete: bool = True       # False: reading stopped early, the rows are not all there
    # Codes whose name or cluster a spreadsheet would take for a formula: imported, but
    # worth a warning (exports write them as text).
    formula_like: list[str] = field(default_factory=list)


def _member_count(raw: str) -> int | None:
    s = raw.strip()
    if not s:
        return 0
    if _GROUPED.fullmatch(s):
        s = re.sub(r"\D", "", s)
    if not s.isdigit() or not s.isascii():
        return None
    n = int(s)
    return n if n <= MEMBER_MAX else None


def _choice(raw: str, allowed: tuple[str, ...], aliases: dict[str, str]) -> str | None:
    if raw in allowed:
        return raw
    k = _key(raw)
    for prefix in ("", *_PREFIXES):
        key = k.removeprefix(prefix)
        if key in allowed or key in aliases:
            return key if key in allowed else aliases[key]
    return None


def _has_content(row: Row) -> bool:
    return row.beyond or any(c.strip() for c in row.cells)


def _header(row: Row, problems: list[Problem], named: dict[str, str]) -> dict[str, int] | None:
    """Where each column is, from the header row (`named`: as it writes them); None when a
    required one is missing."""
    index: dict[str, int] = {}
    for i, title in enumerate(row.cells):
        col = _HEADERS.get(_key(title))
        if col is None:
            continue            # an extra column (notes…) is ignored
        if col in index:
            problems.append(Problem(row.line, N_("column «{column}» appears twice"),
                                    {"column": shown(title.strip())}))
        index.setdefault(col, i)
    named.update(titles(row.cells, index))
    missing = [c for c in REQUIRED if c not in index]
    for col in missing:
        problems.append(Problem(row.line, N_("missing column «{column}»"),
                                {"column": missing_column(col)}))
    return None if missing else index


def parse_lines(table: Iterable[Row], *, is_demo: bool = False) -> ParsedFile:
    """Check a table on its own (not against the database): columns, values, duplicates.
    Rows are taken one at a time; `Unreadable` from the reader becomes a problem."""
    parsed = ParsedFile([], {}, [])
    try:
        _parse_rows(iter(table), parsed, is_demo=is_demo)
    except Unreadable as exc:
        parsed.problems.append(_problem(exc))
        parsed.complete = False
    return parsed


def _parse_rows(table: Iterator[Row], parsed: ParsedFile, *, is_demo: bool) -> None:
    problems, rows, lines = parsed.problems, parsed.rows, parsed.lines
    head = next((r for r in table if _has_content(r)), None)
    if head is None:
        problems.append(Problem(0, N_("The file is empty.")))
        return
    named: dict[str, str] = {}   # each column as the header writes it
    index = _header(head, problems, named)
    if index is None:
        return
    width = max(len(head.cells), max(index.values()) + 1)
    blank = [""] * (width + 1)
    pick = operator.itemgetter(*(index.get(c, width) for c in COLUMNS))  # no cluster: ""
    kinds: dict[str, str | None] = {}
    blocs: dict[str, str | None] = {"": "other"}
    count = 0

    for n, cells, beyond in table:
        if not beyond and not any(c.strip() for c in cells):
            continue
        if len(problems) >= MAX_PROBLEMS:
            problems.append(_too_many())
            parsed.complete = False
            return
        count += 1
        if count > MAX_UNITS:
            problems.append(Problem(n, N_(
                "more than {max} units in one file: the file was not read further; "
                "import it in parts"), {"max": MAX_UNITS}))
            parsed.complete = False
            return
        if beyond or len(cells) > width and any(c.strip() for c in cells[width:]):
            problems.append(Problem(n, N_("more values than columns (is the delimiter right?)")))
        if len(cells) <= width:
            cells = cells + blank[len(cells):]
        values = pick(cells)
        unfit = False
        for col, value in zip(COLUMNS, values, strict=True):
            if len(value) > CELL_MAX:
                problems.append(Problem(n, N_(
                    "the value in column «{column}» is longer than {max} characters"),
                    {"column": named[col], "max": CELL_MAX}))
            elif char := control_character(value):
                problems.append(Problem(n, N_(
                    "the value in column «{column}» contains a control character ({char})"),
                    {"column": named[col], "char": char}))
            else:
                continue
            unfit = True
        if unfit:
            continue
        raw_code, raw_name, raw_parent, raw_kind, raw_bloc, raw_members, raw_cluster = map(
            str.strip, values)
        code = raw_code.upper()
        if not code:
            problems.append(Problem(n, N_("the code is empty")))
            continue
        if not _CODE.fullmatch(code):
            problems.append(Problem(n, N_(
                "bad code «{code}»: use up to {max} letters, digits, «-» or «_»"),
                {"code": shown(raw_code), "max": CODE_MAX}))
            continue
        if code in lines:
            problems.append(Problem(n, N_("duplicate code «{code}» (already on line {first})"),
                                    {"code": code, "first": lines[code]}))
            continue
        lines[code] = n
        name = _clean(unquote(raw_name))     # «'=…» from our own CSV export is «=…»
        if not name:
            problems.append(Problem(n, N_("the name is empty")))
        elif len(name) > NAME_MAX:
            problems.append(Problem(n, N_("the name is longer than {max} characters"),
                                    {"max": NAME_MAX}))
        kind = kinds.get(raw_kind, "?")
        if kind == "?":
            kind = kinds[raw_kind] = _choice(raw_kind, KINDS, _KIND_ALIASES)
        if kind is None:
            problems.append(Problem(
                n, N_("unknown kind «{value}» (expected one of: {allowed}; or in Vietnamese: "
                      "{vietnamese})"),
                {"value": shown(raw_kind), "allowed": ", ".join(KINDS), "vietnamese": KINDS_VI}))
        bloc = blocs.get(raw_bloc, "?")
        if bloc == "?":
            bloc = blocs[raw_bloc] = _choice(raw_bloc, BLOCS, _BLOC_ALIASES)
        if bloc is None:
            problems.append(Problem(
                n, N_("unknown bloc «{value}» (expected one of: {allowed}; or in Vietnamese: "
                      "{vietnamese})"),
                {"value": shown(raw_bloc), "allowed": ", ".join(BLOCS), "vietnamese": BLOCS_VI}))
        members = int(raw_members) if raw_members.isdigit() and raw_members.isascii() \
            and len(raw_members) < 10 else _member_count(raw_members)
        if members is None:
            problems.append(Problem(n, N_("bad member count «{value}»: expected a whole number"),
                                    {"value": shown(raw_members)}))
        cluster = _clean(unquote(raw_cluster)) or None
        if cluster and len(cluster) > CLUSTER_MAX:
            problems.append(Problem(n, N_("the cluster name is longer than {max} characters"),
                                    {"max": CLUSTER_MAX}))
        if formula_like(name) or formula_like(cluster):
            parsed.formula_like.append(code)
        rows.append(UnitRow(code, name, raw_parent.upper() or None, kind or "",
                            bloc or "other", members or 0, cluster, is_demo))


def parse(data: bytes, *, is_demo: bool = False) -> ParsedFile:
    """The rows of a CSV or XLSX file's bytes (`bot.spreadsheet.read_rows`), checked by
    `parse_lines`; a file that cannot be read has that as its problem."""
    try:
        table = spreadsheet.read_rows(data)
    except Unreadable as exc:
        return ParsedFile([], {}, [_problem(exc)], complete=False)
    return parse_lines(table, is_demo=is_demo)


# --------------------------------------------------------------------------- validating


def _too_many() -> Problem:
    return Problem(0, N_("Too many problems: only the first {max} are listed. Fix them and "
                         "import the file again."), {"max": MAX_PROBLEMS})


def validate(parsed: ParsedFile, stored: dict[str, StoredUnit], *,
             limit: int = MAX_PROBLEMS) -> list[Problem]:
    """Problems of the file against the directory: unknown parents, and cycles (within the
    file, or made with existing units by a move), `limit` at most. Linear: each unit is
    walked once."""
    problems: list[Problem] = []
    in_file = {r.code: r for r in parsed.rows}
    for r in parsed.rows:
        if len(problems) >= limit:
            return problems
        p = r.parent_code
        if p is not None and p not in in_file and p not in stored:
            problems.append(Problem(parsed.lines[r.code], N_(
                "unknown parent «{parent}»: it is neither in the file nor in the directory"),
                {"parent": shown(p)}))

    def parent(code: str) -> str | None:
        r = in_file.get(code)
        if r is not None:
            return r.parent_code
        u = stored.get(code)
        return u.parent_code if u is not None else None

    done: set[str] = set()
    for r in parsed.rows:
        if len(problems) >= limit:
            break
        path: list[str] = []
        on_path: dict[str, int] = {}
        c: str | None = r.code
        while c is not None and c not in done and c not in on_path:
            on_path[c] = len(path)
            path.append(c)
            c = parent(c)
        if c is not None and c in on_path:
            cycle = path[on_path[c]:]
            line = min(parsed.lines[x] for x in cycle if x in parsed.lines)
            shown_path = cycle if len(cycle) <= 10 else [*cycle[:9], "…"]
            problems.append(Problem(line, N_("this makes a cycle: {path}"),
                                    {"path": " → ".join([*shown_path, cycle[0]])}))
        done.update(path)
    return problems


# --------------------------------------------------------------------------- importing


def import_sync(conn: Connection, parsed: ParsedFile) -> ApplyStats:
    """Validate against the directory and apply, in the caller's transaction; raises
    `DirectoryError` (before writing anything) when the file has any problem."""
    if not parsed.complete:     # not all rows are there: checking parents would mislead
        raise DirectoryError(parsed.problems)
    store.lock_directory(conn)
    stored = store.load_units(conn)
    problems = parsed.problems + validate(parsed, stored,
                                          limit=MAX_PROBLEMS - len(parsed.problems))
    if len(problems) >= MAX_PROBLEMS:
        problems.append(_too_many())
    if problems:
        raise DirectoryError(problems)
    before = progress_store.parents(conn)
    stats = store.apply_units(conn, parsed.rows, stored)
    progress_store.move_units(conn, before)     # a moved union takes its counts along
    progress_store.rebuild_members(conn)
    return stats


async def import_units(engine: AsyncEngine, data: bytes) -> ApplyStats:
    """Import a directory file's bytes in one transaction (nothing is written on error)."""
    return await import_parsed(engine, parse(data))


async def import_parsed(engine: AsyncEngine, parsed: ParsedFile) -> ApplyStats:
    """Import a parsed file in one transaction (nothing is written on error)."""
    async with engine.begin() as conn:
        stats = await conn.run_sync(import_sync, parsed)
    if store.wants_vacuum(engine, stats):
        try:
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.run_sync(store.vacuum_directory)
        except Exception:   # the import is committed; autovacuum will get there too
            log.warning("VACUUM after the directory import failed", exc_info=True)
    return stats


# --------------------------------------------------------------------------- exporting


def _values(r: UnitRow) -> list[Any]:
    return [r.code, r.name, r.parent_code or "", r.kind, r.bloc, r.member_count,
            r.cluster or ""]


def write_csv(rows: Iterable[UnitRow], fp: IO[str]) -> None:
    """The same format as bot/data/demo_units.csv (the caller picks the encoding); text that
    a spreadsheet would run as a formula is written with a leading «'» (read back without)."""
    w = csv.writer(fp, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([safe_cell(v) for v in _values(r)] for r in rows)


def write_xlsx(rows: Iterable[UnitRow], target: str | Path | IO[bytes]) -> None:
    """One sheet, the columns of `write_csv`; every text a string cell (never a formula)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("units")
    for col, width in zip("ABCDEFG", (16, 60, 16, 16, 16, 14, 40), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in COLUMNS:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for r in rows:
        ws.append(xlsx_row(ws, _values(r)))
    wb.save(target)


async def export_units(engine: AsyncEngine) -> list[UnitRow]:
    async with engine.connect() as conn:
        return await conn.run_sync(store.export_units)


def unit_by_code_sync(conn: Connection, code: str) -> tuple[str, str | None] | None:
    from storage.queries import unit_by_code

    hit = unit_by_code(conn, code)
    return (hit.name, hit.parent_name) if hit else None

