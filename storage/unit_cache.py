"""Unit rows, unit searches and chains of unions kept by a process while the directory
(units and phases) stays the same.

A guided submission reads units five times (the search, the union pressed, the receiving
union offered, the summary, and the chain of unions its rollups go to, with the phase of
the day), and workers of one factory search for the same words and belong to the same
unions. On PostgreSQL each read is a round trip; kept here, a batch of chat steps reads one
row instead: the directory's version (`directory_version`, bumped by triggers on `unit` and
`phase`, migration 0770), with the accounts it loads (`queries.load_accounts`), or else at
its first unit lookup. While the version is the one the rows were kept under, they are used;
when it moved, everything kept is dropped.

Consistency: a batch sees the units as of its version read or later, the same as a read
committed transaction reading them itself. Rows read after another process's change but
kept under the older version are dropped at the next batch, which sees the newer version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from storage import progress, queries
from storage.models import directory_version_t
from storage.queries import UnitHit

_VERSION = select(directory_version_t.c.n).where(directory_version_t.c.id == 1)
_UNKNOWN = object()
SearchKey = tuple[tuple[str, ...], bool | None]
Chain = tuple[int | None, str, list[int]]   # progress.chain_of: phase, bloc, the unions


class UnitCache:
    """What one process keeps (thread-safe; bounded, least recently used dropped first)."""

    def __init__(self, *, rows: int = 50_000, searches: int = 2_000) -> None:
        self.max_rows = rows
        self.max_searches = searches
        self._lock = threading.Lock()
        self._version: int | None = None
        self._rows: OrderedDict[int, UnitHit] = OrderedDict()
        self._parents: OrderedDict[int, int | None] = OrderedDict()
        self._searches: OrderedDict[SearchKey, tuple[tuple[int, ...], bool]] = OrderedDict()
        self._chains: OrderedDict[tuple[int, date], Chain] = OrderedDict()

    def reader(self, conn: Connection) -> Units:
        """The lookups of one transaction (a batch of steps)."""
        return Units(conn, self)

    def sync(self, version: int) -> None:
        with self._lock:
            if version != self._version:
                self._rows.clear()
                self._parents.clear()
                self._searches.clear()
                self._chains.clear()
                self._version = version

    def rows(self, ids: Iterable[int]) -> tuple[dict[int, UnitHit], list[int]]:
        """The rows kept of `ids`, and the ids not kept."""
        found: dict[int, UnitHit] = {}
        missing: list[int] = []
        with self._lock:
            for i in ids:
                row = self._rows.get(i)
                if row is None:
                    missing.append(i)
                else:
                    self._rows.move_to_end(i)
                    found[i] = row
        return found, missing

    def keep_rows(self, rows: Iterable[UnitHit]) -> None:
        with self._lock:
            for row in rows:
                self._rows[row.id] = row
                self._rows.move_to_end(row.id)
            _trim(self._rows, self.max_rows)

    def parent_id(self, unit_id: int) -> Any:
        """The parent's id, None at the top, `_UNKNOWN` when not kept."""
        with self._lock:
            return self._parents.get(unit_id, _UNKNOWN)

    def keep_parent(self, unit_id: int, parent: UnitHit | None) -> None:
        with self._lock:
            self._parents[unit_id] = parent.id if parent else None
            _trim(self._parents, self.max_rows)
        if parent is not None:
            self.keep_rows([parent])

    def search(self, key: SearchKey) -> tuple[tuple[int, ...], bool] | None:
        with self._lock:
            kept = self._searches.get(key)
            if kept is not None:
                self._searches.move_to_end(key)
            return kept

    def keep_search(self, key: SearchKey, ids: tuple[int, ...], truncated: bool) -> None:
        with self._lock:
            self._searches[key] = (ids, truncated)
            _trim(self._searches, self.max_searches)


    def chain(self, key: tuple[int, date]) -> Chain | None:
        with self._lock:
            kept = self._chains.get(key)
            if kept is not None:
                self._chains.move_to_end(key)
            return kept

    def keep_chain(self, key: tuple[int, date], chain: Chain) -> None:
        with self._lock:
            self._chains[key] = chain
            _trim(self._chains, self.max_rows)


def _trim(kept: OrderedDict[Any, Any], most: int) -> None:
    while len(kept) > most:
        kept.popitem(last=False)


class Units:
    """Unit lookups within one transaction, through a `UnitCache` when given one (the
    directory's version is read at the first lookup), else straight from the database."""

    def __init__(self, conn: Connection, cache: UnitCache | None = None) -> None:
        self.conn = conn
        self._cache = cache
        self._checked = cache is None

    def known_version(self, version: int | None) -> None:
        """The directory's version, read by the caller in this transaction (with the
        accounts): no lookup needs to read it again."""
        if not self._checked:
            self._checked = True
            self._use(version)

    def _use(self, version: int | None) -> None:
        if version is None:   # no version row: nothing can be trusted to stay the same
            self._cache = None
        else:
            assert self._cache is not None
            self._cache.sync(version)

    def _kept(self) -> UnitCache | None:
        if not self._checked:
            self._checked = True
            self._use(self.conn.execute(_VERSION).scalar())
        return self._cache

    def by_ids(self, ids: Iterable[int]) -> dict[int, UnitHit]:
        """The units of `ids` that exist, in the order asked."""
        ids = list(dict.fromkeys(ids))
        cache = self._kept()
        if cache is None:
            return queries.units_by_ids(self.conn, ids)
        found, missing = cache.rows(ids)
        if missing:
            read = queries.units_by_ids(self.conn, missing)
            cache.keep_rows(read.values())
            found.update(read)
        return {i: found[i] for i in ids if i in found}

    def parent_of(self, unit_id: int) -> UnitHit | None:
        """The unit's parent union (None at the top, or for no such unit)."""
        cache = self._kept()
        if cache is None:
            return queries.parent_of(self.conn, unit_id)
        parent_id = cache.parent_id(unit_id)
        if parent_id is _UNKNOWN:
            parent = queries.parent_of(self.conn, unit_id)
            cache.keep_parent(unit_id, parent)
            return parent
        return None if parent_id is None else self.by_ids([parent_id]).get(parent_id)

    def search(self, query: str, *, grassroots: bool | None = None
               ) -> tuple[list[UnitHit], bool]:
        """`queries.search_units`, kept by its words (however typed: accents, case)."""
        cache = self._kept()
        if cache is None:
            return queries.search_units(self.conn, query, grassroots=grassroots)
        key = (queries.search_terms(query), grassroots)
        kept = cache.search(key)
        if kept is None:
            hits, truncated = queries.search_units(self.conn, query, grassroots=grassroots,
                                                   rows_of=self.by_ids)
            cache.keep_search(key, tuple(h.id for h in hits), truncated)
            return hits, truncated
        ids, truncated = kept
        rows = self.by_ids(ids)
        return [rows[i] for i in ids if i in rows], truncated

    def chain_of(self, unit_id: int, day: date) -> Chain:
        """`progress.chain_of`: the phase holding `day`, the unit's bloc, the unit and the
        unions above it."""
        cache = self._kept()
        if cache is None:
            return progress.chain_of(self.conn, unit_id=unit_id, day=day)
        kept = cache.chain((unit_id, day))
        if kept is None:
            kept = progress.chain_of(self.conn, unit_id=unit_id, day=day)
            cache.keep_chain((unit_id, day), kept)
        return kept
