"""Target files and initiative files: read, validated as a whole, applied in one transaction.

As with the union directory (bot/directory.py), every problem is listed with its line and
nothing is written until the file is clean. Columns in any order, named in English or
Vietnamese; extra columns are ignored.

Targets (`bot/data/demo_targets.csv`): unit_code, phase, starts_on, ends_on, bloc, kind,
value, note. A phase's dates are the earliest start and the latest end its rows give (a
row's own dates are kept with its target); phases may not overlap. Importing a file
replaces the targets of each unit and phase it names.

Initiatives (the national portal's lists): code (optional), title, description, author,
grassroots_code, receiving_code, field, benefit, status, submitted_on. A code already known
updates that initiative instead of adding another.
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import spreadsheet
from bot.directory import BLOCS, BLOCS_VI, MAX_PROBLEMS, DirectoryError, Problem
from bot.file_columns import missing as missing_column
from bot.file_columns import titles
from bot.i18n import N_, translations
from bot.labels import STATUS_LABELS
from bot.spreadsheet import CELL_MAX, Row, Unreadable, control_character, shown, unquote
from storage import progress as progress_store
from storage import progress_recount
from storage import targets as target_store
from storage.models import unit_t
from storage.targets import TargetRow
from storage.textfold import fold

log = logging.getLogger(__name__)

TIMEZONE = progress_store.TIMEZONE
KINDS = ("count", "member_ratio", "per_member")
KINDS_VI = "số lượng, tỷ lệ đoàn viên, bình quân trên đoàn viên"
STATUSES = ("under_review", "needs_revision", "valid", "invalid", "withdrawn")
TARGET_COLUMNS = ("unit_code", "phase", "starts_on", "ends_on", "bloc", "kind", "value", "note")
TARGET_REQUIRED = ("unit_code", "phase", "starts_on", "ends_on", "kind", "value")
INITIATIVE_COLUMNS = ("code", "title", "description", "author", "grassroots_code",
                      "receiving_code", "field", "benefit", "status", "submitted_on")
INITIATIVE_REQUIRED = ("title", "author", "status", "submitted_on")
PHASE_MAX, NOTE_MAX = 32, 1000
VALUE_MAX = Decimal(10) ** 8
MAX_ROWS = 1_000_000

_TARGET_HEADERS = {
    "unit_code": ("code", "unit", "ma", "ma_don_vi", "ma_cong_doan"),
    "phase": ("giai_doan", "dot"),
    "starts_on": ("start", "from", "tu_ngay", "ngay_bat_dau", "bat_dau"),
    "ends_on": ("end", "to", "den_ngay", "ngay_ket_thuc", "ket_thuc"),
    "bloc": ("khoi",),
    "kind": ("loai", "loai_chi_tieu", "cach_tinh"),
    "value": ("gia_tri", "chi_tieu", "muc"),
    "note": ("ghi_chu", "can_cu"),
}
_KIND_ALIASES = {
    "so_luong": "count", "so_sang_kien": "count", "chi_tieu_so_luong": "count",
    "ty_le": "member_ratio", "ty_le_doan_vien": "member_ratio", "phan_tram": "member_ratio",
    "%": "member_ratio",
    "binh_quan": "per_member", "binh_quan_tren_doan_vien": "per_member",
    "binh_quan_doan_vien": "per_member", "tren_doan_vien": "per_member",
}
_BLOC_ALIASES = {
    "doanh_nghiep": "enterprise", "dn": "enterprise", "hanh_chinh_su_nghiep": "public_service",
    "hanh_chinh": "public_service", "su_nghiep": "public_service", "hcsn": "public_service",
    "khoi_doanh_nghiep": "enterprise", "khoi_hcsn": "public_service", "khac": "other",
}
_STATUS_EXTRA = {
    "dang_xet": "under_review", "cho_duyet": "under_review", "dang_cham": "under_review",
    "dang_tham_dinh": "under_review", "chua_duyet": "under_review",
    "can_sua": "needs_revision", "tra_lai": "needs_revision", "yeu_cau_bo_sung": "needs_revision",
    "khong_dat": "invalid", "da_duyet": "valid", "dat": "valid", "duoc_cong_nhan": "valid",
    "rut": "withdrawn",
}
_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
# A date cell of an .xlsx file, as its serial number of days: 1954 to 2119 (a day, or a
# moment of it).
_SERIAL = re.compile(r"[2-7]\d{4}(\.\d+)?")
EXCEL_EPOCH = date(1899, 12, 30)
XLSX_DATE = "DD/MM/YYYY"
_GROUPED = re.compile(r"\d{1,3}([.,\u00a0\u202f ])\d{3}(?:\1\d{3})*")


def key(text: str) -> str:
    return fold(text).replace(" ", "_")


def clean(text: str) -> str:
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def _status_aliases() -> dict[str, str]:
    out = {key(k): k for k in STATUSES}
    vi = translations("vi")
    for status, label in STATUS_LABELS.items():
        out[key(label)] = status
        out[key(vi.gettext(label))] = status
    return {**_STATUS_EXTRA, **out}


STATUS = _status_aliases()


def parse_date(raw: str) -> date | None:
    """ISO (2022-05-31) or as Vietnamese offices write it (31/5/2022); an Excel date cell
    reads as ISO, perhaps with a time, or (from .xlsx) as its serial number (46569)."""
    s = raw.strip()
    if _SERIAL.fullmatch(s):
        return EXCEL_EPOCH + timedelta(days=int(float(s)))
    if len(s) >= 10 and s[4] == "-" and (len(s) == 10 or s[10] in " T"):
        try:
            return date.fromisoformat(s[:10])
        except ValueError:
            return None
    m = _DATE.fullmatch(s)
    if m:
        try:
            return date(int(m[3]), int(m[2]), int(m[1]))
        except ValueError:
            return None
    return None


def _choice(raw: str, allowed: tuple[str, ...], aliases: dict[str, str]) -> str | None:
    if raw in allowed:
        return raw
    k = key(raw)
    for candidate in (k, k.removeprefix("khoi_")):
        if candidate in allowed:
            return candidate
        if candidate in aliases:
            return aliases[candidate]
    return None


def _decimal(raw: str) -> Decimal | None:
    s = raw.strip().replace("\u00a0", "").replace(" ", "")
    percent = s.endswith("%")
    s = s.removesuffix("%")
    if "," in s and "." not in s:
        s = s.replace(",", ".")
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value / 100 if percent else value


def whole(raw: str) -> int | None:
    s = raw.strip()
    if _GROUPED.fullmatch(s):
        s = re.sub(r"\D", "", s)
    if s.endswith(".0"):
        s = s[:-2]
    return int(s) if s.isdigit() and s.isascii() and len(s) < 19 else None


# --------------------------------------------------------------------------- tables

@dataclass(slots=True)
class Parsed:
    """A file's rows (already typed), the line each came from, and its problems."""

    rows: list[Any] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)   # as the header writes them

    def fail_if_any(self) -> None:
        """Raise with every problem, in line order (up to MAX_PROBLEMS)."""
        if self.problems:
            raise DirectoryError(self.problems[:MAX_PROBLEMS + 1])


