"""PostgreSQL: a change to one cell of the rollups (one phase, base union and day: every
submission, every decision on an initiative) written in one statement.

`progress.apply_change` writes the authors' rows, reads back each author's registered count
at the base (a participant more when it went from 0 to positive, one less the other way),
then the deltas of the base and the unions above, participants included: two statements, or
one more per co-author. Here the authors' upsert is a data-modifying CTE, the participants'
change is counted from what it returns, and the deltas are inserted with it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, Connection, Integer, bindparam, case, func, or_, select
from sqlalchemy.dialects import postgresql

from storage.bulk import json_rows, rows_param
from storage.models_progress import progress_author_t, progress_delta_t

AUTHOR_COLS = ("phase_id", "unit_id", "author", "name", "registered", "valid")


@functools.cache
def _statement(delta_cols: tuple[str, ...]) -> Any:
    a_in = select(*rows_param(progress_author_t, AUTHOR_COLS, "a_rows").c).cte("a_in")
    t = progress_author_t
    up = postgresql.insert(t).from_select(list(AUTHOR_COLS), select(*a_in.c))
    up = up.on_conflict_do_update(
        index_elements=["phase_id", "unit_id", "author"],
        set_={"registered": t.c.registered + up.excluded.registered,
              "valid": t.c.valid + up.excluded.valid, "name": up.excluded.name},
    ).returning(t.c.unit_id, t.c.author, t.c.registered).cte("a")
    # At the base: (registered now > 0) − (registered before > 0), summed over the authors.
    crossed = (case((up.c.registered > 0, 1), else_=0)
               - case((up.c.registered - a_in.c.registered > 0, 1), else_=0))
    moved = (select(func.coalesce(func.sum(crossed), 0))
             .select_from(up.join(a_in, (a_in.c.author == up.c.author)
                                  & (a_in.c.unit_id == up.c.unit_id)))
             .where(up.c.unit_id == bindparam("base", type_=Integer))
             .scalar_subquery())
    d = rows_param(progress_delta_t, delta_cols, "d_rows")
    values = [d.c[c] + moved if c == "participants" else d.c[c] for c in delta_cols]
    return (postgresql.insert(progress_delta_t)
            .from_select(list(delta_cols), select(*values).where(
                or_(bindparam("changed", type_=Boolean), moved != 0)))
            .add_cte(up))


def write(conn: Connection, *, base: int, authors: Sequence[Mapping[str, Any]],
          deltas: Sequence[Mapping[str, Any]], changed: bool) -> None:
    """`authors`: progress_author rows to add (each author at the base and every union
    above); `deltas`: the cell's delta rows (the base and every union above), participants
    before the authors' change; `changed`: whether those deltas change anything by
    themselves (else they are written only when the participants moved)."""
    cols = tuple(deltas[0])
    conn.execute(_statement(cols), {
        "a_rows": json_rows(conn, progress_author_t, authors, AUTHOR_COLS),
        "d_rows": json_rows(conn, progress_delta_t, deltas, cols),
        "base": base, "changed": changed})
