"""storage.fast: a statement run on the raw SQLite cursor gives what SQLAlchemy gives.

Each check runs the same `Query` twice on the same data: once on the fast path and once
through `conn.execute` (forced by a cursor-execute listener, which `Query` honours), and
compares. The SQLite file is reached both through the async engine (aiosqlite's adapted
cursor) and through the synchronous twin the core uses; on PostgreSQL a `Query` always goes
through SQLAlchemy, and the same assertions hold.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, delete, event, insert, literal, select, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import fast, queries
from storage.engine import sync_twin
from storage.fast import Query
from storage.models import draft_t, initiative_t, person_t, unit_t

NOW = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)


def _slow(conn: Connection, fn: Callable[[], Any]) -> Any:
    """Run fn with a cursor listener on the engine: every Query takes SQLAlchemy's path."""
    seen: list[str] = []

    def listen(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn.engine, "before_cursor_execute", listen)
    try:
        out = fn()
    finally:
        event.remove(conn.engine, "before_cursor_execute", listen)
    assert seen, "the listener saw no statement: the slow path did not run"
    return out


def _both(conn: Connection, fn: Callable[[], Any]) -> Any:
    """fn on the fast path and on SQLAlchemy's; both must agree (and on SQLite, the fast
    path must have run on the raw cursor: no cursor event saw it)."""
    fast_out = fn()
    slow_out = _slow(conn, fn)
    assert _plain(fast_out) == _plain(slow_out)
    return fast_out


def _plain(x: Any) -> Any:
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, tuple) or type(x).__name__ == "Row":
        return tuple(x)
    return x


_PERSON_BY_ID = Query(select(person_t).where(person_t.c.id == bindparam("pid")))
_NEW_PERSON = Query(insert(person_t).returning(person_t.c.id))
_NEW_DRAFT = Query(insert(draft_t).returning(*draft_t.c))
_RENAME = Query(update(person_t).where(person_t.c.id == bindparam("b_id")))
_UNITS_IN = Query(select(unit_t.c.id, unit_t.c.name, literal(7).label("seven"))
                  .where(unit_t.c.id.in_(bindparam("ids", expanding=True)),
                         unit_t.c.kind.in_(["grassroots", "province", "district", "sector"]))
                  .order_by(unit_t.c.id))
_DROP_PERSON = Query(delete(person_t).where(person_t.c.id == bindparam("pid")))
_CODE = Query(update(initiative_t).where(initiative_t.c.id == bindparam("b_id"))
              .values(code=bindparam("code")))


def _exercise(conn: Connection) -> None:
    with conn.begin():
        # INSERT … RETURNING with Python-side column defaults (onboarded, alert_mode) filled.
        ids = [r[0] for r in _NEW_PERSON.many_rows(
            conn, [{"name": f"Người {i}", "created_at": NOW} for i in range(3)])]
        assert len(set(ids)) == 3
        person = _both(conn, lambda: _PERSON_BY_ID.mapping(conn, {"pid": ids[1]}))
        assert person == {"id": ids[1], "name": "Người 1", "unit_id": None, "onboarded": False,
                          "alert_mode": "instant", "created_at": NOW}
        # Dates, booleans and aware datetimes come back typed.
        draft = _NEW_DRAFT.mapping(conn, {"person_id": ids[0], "step": "title",
                                          "on_behalf": True, "applied_on": date(2024, 3, 15),
                                          "created_at": NOW, "updated_at": NOW})
        assert draft is not None
        assert (draft["on_behalf"], draft["applied_on"], draft["updated_at"]) == (
            True, date(2024, 3, 15), NOW)
        got = _both(conn, lambda: queries.get_draft(conn, draft_id=draft["id"],
                                                    person_id=ids[0]))
        assert got == draft
        # UPDATE: the SET clause from the parameters; the rowcount.
        assert _RENAME.run(conn, {"b_id": ids[2], "name": "Đổi tên", "onboarded": True}) == 1
        assert _RENAME.run(conn, {"b_id": -1, "name": "x"}) == 0
        renamed = _PERSON_BY_ID.mapping(conn, {"pid": ids[2]})
        assert renamed is not None and (renamed["name"], renamed["onboarded"]) == (
            "Đổi tên", True)
        # executemany
        _RENAME.many(conn, [{"b_id": i, "name": f"Tên {i}"} for i in ids])
        assert [r[1] for r in _both(conn, lambda: [_PERSON_BY_ID.first(conn, {"pid": i})
                                                   for i in ids])] == [
            f"Tên {i}" for i in ids]
        # An expanding IN list next to a literal one and a literal column; an empty list.
        units = _both(conn, lambda: _UNITS_IN.rows(conn, {"ids": [1, 2, 3, 999_999]}))
        assert [u[0] for u in units] == [u for u in (1, 2, 3) if u in {x[0] for x in units}]
        assert all(u[2] == 7 for u in units)
        assert _both(conn, lambda: _UNITS_IN.rows(conn, {"ids": []})) == []
        assert _DROP_PERSON.run(conn, {"pid": ids[2]}) == 1
        assert _PERSON_BY_ID.first(conn, {"pid": ids[2]}) is None
        assert _PERSON_BY_ID.scalar(conn, {"pid": ids[0]}) == ids[0]
        assert _PERSON_BY_ID.scalars(conn, {"pid": -5}) == []
        assert _CODE.run(conn, {"b_id": -1, "code": "SK-1"}) == 0
        # A bound datetime is formatted once per object, but never confused with another.
        later = NOW.replace(microsecond=1)
        stamps = [NOW, NOW, later, NOW, later.replace(tzinfo=None).replace(tzinfo=UTC)]
        more = [r[0] for r in _NEW_PERSON.many_rows(
            conn, [{"name": "t", "created_at": t} for t in stamps])]
        assert [_PERSON_BY_ID.mapping(conn, {"pid": i})["created_at"]  # type: ignore[index]
                for i in more] == stamps


