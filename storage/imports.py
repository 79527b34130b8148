"""Initiatives registered elsewhere (the national portal's lists), brought in by a file:
inserted, or updated in place when their code is already known. The rollups follow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update

from storage import progress as progress_store
from storage.models import initiative_author_t, initiative_event_t, initiative_t, person_t
from storage.submitting import code_of

IMPORTER_NAME = "[nhập từ tệp]"   # the person an imported initiative was entered by
_BOT_CODE = re.compile(r"SK-(\d{1,13})", re.IGNORECASE)   # the bot's own codes: SK-<id>
ID_MAX = 2**31 - 1                                          # ids are 32-bit integers
# ids handed out from now on are above :n (never lowered: setval only when it moves ahead)
_PG_MOVE_PAST = text(
    "SELECT setval(s.seq, :n) FROM (SELECT pg_get_serial_sequence('initiative', 'id')"
    "::regclass AS seq) s WHERE coalesce(pg_sequence_last_value(s.seq), 0) < :n")


@dataclass(frozen=True, slots=True)
class ImportedInitiative:
    code: str | None
    title: str
    description: str
    authors: list[str]
    author_unit_id: int | None
    unit_id: int
    field_code: str | None
    benefit_vnd: int | None
    status: str
    submitted_at: datetime


def importer(conn: Connection, *, now: datetime) -> int:
    found = conn.execute(select(person_t.c.id).where(person_t.c.name == IMPORTER_NAME,
                                                     person_t.c.unit_id.is_(None))
                         .order_by(person_t.c.id).limit(1)).scalar()
    if found is not None:
        return found
    return conn.execute(insert(person_t).values(name=IMPORTER_NAME, created_at=now)
                        .returning(person_t.c.id)).scalar_one()


def existing_codes(conn: Connection, codes: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(0, len(codes), 500):
        out.update(conn.execute(select(initiative_t.c.code, initiative_t.c.id).where(
            initiative_t.c.code.in_(codes[i:i + 500]))).all())
    return out


def save(conn: Connection, row: ImportedInitiative, *, entered_by: int, now: datetime,
         existing_id: int | None = None, demo_channel: str = "import") -> tuple[int, bool]:
    """Insert the initiative, or update the one with its code; returns (id, created)."""
    values: dict[str, Any] = {
        "title": row.title[:255], "description": row.description,
        "author_name": (row.authors[0] if row.authors else "")[:128],
        "author_unit_id": row.author_unit_id, "unit_id": row.unit_id,
        "field_code": row.field_code, "benefit_vnd": row.benefit_vnd,
        "benefit_known": row.benefit_vnd is not None, "status": row.status,
        "submitted_at": row.submitted_at, "recognized": True,
    }
    if existing_id is not None:
        before = progress_store.contribution(conn, initiative_id=existing_id)
        old = conn.execute(select(initiative_t.c.status)
                           .where(initiative_t.c.id == existing_id)).scalar_one()
        conn.execute(update(initiative_t).where(initiative_t.c.id == existing_id).values(**values))
        conn.execute(delete(initiative_author_t)
                     .where(initiative_author_t.c.initiative_id == existing_id))
        _authors(conn, existing_id, row.authors)
        if old != row.status:
            _event(conn, existing_id, entered_by, now, old, row.status)
        progress_store.track(conn, initiative_id=existing_id, before=before)
        return existing_id, False
    explicit = _move_past(conn, row.code) if row.code else None
    if explicit is not None:
        values["id"] = explicit
    new_id = conn.execute(insert(initiative_t).values(
        **values, code=row.code, entered_by=entered_by, channel=demo_channel)
        .returning(initiative_t.c.id)).scalar_one()
    if row.code is None:
        conn.execute(update(initiative_t).where(initiative_t.c.id == new_id)
                     .values(code=code_of(new_id)))
    _authors(conn, new_id, row.authors)
    _event(conn, new_id, entered_by, now, None, row.status)
    progress_store.track(conn, initiative_id=new_id, before=None)
    return new_id, True


def _move_past(conn: Connection, code: str) -> int | None:
    """An imported code of the bot's own form, SK-n: the ids (and so the codes SK-<id>) the
    bot gives from now on are above n, so none of its own initiatives can get that code.
    PostgreSQL moves the id sequence on; SQLite gives the next id after the highest, so the
    imported initiative takes id n itself when n is above every id (returned; None: the id
    as usual). An n beyond the 32-bit ids can never be an id: nothing to do."""
    m = _BOT_CODE.fullmatch(code)
    n = int(m.group(1)) if m else 0
    if not 0 < n <= ID_MAX:
        return None
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_MOVE_PAST, {"n": n})
        return None
    top = conn.execute(select(func.max(initiative_t.c.id))).scalar() or 0
    return n if n > top else None


def _authors(conn: Connection, initiative_id: int, names: list[str]) -> None:
    if names:
        conn.execute(insert(initiative_author_t), [
            {"initiative_id": initiative_id, "position": i, "name": n[:128]}
            for i, n in enumerate(names)])


def _event(conn: Connection, initiative_id: int, actor: int, now: datetime,
           from_status: str | None, to_status: str) -> None:
    conn.execute(insert(initiative_event_t).values(
        initiative_id=initiative_id, actor_id=actor, at=now, from_status=from_status,
        to_status=to_status, reason=None))