def table(data: bytes, headers: dict[str, tuple[str, ...]], columns: tuple[str, ...],
           required: tuple[str, ...], parsed: Parsed) -> Iterator[tuple[int, dict[str, str]]]:
    """Each non-blank row as {column: stripped text}; reading problems go to `parsed`."""
    aliases = {a: col for col, names in headers.items() for a in (col, *names)}
    try:
        table = spreadsheet.read_rows(data)
        head: Row | None = next((r for r in table if any(c.strip() for c in r.cells)), None)
        if head is None:
            parsed.problems.append(Problem(0, N_("The file is empty.")))
            return
        index: dict[str, int] = {}
        for i, title in enumerate(head.cells):
            col = aliases.get(key(title))
            if col is None:
                continue
            if col in index:
                parsed.problems.append(Problem(head.line, N_("column «{column}» appears twice"),
                                               {"column": shown(title.strip())}))
            index.setdefault(col, i)
        parsed.columns = titles(head.cells, index)
        missing = [c for c in required if c not in index]
        for col in missing:
            parsed.problems.append(Problem(head.line, N_("missing column «{column}»"),
                                           {"column": missing_column(col)}))
        if missing:
            return
        count = 0
        for n, cells, _beyond in table:
            if not any(c.strip() for c in cells):
                continue
            if len(parsed.problems) >= MAX_PROBLEMS:
                return
            count += 1
            if count > MAX_ROWS:
                parsed.problems.append(Problem(n, N_(
                    "more than {max} rows in one file: import it in parts"), {"max": MAX_ROWS}))
                return
            values: dict[str, str] = {}
            fit = True
            for col in columns:
                i = index.get(col)
                value = cells[i] if i is not None and i < len(cells) else ""
                if len(value) > CELL_MAX:
                    parsed.problems.append(Problem(n, N_(
                        "the value in column «{column}» is longer than {max} characters"),
                        {"column": parsed.columns[col], "max": CELL_MAX}))
                    fit = False
                elif char := control_character(value):
                    parsed.problems.append(Problem(n, N_(
                        "the value in column «{column}» contains a control character ({char})"),
                        {"column": parsed.columns[col], "char": char}))
                    fit = False
                values[col] = unquote(value.strip())
            if fit:
                yield n, values
    except Unreadable as exc:
        parsed.problems.append(Problem(exc.line, exc.msgid, exc.params))


