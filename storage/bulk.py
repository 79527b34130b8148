"""Many rows in one statement on PostgreSQL.

A batch writes back dozens of rows per table (events, accounts, drafts). executemany sends
them as one statement per row (psycopg pipelines them, but parses each result), and an
INSERT's VALUES list changes its text with the number of rows (psycopg then parses the whole
text anew every time, and the server cannot keep it prepared). Here the rows travel as one
JSON parameter, turned back into rows by the server (json_to_recordset): one fixed text per
kind of write, one round trip, one result, and on this side one json.dumps (arrays would be
quoted element by element). SQLite keeps executemany, which costs little there.

`upsert_add` (both backends): rows added to counters, INSERT … ON CONFLICT DO UPDATE, its
statement built once per table and columns.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, Text, bindparam, cast, column, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

# The dialect modules by `conn.dialect.name` (their insert() has ON CONFLICT).
DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}


def rows_param(table: Table, cols: Sequence[str], name: str = "rows") -> Any:
    """json_to_recordset(:name) AS u(col type, …): the rows bound as one JSON array
    (`json_rows`)."""
    return (func.json_to_recordset(cast(bindparam(name, type_=Text), postgresql.JSON))
            .table_valued(*(column(c, table.c[c].type) for c in cols))
            .render_derived(name="u" if name == "rows" else name, with_types=True))


def json_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
              cols: Sequence[str]) -> str:
    """The rows' `cols` as a JSON array, each value as the column's type binds it."""
    procs = {c: table.c[c].type.bind_processor(conn.dialect) for c in cols}
    out = []
    for r in rows:
        out.append({c: (p(r[c]) if p is not None else r[c]) for c, p in procs.items()})
    return json.dumps(out, ensure_ascii=False, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@functools.cache
def _update(table: Table, key: tuple[str, ...], cols: tuple[str, ...],
            same: tuple[str, ...]) -> Any:
    u = rows_param(table, (*key, *cols))
    return (update(table)
            .where(*(table.c[k] == u.c[k] for k in key))
            .values({**{c: u.c[c] for c in cols},
                     **{c: bindparam(f"s_{c}", type_=table.c[c].type) for c in same}}))


def update_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                key: Sequence[str], cols: Sequence[str],
                same: Mapping[str, Any] | None = None) -> None:
    """PostgreSQL: UPDATE table SET col = u.col … FROM json_to_recordset(…) u WHERE
    table.key = u.key, for rows of `key` and `cols` values; `same`: columns set to one value
    on every row."""
    if not rows:
        return
    same = same or {}
    stmt = _update(table, tuple(key), tuple(cols), tuple(same))
    conn.execute(stmt, {"rows": json_rows(conn, table, rows, (*key, *cols)),
                        **{f"s_{c}": v for c, v in same.items()}})


@functools.cache
def _insert(table: Table, cols: tuple[str, ...], same: tuple[str, ...],
            returning: tuple[str, ...]) -> Any:
    u = rows_param(table, cols)
    src = select(*(u.c[c] for c in cols),
                 *(bindparam(f"s_{c}", type_=table.c[c].type) for c in same))
    stmt = (postgresql.insert(table).from_select([*cols, *same], src)
            .on_conflict_do_nothing())
    return stmt.returning(*(table.c[c] for c in returning)) if returning else stmt


def insert_new(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
               cols: Sequence[str], same: Mapping[str, Any] | None = None,
               returning: Sequence[str] = ()) -> list[Any]:
    """PostgreSQL: INSERT … SELECT FROM json_to_recordset(…) ON CONFLICT DO NOTHING
    [RETURNING …]: the rows not there yet are inserted; returns the `returning` rows of
    those."""
    if not rows:
        return []
    same = same or {}
    stmt = _insert(table, tuple(cols), tuple(same), tuple(returning))
    result = conn.execute(stmt, {"rows": json_rows(conn, table, rows, cols),
                                 **{f"s_{c}": v for c, v in same.items()}})
    return result.all() if returning else []


def upsert_add(conn: Connection, table: Any, keys: Sequence[str], rows: list[dict[str, Any]],
            add: Sequence[str], *, returning: Any = None, keep: Sequence[str] = ()) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET col = col + excluded.col for `add`."""
    stmt = _upsert(conn.dialect.name, table, tuple(keys), tuple(add), tuple(keep),
                   tuple(returning or ()))
    if returning is not None:   # every row's, in one round trip (in no particular order)
        return conn.execute(stmt, rows).all() if rows else []
    if rows:
        conn.execute(stmt, rows)
    return None


@functools.cache   # built once: a submission's rollups run it for every union above
def _upsert(dialect: str, table: Any, keys: tuple[str, ...], add: tuple[str, ...],
            keep: tuple[str, ...], returning: tuple[Any, ...]) -> Any:
    stmt = DIALECTS[dialect].insert(table)
    sets = {c: table.c[c] + stmt.excluded[c] for c in add}
    sets.update({c: stmt.excluded[c] for c in keep})
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=sets)
    return stmt.returning(*returning) if returning else stmt
