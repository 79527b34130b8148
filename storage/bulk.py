"""Many rows in one statement on PostgreSQL.

A batch writes back dozens of rows per table (events, accounts, drafts). executemany sends
them as one statement per row (psycopg pipelines them, but parses each result), and an
INSERT's VALUES list changes its text with the number of rows (psycopg then parses the whole
text anew every time, and the server cannot keep it prepared). Here the columns travel as
arrays, unnested by the server: one fixed text per kind of write, one round trip, one
result. SQLite keeps executemany, which costs little there (no round trips, no parsing).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, column, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import ARRAY


def _unnest(table: Table, cols: Sequence[str]) -> Any:
    """unnest(:a_col, …) AS u(col, …): the arrays bound as a_<col>, typed as the columns."""
    arrays = [bindparam(f"a_{c}", type_=ARRAY(table.c[c].type)) for c in cols]
    return (func.unnest(*arrays)
            .table_valued(*(column(c, table.c[c].type) for c in cols))
            .render_derived(name="u"))


@functools.cache
def _update(table: Table, key: tuple[str, ...], cols: tuple[str, ...],
            same: tuple[str, ...]) -> Any:
    u = _unnest(table, (*key, *cols))
    return (update(table)
            .where(*(table.c[k] == u.c[k] for k in key))
            .values({**{c: u.c[c] for c in cols},
                     **{c: bindparam(f"s_{c}", type_=table.c[c].type) for c in same}}))


def update_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                key: Sequence[str], cols: Sequence[str],
                same: Mapping[str, Any] | None = None) -> None:
    """PostgreSQL: UPDATE table SET col = u.col … FROM unnest(…) u WHERE table.key = u.key,
    for rows of `key` and `cols` values; `same`: columns set to one value on every row."""
    if not rows:
        return
    same = same or {}
    stmt = _update(table, tuple(key), tuple(cols), tuple(same))
    params = {f"a_{c}": [r[c] for r in rows] for c in (*key, *cols)}
    params.update({f"s_{c}": v for c, v in same.items()})
    conn.execute(stmt, params)


@functools.cache
def _insert(table: Table, cols: tuple[str, ...], same: tuple[str, ...],
            returning: tuple[str, ...]) -> Any:
    u = _unnest(table, cols)
    src = select(*(u.c[c] for c in cols),
                 *(bindparam(f"s_{c}", type_=table.c[c].type) for c in same))
    stmt = (postgresql.insert(table).from_select([*cols, *same], src)
            .on_conflict_do_nothing())
    return stmt.returning(*(table.c[c] for c in returning)) if returning else stmt


def insert_new(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
               cols: Sequence[str], same: Mapping[str, Any] | None = None,
               returning: Sequence[str] = ()) -> list[Any]:
    """PostgreSQL: INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING [RETURNING …]: the
    rows not there yet are inserted; returns the `returning` rows of those."""
    if not rows:
        return []
    same = same or {}
    stmt = _insert(table, tuple(cols), tuple(same), tuple(returning))
    params = {f"a_{c}": [r[c] for r in rows] for c in cols}
    params.update({f"s_{c}": v for c, v in same.items()})
    result = conn.execute(stmt, params)
    return result.all() if returning else []
