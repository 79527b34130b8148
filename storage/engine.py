"""The async engine: an SQLite file in WAL mode by default, PostgreSQL through asyncpg.

The schema is made and upgraded by `storage.migrate`.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def utcnow() -> datetime:
    """Aware UTC: what every timestamp column takes and gives back, on both backends."""
    return datetime.now(UTC)


def normalise_url(url: str) -> str:
    """Pick the async driver for a plain `sqlite://` or `postgresql://` URL."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str, *, schema: str | None = None, echo: bool = False) -> AsyncEngine:
    """Create the engine; `schema` puts every table of a PostgreSQL run in its own schema."""
    url = normalise_url(url)
    # A failing statement's error shows no bound values: they hold what users typed (names,
    # phone numbers) and must not reach a log line.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
        if ":memory:" in url or url.rstrip("/").endswith("aiosqlite:"):
            # One in-memory database shared by every use of the engine (tests, demos).
            kwargs["poolclass"] = StaticPool
        engine = create_async_engine(url, **kwargs)
        _sqlite_setup(engine.sync_engine)
        return engine
    if schema:
        kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    _SCHEMAS[engine.sync_engine] = schema
    return engine


# The schema each PostgreSQL engine was made for, for its synchronous twin.
_SCHEMAS: weakref.WeakKeyDictionary[Engine, str | None] = weakref.WeakKeyDictionary()


def is_in_memory(engine: AsyncEngine) -> bool:
    """An SQLite database in memory: one connection, shared by everything, gone at exit."""
    return isinstance(engine.pool, StaticPool)


def sync_twin(engine: AsyncEngine) -> Engine | None:
    """A synchronous engine on the same database (None for in-memory ones), set up the
    same way, for the core's transactions, which run as a whole in a worker thread.

    SQLite: aiosqlite runs every statement in its own thread and hands each result back to
    the event loop: two thread switches and a loop wake-up per statement; a transaction of a
    dozen statements run in one worker thread pays that once. PostgreSQL (psycopg): the
    steps' Python runs off the event loop, which stays free for what must answer at once
    (webhooks acknowledge in milliseconds while transactions run).
    """
    url = engine.url
    if url.get_backend_name() == "postgresql":
        schema = _SCHEMAS.get(engine.sync_engine)
        args = {"options": f"-c search_path={schema}"} if schema else {}
        return create_engine(url.set(drivername="postgresql+psycopg"), hide_parameters=True,
                             pool_size=4, max_overflow=4, pool_pre_ping=True,
                             connect_args=args)
    if url.get_backend_name() != "sqlite" or is_in_memory(engine):
        return None
    if not url.database or url.database == ":memory:" or "mode=memory" in str(url):
        return None
    twin = create_engine(url.set(drivername="sqlite+pysqlite"), hide_parameters=True,
                         connect_args={"timeout": 30, "check_same_thread": False})
    _sqlite_setup(twin)
    return twin


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see "begin").
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only an OS crash or
        # power cut can drop the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: two processes that both read and then try to write
        # would otherwise deadlock on the upgrade and one would fail with "database is locked".
        conn.exec_driver_sql("BEGIN IMMEDIATE")
