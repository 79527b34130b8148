"""Write-side queries for the union directory: bulk import (insert, update, move) and export.

Everything is set-based: the directory is read once into a dict keyed by code, the new state
is computed in Python, and the changes go out as batched multi-row statements (units level by
level, parents first, so every parent id is known when its children are inserted). Moving or
renaming a unit changes the search terms of its whole subtree (terms include the ancestors'
names); those are recomputed once per unit with the
ancestors' terms memoised per parent, so the work is linear in the size of the subtrees.

The functions take a synchronous `Connection` (run them inside `AsyncConnection.run_sync`) and
never commit: the caller's transaction makes an import all-or-nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update

from storage.models import unit_t, unit_term_count_t, unit_term_t
from storage.queries import UnitRow, is_grassroots
from storage.textfold import terms

# Rows per statement when deleting by id lists (well under SQLite's 32,766 variables).
_ID_CHUNK = 5000
# Units per bulk insert of search terms (bounds the memory of one batch).
_TERM_BATCH = 10_000   # units
# A big import of search terms: at least this many units, and a quarter of the directory.
_BULK_MIN = 20_000
# SQLite page cache during a big import, KiB (the default is 2 MiB).
_BULK_CACHE_KIB = 256 * 1024


class StoredUnit(NamedTuple):
    """A unit as it is in the database, with its parent's code resolved."""

    id: int
    code: str
    name: str
    parent_code: str | None
    kind: str
    bloc: str
    member_count: int
    cluster: str | None
    depth: int
    is_demo: bool

    def as_row(self) -> UnitRow:
        return UnitRow(code=self.code, name=self.name, parent_code=self.parent_code,
                       kind=self.kind, bloc=self.bloc, member_count=self.member_count,
                       cluster=self.cluster, is_demo=self.is_demo)


@dataclass(slots=True)
class ApplyStats:
    """What an import changed (codes listed for the small, interesting sets)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    untouched: int = 0          # in the database, absent from the file: left alone
    moved: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    depth_changed: int = 0      # units whose level changed (moved units and their subtrees)
    terms_rebuilt: int = 0      # units whose search terms were recomputed


def lock_directory(conn: Connection) -> None:
    """Keep other writers off the directory until the transaction ends (reads go on).

    SQLite already holds the database's write lock (the engine begins IMMEDIATE).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE unit IN SHARE ROW EXCLUSIVE MODE"))


def load_units(conn: Connection) -> dict[str, StoredUnit]:
    """Every unit, keyed by code (one query)."""
    rows = conn.execute(select(
        unit_t.c.id, unit_t.c.code, unit_t.c.name, unit_t.c.parent_id, unit_t.c.kind,
        unit_t.c.bloc, unit_t.c.member_count, unit_t.c.cluster, unit_t.c.depth,
        unit_t.c.is_demo)).all()
    code_of = {r[0]: r[1] for r in rows}
    code_of[None] = None
    return {
        code: StoredUnit(uid, code, name, code_of[parent_id], kind, bloc, members, cluster,
                         depth, bool(demo))
        for uid, code, name, parent_id, kind, bloc, members, cluster, depth, demo in rows
    }


def preorder(parent_of: dict[str, str | None], order: dict[str, int]) -> list[str]:
    """Codes parents first, each subtree after its root, siblings by `order`.

    `parent_of` must be acyclic and every parent must be a key. Iterative: depth is unbounded.
    """
    children: dict[str | None, list[str]] = defaultdict(list)
    for code, parent in parent_of.items():
        children[parent].append(code)
    for kids in children.values():
        kids.sort(key=order.__getitem__)
    out: list[str] = []
    stack = list(reversed(children[None]))
    while stack:
        code = stack.pop()
        out.append(code)
        stack.extend(reversed(children.get(code, ())))
    return out


def export_units(conn: Connection) -> list[UnitRow]:
    """The whole directory, parents before children (depth first, siblings by id)."""
    stored = load_units(conn)
    order = {code: u.id for code, u in stored.items()}
    parent_of = {code: u.parent_code for code, u in stored.items()}
    return [stored[code].as_row() for code in preorder(parent_of, order)]


def _fields(r: UnitRow | StoredUnit) -> tuple[Any, ...]:
    return (r.name, r.parent_code, r.kind, r.bloc, r.member_count, r.cluster)


