"""Initiative files (the national portal's lists): read, validated as a whole, applied in
one transaction (see bot/progress_files.py for the shared reading and problems).

Columns: code (optional), title, description, author (several separated by «;»),
grassroots_code, receiving_code, field, benefit, status (English keys or Vietnamese labels),
submitted_on (ISO or dd/mm/yyyy). A code already known updates that initiative instead of
adding another; the progress rollups follow either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.directory import Problem
from bot.fields import field_code_of
from bot.i18n import N_
from bot.progress_files import (
    INITIATIVE_COLUMNS,
    INITIATIVE_REQUIRED,
    STATUS,
    STATUSES,
    TIMEZONE,
    Parsed,
    clean,
    key,
    parse_date,
    table,
    units_by_code,
    unknown_unit,
    whole,
)
from bot.spreadsheet import shown
from storage import imports

CODE_MAX, TITLE_MAX = 16, 255
_INITIATIVE_HEADERS = {
    "code": ("ma", "ma_sang_kien", "ma_sk"),
    "title": ("ten", "ten_sang_kien", "tieu_de"),
    "description": ("mo_ta", "noi_dung", "tom_tat"),
    "author": ("authors", "tac_gia", "nhom_tac_gia", "ho_ten"),
    "grassroots_code": ("grassroots", "ma_cdcs", "ma_cong_doan_co_so", "ma_don_vi_co_so"),
    "receiving_code": ("receiving", "ma_don_vi_nhan", "ma_don_vi_tiep_nhan", "don_vi_nhan"),
    "field": ("linh_vuc", "ma_linh_vuc"),
    "benefit": ("benefit_vnd", "gia_tri_lam_loi", "loi_ich", "gia_tri"),
    "status": ("trang_thai", "tinh_trang"),
    "submitted_on": ("submitted", "ngay_dang_ky", "ngay_gui", "ngay_nop"),
}


@dataclass(frozen=True, slots=True)
class InitiativeLine:
    code: str | None
    title: str
    description: str
    authors: list[str]
    grassroots_code: str | None
    receiving_code: str | None
    field_code: str | None
    benefit_vnd: int | None
    status: str
    submitted_on: date


def _authors(raw: str) -> list[str]:
    return [a for a in (clean(p) for p in re.split(r"[;\n]", raw)) if a]


def parse_initiatives(data: bytes) -> Parsed:
    """An initiative file checked on its own (not against the database)."""
    parsed = Parsed()
    codes: dict[str, int] = {}
    for n, v in table(data, _INITIATIVE_HEADERS, INITIATIVE_COLUMNS, INITIATIVE_REQUIRED,
                       parsed):
        before = len(parsed.problems)
        code = v["code"].upper() or None
        if code is not None:
            if len(code) > CODE_MAX:
                parsed.problems.append(Problem(n, N_(
                    "the initiative code «{code}» is longer than {max} characters"),
                    {"code": shown(code), "max": CODE_MAX}))
            elif code in codes:
                parsed.problems.append(Problem(n, N_(
                    "duplicate code «{code}» (already on line {first})"),
                    {"code": code, "first": codes[code]}))
            else:
                codes[code] = n
        title = clean(v["title"])
        if not title:
            parsed.problems.append(Problem(n, N_("the title is empty")))
        elif len(title) > TITLE_MAX:
            parsed.problems.append(Problem(n, N_("the title is longer than {max} characters"),
                                           {"max": TITLE_MAX}))
        authors = _authors(v["author"])
        if not authors:
            parsed.problems.append(Problem(n, N_("the author is empty")))
        elif any(len(a) > 128 for a in authors):
            parsed.problems.append(Problem(n, N_("an author's name is longer than {max} "
                                                 "characters"), {"max": 128}))
        grassroots = v["grassroots_code"].upper() or None
        receiving = v["receiving_code"].upper() or None
        if grassroots is None and receiving is None:
            parsed.problems.append(Problem(n, N_(
                "give the grassroots union's code or the receiving union's code")))
        field_code = field_code_of(v["field"]) if v["field"] else None
        if field_code and len(field_code) > 32:
            parsed.problems.append(Problem(n, N_("the field is longer than {max} characters"),
                                           {"max": 32}))
        benefit = None
        if v["benefit"]:
            benefit = whole(v["benefit"])
            if benefit is None:
                parsed.problems.append(Problem(n, N_(
                    "bad benefit «{value}»: expected a whole number of đồng"),
                    {"value": shown(v["benefit"])}))
        status = STATUS.get(key(v["status"]))
        if status is None:
            parsed.problems.append(Problem(n, N_(
                "unknown status «{value}» (expected one of: {allowed}; or in Vietnamese)"),
                {"value": shown(v["status"]), "allowed": ", ".join(STATUSES)}))
        submitted = parse_date(v["submitted_on"])
        if submitted is None:
            parsed.problems.append(Problem(n, N_(
                "bad date «{value}» in column «{column}»: write 2022-05-31 or 31/05/2022"),
                {"value": shown(v["submitted_on"]), "column": parsed.columns["submitted_on"]}))
        if len(parsed.problems) > before:
            continue
        assert status is not None and submitted is not None
        parsed.rows.append(InitiativeLine(code, title, clean(v["description"]) or title,
                                          authors, grassroots, receiving, field_code, benefit,
                                          status, submitted))
        parsed.lines.append(n)
    return parsed


@dataclass(frozen=True, slots=True)
class InitiativeStats:
    added: int
    updated: int


def import_initiatives_sync(conn: Connection, parsed: Parsed, *, now: datetime
                            ) -> InitiativeStats:
    rows: list[InitiativeLine] = parsed.rows
    units = units_by_code(conn, [c for r in rows
                                 for c in (r.grassroots_code, r.receiving_code) if c])
    for n, r in zip(parsed.lines, rows, strict=True):
        g = units.get(r.grassroots_code) if r.grassroots_code else None
        if r.grassroots_code and g is None:
            parsed.problems.append(unknown_unit(n, r.grassroots_code))
        elif g is not None and g.kind != "grassroots":
            parsed.problems.append(Problem(n, N_("«{code}» is not a grassroots union"),
                                           {"code": r.grassroots_code}))
        if r.receiving_code and r.receiving_code not in units:
            parsed.problems.append(unknown_unit(n, r.receiving_code))
        elif g is not None and not r.receiving_code and g.parent_id is None:
            parsed.problems.append(Problem(n, N_("give the receiving union's code")))
    parsed.fail_if_any()
    existing = imports.existing_codes(conn, [r.code for r in rows if r.code])
    who = imports.importer(conn, now=now)
    added = updated = 0
    # the rows with a code first: an SK-n among them moves the bot's ids past n before a
    # row without one is given the code of its id (storage.imports)
    for r in sorted(rows, key=lambda r: r.code is None):
        g = units.get(r.grassroots_code) if r.grassroots_code else None
        receiving = units[r.receiving_code].id if r.receiving_code else g.parent_id
        at = datetime.combine(r.submitted_on, time(9), TIMEZONE)
        _id, created = imports.save(conn, imports.ImportedInitiative(
            r.code, r.title, r.description, r.authors, g.id if g else None, receiving,
            r.field_code, r.benefit_vnd, r.status, at), entered_by=who, now=now,
            existing_id=existing.get(r.code) if r.code else None)
        added += created
        updated += not created
    return InitiativeStats(added, updated)


async def import_initiatives(engine: AsyncEngine, data: bytes, *, now: datetime
                             ) -> InitiativeStats:
    parsed = parse_initiatives(data)
    async with engine.begin() as conn:
        return await conn.run_sync(lambda c: import_initiatives_sync(c, parsed, now=now))


