"""Unit rows, unit searches and chains of unions kept by a process while the directory
(units and phases) stays the same.

A guided submission reads units five times (the search, the union pressed, the receiving
union offered, the summary, and the chain of unions its rollups go to, with the phase of
the day), and workers of one factory search for the same words and belong to the same
unions. On PostgreSQL each read is a round trip; kept here, they cost a batch of chat steps
nothing but one column more in the accounts it loads (`queries.load_accounts`): the
directory's version (`directory_version`, bumped by triggers on `unit` and `phase`,
migration 0770). While the version is the one the rows were kept under, they are used; when
it moved, everything kept is dropped.

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

from sqlalchemy import Connection

from storage import progress, queries
from storage.queries import UnitHit

UNKNOWN: Any = object()   # not kept (None is a value: a unit with no parent)
Chain = tuple[int | None, str, list[int]]   # progress.chain_of: phase, bloc, the unions


class UnitCache:
    """What one process keeps, by kind: unit rows by id, parents' ids by unit, searches' ids
    by their words, chains by (unit, day). Thread-safe; each kind bounded, the least
    recently used dropped first."""

    def __init__(self, *, rows: int = 50_000, searches: int = 2_000) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._kept: dict[str, OrderedDict[Any, Any]] = {
            kind: OrderedDict() for kind in ("row", "parent", "search", "chain")}
        self._most = {"row": rows, "parent": rows, "search": searches, "chain": rows}

    def reader(self, conn: Connection) -> Units:
        """The lookups of one transaction (a batch of steps)."""
        return Units(conn, self)

    def sync(self, version: int) -> None:
        """Drop everything kept when the directory's version moved."""
        with self._lock:
            if version != self._version:
                for kept in self._kept.values():
                    kept.clear()
                self._version = version

    def get(self, kind: str, keys: Iterable[Any]) -> list[Any]:
        """What is kept for each key (`UNKNOWN` where nothing is)."""
        kept = self._kept[kind]
        out = []
        with self._lock:
            for key in keys:
                value = kept.get(key, UNKNOWN)
                if value is not UNKNOWN:
                    kept.move_to_end(key)
                out.append(value)
        return out

    def put(self, kind: str, items: Iterable[tuple[Any, Any]]) -> None:
        kept, most = self._kept[kind], self._most[kind]
        with self._lock:
            for key, value in items:
                kept[key] = value
                kept.move_to_end(key)
            while len(kept) > most:
                kept.popitem(last=False)


class Units:
    """Unit lookups within one transaction: through a `UnitCache` once the caller has said
    which version of the directory the transaction sees (`known_version`), else straight
    from the database."""

    def __init__(self, conn: Connection, cache: UnitCache | None = None) -> None:
        self.conn = conn
        self._offered = cache
        self._cache: UnitCache | None = None

    def known_version(self, version: int | None) -> None:
        """The directory's version, read by the caller in this transaction (with the
        accounts). None (no version row): nothing can be trusted to stay the same."""
        if self._offered is not None and version is not None:
            self._offered.sync(version)
            self._cache = self._offered
        self._offered = None

    def by_ids(self, ids: Iterable[int]) -> dict[int, UnitHit]:
        """The units of `ids` that exist, in the order asked."""
        ids = list(dict.fromkeys(ids))
        cache = self._cache
        if cache is None:
            return queries.units_by_ids(self.conn, ids)
        found = dict(zip(ids, cache.get("row", ids), strict=True))
        missing = [i for i, row in found.items() if row is UNKNOWN]
        if missing:
            read = queries.units_by_ids(self.conn, missing)
            cache.put("row", read.items())
            found.update(read)
        return {i: row for i, row in found.items() if row is not UNKNOWN}

    def parent_of(self, unit_id: int) -> UnitHit | None:
        """The unit's parent union (None at the top, or for no such unit)."""
        cache = self._cache
        if cache is None:
            return queries.parent_of(self.conn, unit_id)
        [parent_id] = cache.get("parent", [unit_id])
        if parent_id is UNKNOWN:
            parent = queries.parent_of(self.conn, unit_id)
            cache.put("parent", [(unit_id, parent.id if parent else None)])
            if parent is not None:
                cache.put("row", [(parent.id, parent)])
            return parent
        return None if parent_id is None else self.by_ids([parent_id]).get(parent_id)

    def search(self, query: str, *, grassroots: bool | None = None
               ) -> tuple[list[UnitHit], bool]:
        """`queries.search_units`, kept by its words (however typed: accents, case)."""
        cache = self._cache
        if cache is None:
            return queries.search_units(self.conn, query, grassroots=grassroots)
        key = (queries.search_terms(query), grassroots)
        [kept] = cache.get("search", [key])
        if kept is UNKNOWN:
            hits, truncated = queries.search_units(self.conn, query, grassroots=grassroots,
                                                   rows_of=self.by_ids)
            cache.put("search", [(key, (tuple(h.id for h in hits), truncated))])
            return hits, truncated
        ids, truncated = kept
        rows = self.by_ids(ids)
        return [rows[i] for i in ids if i in rows], truncated

    def chain_of(self, unit_id: int, day: date) -> Chain:
        """`progress.chain_of`: the phase holding `day`, the unit's bloc, the unit and the
        unions above it."""
        cache = self._cache
        if cache is None:
            return progress.chain_of(self.conn, unit_id=unit_id, day=day)
        [kept] = cache.get("chain", [(unit_id, day)])
        if kept is UNKNOWN:
            kept = progress.chain_of(self.conn, unit_id=unit_id, day=day)
            cache.put("chain", [((unit_id, day), kept)])
        return kept