async def test_fast_and_sqlalchemy_agree(db: AsyncEngine) -> None:
    async with db.connect() as conn:
        await conn.run_sync(_exercise)


async def test_the_sync_twin_agrees_and_runs_on_the_raw_cursor(db: AsyncEngine) -> None:
    twin = sync_twin(db)
    if twin is None:
        pytest.skip("PostgreSQL has no synchronous twin")
    try:
        with twin.connect() as conn:
            _exercise(conn)
            # The plans were made: the statements did not all fall back to SQLAlchemy.
            assert any(isinstance(p, fast._Plan) for p in _PERSON_BY_ID._plans.values())
            assert any(isinstance(p, fast._Plan) for p in _UNITS_IN._plans.values())
    finally:
        twin.dispose()


async def test_errors_are_sqlalchemys(db: AsyncEngine) -> None:
    """A constraint violation on the raw cursor is raised as SQLAlchemy's IntegrityError,
    which callers (and the core's retry logic) expect."""
    dup = Query(insert(initiative_t))
    row = {"author_name": "A", "title": "T", "description": "D", "unit_id": 1,
           "benefit_known": False, "status": "under_review", "channel": "telegram",
           "submitted_at": NOW, "code": "SK-DUP"}

    def run(conn: Connection) -> None:
        with conn.begin():
            dup.run(conn, row)
            dup.run(conn, row)

    async with db.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.run_sync(run)


async def test_outside_a_transaction_sqlalchemy_runs_it(db: AsyncEngine) -> None:
    """Without a transaction the statement goes through SQLAlchemy (autobegin), so a write
    that is not committed is rolled back as it would be without this module."""

    def write(conn: Connection) -> None:
        assert not conn.in_transaction()
        _NEW_PERSON.many_rows(conn, [{"name": "Tạm", "created_at": NOW}])
        assert conn.in_transaction()   # SQLAlchemy began one

    async with db.connect() as conn:
        await conn.run_sync(write)   # closed without commit: rolled back
    async with db.connect() as conn:
        n = await conn.scalar(select(person_t.c.id).where(person_t.c.name == "Tạm"))
    assert n is None


async def test_bad_parameters_get_sqlalchemys_errors(db: AsyncEngine) -> None:
    """A missing parameter or a value the bind processor refuses raises what SQLAlchemy
    raises (a StatementError), not a bare KeyError or TypeError from the fast path."""

    def missing(conn: Connection) -> None:
        with conn.begin():
            _PERSON_BY_ID.rows(conn, {})

    def wrong_type(conn: Connection) -> None:
        with conn.begin():
            _NEW_PERSON.many_rows(conn, [{"name": "a", "created_at": NOW},
                                         {"name": "b", "created_at": "yesterday"}])

    for fn in (missing, wrong_type):
        async with db.connect() as conn:
            with pytest.raises(StatementError):
                await conn.run_sync(fn)


def test_timestamps_are_formatted_once_per_object() -> None:
    """UTCDateTime (a TypeDecorator over DateTime) parameters get the remembering processor;
    text ones do not."""
    bind = {b.key: b for b in _NEW_PERSON.stmt.compile(
        column_keys=["name", "created_at"]).binds.values()}
    assert fast._is_temporal(bind["created_at"]) and not fast._is_temporal(bind["name"])


async def test_a_sqlalchemy_without_the_internals_read_falls_back(
        db: AsyncEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Should a SQLAlchemy release rename a compiler internal the plan reads, the statement
    runs through SQLAlchemy (with a warning) instead of every message failing."""
    if db.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL every Query goes through SQLAlchemy")

    def renamed(_self: Any) -> Any:
        # Gone for the plan only: SQLAlchemy's own path keeps working, as after a rename.
        if sys._getframe(1).f_globals["__name__"] == fast.__name__:
            raise AttributeError("insert_prefetch")
        return ()

    from sqlalchemy.sql.compiler import SQLCompiler
    monkeypatch.setattr(SQLCompiler, "insert_prefetch", property(renamed))
    query = Query(select(unit_t.c.id, unit_t.c.name).where(unit_t.c.id == bindparam("id")))

    def run(conn: Connection) -> Any:
        with conn.begin():
            return query.rows(conn, {"id": 1})

    async with db.connect() as conn:
        found = await conn.run_sync(run)
    async with db.connect() as conn:
        expected = (await conn.execute(select(unit_t.c.id, unit_t.c.name)
                                       .where(unit_t.c.id == 1))).all()
    assert expected and _plain(found) == _plain(expected)
    assert list(query._plans.values()) == [fast._UNSUPPORTED]
    assert "fast path off" in caplog.text