def units_by_code(conn: Connection, codes: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    wanted = sorted(set(codes))
    for i in range(0, len(wanted), 500):
        for r in conn.execute(select(unit_t.c.id, unit_t.c.code, unit_t.c.kind,
                                     unit_t.c.parent_id)
                              .where(unit_t.c.code.in_(wanted[i:i + 500]))):
            out[r.code] = r
    return out


def unknown_unit(n: int, code: str) -> Problem:
    return Problem(n, N_("unknown unit code «{code}»"), {"code": shown(code)})


# --------------------------------------------------------------------------- targets

def parse_targets(data: bytes) -> Parsed:
    """A target file checked on its own (not against the database)."""
    parsed = Parsed()
    seen: dict[tuple[str, str, str | None, str], int] = {}
    for n, v in table(data, _TARGET_HEADERS, TARGET_COLUMNS, TARGET_REQUIRED, parsed):
        before = len(parsed.problems)
        code, phase = v["unit_code"].upper(), clean(v["phase"])
        if not code:
            parsed.problems.append(Problem(n, N_("the unit code is empty")))
        if not phase or len(phase) > PHASE_MAX:
            parsed.problems.append(Problem(n, N_(
                "the phase is empty or longer than {max} characters"), {"max": PHASE_MAX}))
        starts, ends = parse_date(v["starts_on"]), parse_date(v["ends_on"])
        for col, raw, got in (("starts_on", v["starts_on"], starts),
                              ("ends_on", v["ends_on"], ends)):
            if got is None:
                parsed.problems.append(Problem(n, N_(
                    "bad date «{value}» in column «{column}»: write 2022-05-31 or 31/05/2022"),
                    {"value": shown(raw), "column": parsed.columns[col]}))
        if starts and ends and starts > ends:
            parsed.problems.append(Problem(n, N_("the phase ends before it starts")))
        bloc = None
        if v["bloc"]:
            bloc = _choice(v["bloc"], BLOCS, _BLOC_ALIASES)
            if bloc is None:
                parsed.problems.append(Problem(n, N_(
                    "unknown bloc «{value}» (expected one of: {allowed}; or in Vietnamese: "
                    "{vietnamese})"),
                    {"value": shown(v["bloc"]), "allowed": ", ".join(BLOCS),
                     "vietnamese": BLOCS_VI}))
        kind = _choice(v["kind"], KINDS, _KIND_ALIASES)
        if kind is None:
            parsed.problems.append(Problem(n, N_(
                "unknown target kind «{value}» (expected one of: {allowed}; or in Vietnamese: "
                "{vietnamese})"),
                {"value": shown(v["kind"]), "allowed": ", ".join(KINDS), "vietnamese": KINDS_VI}))
        value = _decimal(v["value"])
        if kind == "count" and (grouped := whole(v["value"])) is not None:
            value = Decimal(grouped)   # "1.200" as Excel writes it in Vietnam: 1200
        if value is None or value <= 0 or value >= VALUE_MAX:
            parsed.problems.append(Problem(n, N_(
                "bad target value «{value}»: expected a positive number (a ratio as 0.10 or "
                "10 percent)"), {"value": shown(v["value"])}))
        elif kind == "count" and value != value.to_integral_value():
            parsed.problems.append(Problem(n, N_(
                "a count target is a whole number, not «{value}»"), {"value": shown(v["value"])}))
        elif kind == "member_ratio" and value > 1:
            parsed.problems.append(Problem(n, N_(
                "a member ratio is at most 1 (all members), not «{value}»"),
                {"value": shown(v["value"])}))
        note = clean(v["note"]) or None
        if note and len(note) > NOTE_MAX:
            parsed.problems.append(Problem(n, N_("the note is longer than {max} characters"),
                                           {"max": NOTE_MAX}))
        if len(parsed.problems) > before:
            continue
        assert starts and ends and kind and value is not None
        dup = (code, phase, bloc, kind)
        if dup in seen:
            parsed.problems.append(Problem(n, N_(
                "the same target again (unit, phase, bloc and kind as on line {first})"),
                {"first": seen[dup]}))
            continue
        seen[dup] = n
        parsed.rows.append(TargetRow(code, phase, starts, ends, bloc, kind, value, note))
        parsed.lines.append(n)
    return parsed


@dataclass(frozen=True, slots=True)
class TargetStats:
    targets: int
    units: int
    phases: int
    recounted: bool


def import_targets_sync(conn: Connection, parsed: Parsed) -> TargetStats:
    """Validate against the database and apply, in the caller's transaction."""
    units = units_by_code(conn, (r.unit_code for r in parsed.rows))
    for n, r in zip(parsed.lines, parsed.rows, strict=True):
        if r.unit_code not in units:
            parsed.problems.append(unknown_unit(n, r.unit_code))
    spans: dict[str, tuple[date, date, int]] = {}
    for n, r in zip(parsed.lines, parsed.rows, strict=True):
        s, e, first = spans.get(r.phase, (r.starts_on, r.ends_on, n))
        spans[r.phase] = (min(s, r.starts_on), max(e, r.ends_on), first)
    stored = target_store.phases(conn)
    every = {code: (p.starts_on, p.ends_on, 0) for code, p in stored.items()}
    every.update(spans)
    ordered = sorted(every.items(), key=lambda kv: kv[1][0])
    for (a, (_sa, ea, _la)), (b, (sb, _eb, lb)) in zip(ordered, ordered[1:], strict=False):
        if sb <= ea:
            parsed.problems.append(Problem(lb or spans.get(a, (0, 0, 0))[2], N_(
                "phase «{phase}» overlaps phase «{other}»: an initiative must fall in one "
                "phase"), {"phase": b, "other": a}))
    parsed.fail_if_any()
    recount = False
    ids: dict[str, int] = {}
    for code, (s, e, _line) in spans.items():
        ids[code], changed = target_store.save_phase(conn, code=code, starts_on=s, ends_on=e)
        recount |= changed and code in stored
    recount |= bool(spans.keys() - stored.keys())   # a new phase may take old initiatives
    groups: dict[tuple[int, int], list[TargetRow]] = {}
    for r in parsed.rows:
        groups.setdefault((ids[r.phase], units[r.unit_code].id), []).append(r)
    for (phase_id, unit_id), rows in groups.items():
        target_store.replace_targets(conn, phase_id=phase_id, unit_id=unit_id, rows=rows)
    if recount:
        progress_recount.rebuild(conn)
    return TargetStats(len(parsed.rows), len({u for _p, u in groups}), len(spans), recount)


async def import_targets(engine: AsyncEngine, data: bytes) -> TargetStats:
    parsed = parse_targets(data)
    async with engine.begin() as conn:
        return await conn.run_sync(import_targets_sync, parsed)


async def export_targets(engine: AsyncEngine) -> list[TargetRow]:
    async with engine.connect() as conn:
        return await conn.run_sync(target_store.export_targets)


def _target_values(r: TargetRow) -> list[Any]:
    return [r.unit_code, r.phase, r.starts_on.isoformat(), r.ends_on.isoformat(), r.bloc or "",
            r.kind, format(r.value, "f"), r.note or ""]


def write_targets_csv(rows: Iterable[TargetRow], fp: IO[str]) -> None:
    out = csv.writer(fp, lineterminator="\n")
    out.writerow(TARGET_COLUMNS)
    for r in rows:
        out.writerow([spreadsheet.safe_cell(v) for v in _target_values(r)])


def write_targets_xlsx(rows: Iterable[TargetRow], target: str | Path | IO[bytes]) -> None:
    """As Excel keeps such a table: dates as date cells, values as numbers, the header
    frozen; `import_targets` reads it back."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("targets")
    ws.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGH", (14, 10, 12, 12, 16, 14, 10, 60), strict=True):
        ws.column_dimensions[letter].width = width

    def cell(value: Any, fmt: str | None = None, *, bold: bool = False) -> Any:
        c = WriteOnlyCell(ws, value=value)
        if fmt:
            c.number_format = fmt
        if bold:
            c.font = Font(bold=True)
        return c

    ws.append([cell(h, bold=True) for h in TARGET_COLUMNS])
    for r in rows:
        values = spreadsheet.xlsx_row(ws, _target_values(r))
        values[2], values[3] = cell(r.starts_on, XLSX_DATE), cell(r.ends_on, XLSX_DATE)
        values[6] = int(r.value) if r.kind == "count" else float(r.value)
        ws.append(values)
    wb.save(target)


def read_file(path: str | Path | IO[bytes]) -> bytes:
    try:
        return spreadsheet.read_file(path)
    except Unreadable as exc:
        raise DirectoryError([Problem(exc.line, exc.msgid, exc.params)]) from None
