"""The progress report of a unit and a phase as an XLSX workbook (`/baocao`, `sangkien report`).

Sheet 1: one row per direct child unit and a total row; sheet 2: every initiative of the
subtree. Written with openpyxl's write-only mode, row by row as the rows are read (the
service streams them in batches), so a province's 200,000 initiatives never sit in memory
at once. Headers in the user's language (Vietnamese by default); numbers as numbers, dates as
dates; text cells through `bot.spreadsheet.xlsx_row`, so nothing typed by a user is ever run
as a formula.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Connection

from bot.fields import field_label
from bot.formatting import TIMEZONE
from bot.i18n import N_, gettext_for
from bot.labels import STATUS_LABELS
from bot.render_progress import basis_text, unit_pct
from bot.services import progress as progress_service
from bot.services.actor import Actor
from bot.spreadsheet import xlsx_row
from storage import access

UNIT_COLUMNS = (
    (N_("Code"), 14), (N_("Name"), 40), (N_("Members"), 12), (N_("Target"), 12),
    (N_("Target basis"), 40), (N_("Registered"), 12), (N_("Valid"), 10),
    (N_("Under review"), 12), (N_("Needs revision"), 12), (N_("Invalid"), 10),
    (N_("Share of target"), 12), (N_("Benefit (VND)"), 18),
)
INITIATIVE_COLUMNS = (
    (N_("Code"), 12), (N_("Title"), 50), (N_("Authors"), 30), (N_("Grassroots union"), 32),
    (N_("Receiving union"), 32), (N_("Field"), 24), (N_("Benefit (VND)"), 18),
    (N_("Status"), 16), (N_("Submitted"), 12),
)
DATE_FORMAT = "DD/MM/YYYY"
PERCENT_FORMAT = "0.0%"
MONEY_FORMAT = "#,##0"
PROGRESS_EVERY = 1000
REPORT_ROLES = frozenset({"chair", "support", "admin"})   # rows between two calls of `on_progress`

# Sheet 2: a column, and the keys of the service's initiative dict that may hold it.
_INITIATIVE_KEYS = (
    ("code",), ("title",), ("authors", "author", "author_names"),
    ("grassroots_name", "grassroots", "grassroots_union", "grassroots_code"),
    ("receiving_name", "receiving", "receiving_union", "receiving_code"),
    ("field", "field_label"), ("benefit_vnd", "benefit"), ("status",),
    ("submitted_at", "submitted_on", "submitted"),
)


@dataclass(frozen=True)
class ReportDone:
    unit_code: str
    unit_name: str
    phase_code: str
    children: int
    initiatives: int


# (initiatives written, expected in all: from the rollups, 0 when unknown; the last call
# has both equal)
ProgressCallback = Callable[[int, int], None]


def ascii_name(text: str) -> str:
    """For a file name any system and HTTP header takes: "GĐ1" → "GD1"."""
    plain = unicodedata.normalize("NFKD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_"
                   for c in plain if not unicodedata.combining(c))


def file_name(unit_code: str, phase_code: str) -> str:
    return f"baocao-{ascii_name(unit_code)}-{ascii_name(phase_code)}.xlsx"


def _first(row: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def _local_day(value: Any) -> date | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(TIMEZONE).date()
    if isinstance(value, date):
        return value
    return None


def may_report(conn: Connection, actor: Actor) -> bool:
    """Reports list every initiative with its authors: for chairs, support teams and
    administrators (and the shell), not for every member."""
    return actor.is_shell or bool(
        access.roles_held(conn, person_id=actor.person_id or 0) & REPORT_ROLES)


def write_report(conn: Connection, *, actor: Actor, now: datetime, unit_code: str | None,
                 phase_code: str | None, locale: str, out: IO[bytes],
                 on_progress: ProgressCallback | None = None
                 ) -> ReportDone | progress_service.Refused:
    """Write the workbook to `out`; Refused (nothing written) outside the actor's scope."""
    if not may_report(conn, actor):
        return progress_service.Refused("out_of_scope")
    rows = progress_service.report_rows(conn=conn, actor=actor, now=now, unit_code=unit_code,
                                        phase_code=phase_code)
    if isinstance(rows, progress_service.Refused):
        return rows
    p, children, initiatives = rows
    _ = gettext_for(locale)
    wb = Workbook(write_only=True)

    def sheet(title: str, columns: tuple[tuple[str, int], ...]) -> Any:
        ws = wb.create_sheet(title=title[:31])
        ws.freeze_panes = "A2"
        for i, (_h, width) in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        header = []
        for h, _w in columns:
            cell = WriteOnlyCell(ws, value=_(h))
            cell.font = Font(bold=True)
            header.append(cell)
        ws.append(header)
        return ws

    def styled(ws: Any, value: Any, fmt: str, *, bold: bool = False) -> Any:
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = fmt
        if bold:
            cell.font = Font(bold=True)
        return cell

    units = sheet(_("Units"), UNIT_COLUMNS)
    sums = [0] * 7   # registered, valid, under review, needs revision, invalid, benefit, members
    n_children = 0
    for child in children:
        n_children += 1
        main = child.targets[0] if child.targets else None
        pct = unit_pct(child)
        units.append(xlsx_row(units, [
            child.code, child.name, child.members,
            main.goal if main else None,
            "; ".join(basis_text(t, _, locale) for t in child.targets) or None,
            child.registered, child.valid, child.under_review, child.needs_revision,
            child.invalid,
            styled(units, pct / 100.0, PERCENT_FORMAT) if pct is not None else None,
            styled(units, int(child.benefit_vnd), MONEY_FORMAT)]))
        for i, v in enumerate((child.registered, child.valid, child.under_review,
                               child.needs_revision, child.invalid, int(child.benefit_vnd),
                               child.members or 0)):
            sums[i] += v
    # The total row is the unit's own figures, those /tiendo shows: its member count is the
    # directory's (the one its target is taken of), not the sum of the unions listed, and it
    # counts initiatives known only by their receiving union too.
    u = p.unit
    sums = [u.registered, u.valid, u.under_review, u.needs_revision, u.invalid,
            int(u.benefit_vnd), u.members if u.members is not None else sums[6]]
    main = u.targets[0] if u.targets else None
    total_pct = sums[0] / main.goal if main and main.goal else None
    bold = Font(bold=True)

    def b(value: Any, fmt: str | None = None) -> Any:
        cell = WriteOnlyCell(units, value=value)
        cell.font = bold
        if fmt:
            cell.number_format = fmt
        return cell

    units.append([
        b(p.unit.code), b(_("Total")), b(sums[6]), b(main.goal if main else None),
        b("; ".join(basis_text(t, _, locale) for t in p.unit.targets) or None),
        b(sums[0]), b(sums[1]), b(sums[2]), b(sums[3]), b(sums[4]),
        b(total_pct, PERCENT_FORMAT) if total_pct is not None else b(None),
        b(sums[5], MONEY_FORMAT)])

    sheet2 = sheet(_("Initiatives"), INITIATIVE_COLUMNS)
    expected = p.unit.registered + p.unit.invalid + p.unit.withdrawn
    written = 0
    for row in initiatives:
        values = [_first(row, keys) for keys in _INITIATIVE_KEYS]
        if isinstance(values[2], list | tuple):
            values[2] = ", ".join(str(a) for a in values[2])
        values[5] = field_label(values[5], locale) or values[5]
        status = values[7]
        values[7] = _(STATUS_LABELS[status]) if status in STATUS_LABELS else status
        benefit = values[6]
        values[6] = (styled(sheet2, int(benefit), MONEY_FORMAT)
                     if isinstance(benefit, int | float) else None)
        day = _local_day(values[8])
        values[8] = styled(sheet2, day, DATE_FORMAT) if day else None
        sheet2.append(xlsx_row(sheet2, values))
        written += 1
        if on_progress is not None and written % PROGRESS_EVERY == 0:
            on_progress(written, expected)
    if on_progress is not None:
        on_progress(written, written)
    wb.save(out)
    return ReportDone(p.unit.code, p.unit.name, p.phase.code, n_children, written)