class _Terms:
    """Search terms per unit, as every import builds them: the unit's own words first
    (own=True), then its ancestors' words nearest first (own=False), each word once."""

    def __init__(self, name: dict[str, str], parent_of: dict[str, str | None]) -> None:
        self._name = name
        self._parent = parent_of
        self._own: dict[str, list[str]] = {}
        self._lineage: dict[str, list[str]] = {}   # words of a unit and all its ancestors

    def own(self, code: str) -> list[str]:
        got = self._own.get(code)
        if got is None:
            got = self._own[code] = terms(self._name[code])
        return got

    def lineage(self, code: str) -> list[str]:
        """Distinct words of `code`'s name then its ancestors' (memoised, no recursion)."""
        chain: list[str] = []
        c: str | None = code
        while c is not None and c not in self._lineage:
            chain.append(c)
            c = self._parent[c]
        above = self._lineage[c] if c is not None else []
        for c in reversed(chain):
            words = dict.fromkeys(self.own(c))
            words.update(dict.fromkeys(above))
            above = self._lineage[c] = list(words)
        return above

    def unit_terms(self, code: str) -> tuple[int, list[str]]:
        """(how many are the unit's own, the unit's terms with its own first)."""
        own = self.own(code)
        parent = self._parent[code]
        if parent is None:
            return len(own), own
        mine = set(own)
        return len(own), own + [t for t in self.lineage(parent) if t not in mine]


