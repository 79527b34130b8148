"""A unit's subtree and its initiatives in a phase, streamed in batches (XLSX reports):
reports may scan the subtree; the progress views never do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from storage.models import initiative_author_t, initiative_t, unit_t
from storage.progress import STATUSES, TIMEZONE, local_day

REPORT_BATCH = 1000


def subtree_ids(conn: Connection, unit_id: int) -> list[int]:
    out, level = [unit_id], [unit_id]
    while level:
        nxt: list[int] = []
        for i in range(0, len(level), 500):
            nxt += conn.execute(select(unit_t.c.id).where(
                unit_t.c.parent_id.in_(level[i:i + 500]))).scalars().all()
        out += nxt
        level = nxt
    return out


def subtree_initiatives(conn: Connection, *, unit_id: int, starts_on: date, ends_on: date
                        ) -> Iterator[dict[str, Any]]:
    """Every initiative counted in the unit's subtree and the phase, in batches."""
    ids = subtree_ids(conn, unit_id)
    inside = set(ids)
    start = datetime.combine(starts_on, datetime.min.time(), TIMEZONE)
    end = datetime.combine(ends_on + timedelta(days=1), datetime.min.time(),
                           TIMEZONE)
    names = dict(conn.execute(select(unit_t.c.id, unit_t.c.code)).all()) \
        if len(ids) > 20000 else None
    i = initiative_t
    cols = (i.c.id, i.c.code, i.c.title, i.c.author_unit_id, i.c.unit_id, i.c.field_code,
            i.c.benefit_vnd, i.c.status, i.c.submitted_at)
    chunks = [ids[k:k + 500] for k in range(0, len(ids), 500)]
    for chunk in chunks:
        for own_base in (True, False):
            last = 0
            while True:
                if own_base:
                    cond = i.c.author_unit_id.in_(chunk)
                else:
                    cond = i.c.author_unit_id.is_(None) & i.c.unit_id.in_(chunk)
                # every status, named: the (unit, status, submitted_at) indexes then serve
                # the date range too (ix_initiative_author_unit_status, ix_initiative_unit_status)
                rows = conn.execute(select(*cols).where(
                    cond, i.c.status.in_(STATUSES), i.c.submitted_at >= start,
                    i.c.submitted_at < end, i.c.id > last)
                    .order_by(i.c.id).limit(REPORT_BATCH)).all()
                if not rows:
                    break
                last = rows[-1].id
                authors: dict[int, list[str]] = {}
                for ini, name in conn.execute(
                        select(initiative_author_t.c.initiative_id, initiative_author_t.c.name)
                        .where(initiative_author_t.c.initiative_id.in_([r.id for r in rows]))
                        .order_by(initiative_author_t.c.initiative_id,
                                  initiative_author_t.c.position)):
                    authors.setdefault(ini, []).append(name)
                unit_ids = {r.author_unit_id for r in rows} | {r.unit_id for r in rows}
                codes = names if names is not None else dict(conn.execute(
                    select(unit_t.c.id, unit_t.c.code).where(
                        unit_t.c.id.in_([u for u in unit_ids if u is not None]))).all())
                for r in rows:
                    base = r.author_unit_id or r.unit_id
                    if base not in inside:
                        continue
                    yield {"id": r.id, "code": r.code, "title": r.title,
                           "authors": authors.get(r.id, []),
                           "grassroots_code": codes.get(r.author_unit_id)
                           if r.author_unit_id else None,
                           "receiving_code": codes.get(r.unit_id), "field": r.field_code,
                           "benefit_vnd": r.benefit_vnd, "status": r.status,
                           "submitted_on": local_day(r.submitted_at)}
                if len(rows) < REPORT_BATCH:
                    break