def _subtrees(roots: Iterable[str], children: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [r for r in roots]
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        stack.extend(children.get(c, ()))
    return seen


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


_UNIT_UPDATE = (
    update(unit_t)
    .where(unit_t.c.id == bindparam("_id"))
    .values(name=bindparam("name"), parent_id=bindparam("parent_id"), kind=bindparam("kind"),
            bloc=bindparam("bloc"), member_count=bindparam("member_count"),
            cluster=bindparam("cluster"), depth=bindparam("depth"))
)


def apply_units(
    conn: Connection, rows: Sequence[UnitRow], stored: dict[str, StoredUnit]
) -> ApplyStats:
    """Insert new units and update existing ones in place by code, in the caller's transaction.

    `rows` must be valid against `stored` (codes unique; every parent in `rows` or `stored`;
    no cycle): see `bot.directory.validate`. Units of `stored` absent from `rows` keep their
    fields, but their level and search terms follow when an ancestor moves or is renamed.
    New units take `is_demo` from the row; existing units keep theirs.
    """
    stats = ApplyStats()
    parent_of: dict[str, str | None] = {c: u.parent_code for c, u in stored.items()}
    name = {c: u.name for c, u in stored.items()}
    incoming: dict[str, UnitRow] = {}
    dirty_roots: list[str] = []          # renamed or moved: their subtrees need new terms
    regrouped: list[str] = []            # became or stopped being grassroots: own terms only
    for r in rows:
        incoming[r.code] = r
        parent_of[r.code] = r.parent_code
        name[r.code] = r.name
        old = stored.get(r.code)
        if old is None:
            stats.added += 1
        elif _fields(old) == _fields(r):
            stats.unchanged += 1
        else:
            stats.updated += 1
            if old.parent_code != r.parent_code:
                stats.moved.append(r.code)
            if old.name != r.name:
                stats.renamed.append(r.code)
            if old.parent_code != r.parent_code or old.name != r.name:
                dirty_roots.append(r.code)
            elif is_grassroots(old.kind) != is_grassroots(r.kind):
                regrouped.append(r.code)   # same words, filed under the other kind
    stats.untouched = len(stored) - (len(incoming) - stats.added)

    # Levels and parents-first order over the final tree.
    children: dict[str, list[str]] = defaultdict(list)
    roots: list[str] = []
    for c, p in parent_of.items():
        (children[p] if p is not None else roots).append(c)
    depth: dict[str, int] = {}
    levels: list[list[str]] = []
    level = roots
    while level:
        d = len(levels)
        for c in level:
            depth[c] = d
        levels.append(level)
        level = [k for c in level for k in children.get(c, ())]

    # 1. New units, one level at a time (multi-row INSERT … RETURNING per page).
    ids = {c: u.id for c, u in stored.items()}
    for d, level in enumerate(levels):
        params = [
            {"code": c, "name": r.name, "parent_id": ids[r.parent_code] if r.parent_code else None,
             "kind": r.kind, "bloc": r.bloc, "member_count": r.member_count,
             "cluster": r.cluster, "depth": d, "is_demo": r.is_demo}
            for c in level if c not in stored for r in (incoming[c],)
        ]
        if params:
            res = conn.execute(
                insert(unit_t).returning(unit_t.c.id, unit_t.c.code), params)
            ids.update((code, uid) for uid, code in res)

    # 2. Existing units whose fields or level changed (one executemany).
    changes = []
    for c, old in stored.items():
        r = incoming.get(c)
        new_fields = _fields(r) if r is not None else _fields(old)
        if new_fields == _fields(old) and depth[c] == old.depth:
            continue
        if depth[c] != old.depth:
            stats.depth_changed += 1
        src = r if r is not None else old
        changes.append({
            "_id": old.id, "name": src.name,
            "parent_id": ids[src.parent_code] if src.parent_code else None,
            "kind": src.kind, "bloc": src.bloc, "member_count": src.member_count,
            "cluster": src.cluster, "depth": depth[c]})
    if changes:
        conn.execute(_UNIT_UPDATE, changes)

    # 3. Search terms of new units and of every unit under a moved or renamed one.
    dirty = _subtrees(dirty_roots, children)
    dirty.update(regrouped)
    stale = [ids[c] for c in dirty if c in stored]
    touched: set[str] = set()            # words whose unit counts change
    for chunk in _chunks(stale, _ID_CHUNK):
        touched.update(conn.execute(select(unit_term_t.c.term).distinct()
                                    .where(unit_term_t.c.unit_id.in_(chunk))).scalars())
        conn.execute(delete(unit_term_t).where(unit_term_t.c.unit_id.in_(chunk)))
    dirty.update(c for c in incoming if c not in stored)
    stats.terms_rebuilt = len(dirty)
    builder = _Terms(name, parent_of)

    def grassroots(c: str) -> bool:
        r = incoming.get(c)
        return is_grassroots(r.kind if r is not None else stored[c].kind)

    big = len(dirty) >= _BULK_MIN and len(dirty) * 4 >= len(ids)
    with _bulk_load(conn, big=big):
        batch: list[tuple[int, bool, int, list[str]]] = []
        for c in sorted(dirty, key=ids.__getitem__):
            batch.append((ids[c], grassroots(c), *builder.unit_terms(c)))
            if len(batch) >= _TERM_BATCH:
                insert_terms(conn, batch)
                if not big:
                    touched.update(t for *_rest, ts in batch for t in ts)
                batch = []
        if batch:
            insert_terms(conn, batch)
            if not big:
                touched.update(t for *_rest, ts in batch for t in ts)
        if big:
            refresh_term_counts(conn)
        elif touched:
            refresh_term_counts(conn, touched)
    return stats


def rebuild_terms(conn: Connection) -> int:
    """Recompute the search terms of every unit from the directory (e.g. after the layout of
    `unit_term` changed); returns the number of units."""
    stored = load_units(conn)
    builder = _Terms({c: u.name for c, u in stored.items()},
                     {c: u.parent_code for c, u in stored.items()})
    conn.execute(delete(unit_term_t))
    codes = sorted(stored, key=lambda c: stored[c].id)
    with _bulk_load(conn, big=len(codes) >= _BULK_MIN):
        for chunk in _chunks(codes, _TERM_BATCH):
            insert_terms(conn, [(stored[c].id, is_grassroots(stored[c].kind),
                                 *builder.unit_terms(c)) for c in chunk])
        refresh_term_counts(conn)
    return len(codes)


def insert_terms(conn: Connection, units: list[tuple[int, bool, int, list[str]]]) -> None:
    """Bulk-insert search terms given per unit as (unit_id, grassroots, n_own, terms), own
    terms first.

    PostgreSQL: COPY. SQLite: the batch goes in as one JSON document that SQLite itself
    unnests (no per-row work in Python). Others: executemany.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite" and _sqlite_has_json(conn):
        # {"unit id": [terms…]}: one JSON parse per unit, none per term; one statement per
        # (kind, own) pair so both flags are constants.
        for g in (True, False):
            group = [u for u in units if u[1] == g]
            if not group:
                continue
            for own, part in ((1, lambda n, ts: ts[:n]), (0, lambda n, ts: ts[n:])):
                doc = json.dumps({uid: part(n_own, ts) for uid, _g, n_own, ts in group},
                                 separators=(",", ":"))
                conn.exec_driver_sql(
                    f'INSERT INTO "{unit_term_t.name}" (grassroots, term, unit_id, own) '
                    f"SELECT {int(g)}, t.value, CAST(u.key AS INTEGER), {own} "
                    "FROM json_each(?) AS u, json_each(u.value) AS t", (doc,))
        return
    rows = [(g, t, uid, i < n_own) for uid, g, n_own, ts in units for i, t in enumerate(ts)]
    if dialect == "postgresql":
        raw = conn.connection.dbapi_connection
        if hasattr(raw, "run_async"):   # asyncpg under SQLAlchemy's adapter
            raw.run_async(lambda c: c.copy_records_to_table(
                unit_term_t.name, records=rows,
                columns=["grassroots", "term", "unit_id", "own"]))
            return
    conn.execute(insert(unit_term_t),
                 [{"grassroots": g, "term": t, "unit_id": u, "own": o} for g, t, u, o in rows])


@contextmanager
def _bulk_load(conn: Connection, *, big: bool) -> Iterator[None]:
    """Settings for writing millions of search terms at once (`big`), restored afterwards.

    SQLite: a bigger page cache. PostgreSQL: the usual bulk-load recipe — the indexes and
    constraints of `unit_term` are dropped, the rows copied in, then the indexes are built
    by sorting and the foreign key checked in one pass (seconds, against minutes of
    per-row index inserts and foreign-key triggers), and the tables analysed. DDL is
    transactional there, so the import stays all-or-nothing; searches wait for the commit.
    """
    if not big:
        yield
        return
    if conn.dialect.name == "sqlite":
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_BULK_CACHE_KIB}")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")
    elif conn.dialect.name == "postgresql":
        restore = _pg_detach(conn, unit_term_t.name)
        yield                       # on an error the rollback restores everything
        for ddl in restore:
            conn.exec_driver_sql(ddl)
        # Fresh planner statistics, or searches run on plans made for an empty table.
        conn.exec_driver_sql(
            f'ANALYZE "{unit_t.name}", "{unit_term_t.name}", "{unit_term_count_t.name}"')
    else:
        yield


def wants_vacuum(engine: Any, stats: ApplyStats) -> bool:
    """After a big import into PostgreSQL, vacuum at once instead of waiting for autovacuum:
    until the visibility map is set, every index-only scan of a search also reads the heap
    (a search over freshly imported terms took several times longer)."""
    return engine.dialect.name == "postgresql" and stats.terms_rebuilt >= _BULK_MIN


def vacuum_directory(conn: Connection) -> None:
    """VACUUM (ANALYZE) the directory tables; `conn` must be in autocommit mode."""
    for table in (unit_term_t.name, unit_term_count_t.name, unit_t.name):
        conn.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')


def _pg_detach(conn: Connection, table: str) -> list[str]:
    """Drop a table's constraints and indexes; return the DDL that recreates them, keys and
    indexes first, foreign keys last."""
    cons = conn.execute(text(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f') "
        "ORDER BY contype = 'f', conname"), {"t": table}).all()
    idx = conn.execute(text(
        "SELECT CAST(i.indexrelid AS regclass)::text, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
        " AND c.conrelid = i.indrelid)"), {"t": table}).all()
    q = f'"{table}"'
    for name, _type, _def in sorted(cons, key=lambda c: c[1] != "f"):   # foreign keys first
        conn.exec_driver_sql(f'ALTER TABLE {q} DROP CONSTRAINT "{name}"')
    for name, _def in idx:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    keys = [f'ALTER TABLE {q} ADD CONSTRAINT "{n}" {d}' for n, t, d in cons if t != "f"]
    fks = [f'ALTER TABLE {q} ADD CONSTRAINT "{n}" {d}' for n, t, d in cons if t == "f"]
    return keys + [d for _n, d in idx] + fks


def _sqlite_has_json(conn: Connection) -> bool:
    # JSON functions are built into SQLite from 3.38 on (and into most builds before).
    return (conn.dialect.server_version_info or (0,)) >= (3, 38, 0)


_TERM_CHUNK = 5000   # words per statement (well under SQLite's 32,766 variables)


def refresh_term_counts(conn: Connection, words: Iterable[str] | None = None) -> None:
    """Recount `unit_term_count` for `words` (every word when None) from `unit_term`."""
    tally = (select(unit_term_t.c.grassroots, unit_term_t.c.term, func.count())
             .group_by(unit_term_t.c.grassroots, unit_term_t.c.term))
    cols = ["grassroots", "term", "units"]
    if words is None:
        conn.execute(delete(unit_term_count_t))
        conn.execute(insert(unit_term_count_t).from_select(cols, tally))
        return
    words = sorted(set(words))
    for i in range(0, len(words), _TERM_CHUNK):
        chunk = words[i:i + _TERM_CHUNK]
        conn.execute(delete(unit_term_count_t).where(unit_term_count_t.c.term.in_(chunk)))
        conn.execute(insert(unit_term_count_t).from_select(cols, tally.where(
            unit_term_t.c.grassroots.in_([False, True]), unit_term_t.c.term.in_(chunk))))
