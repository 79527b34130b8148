"""Shared fixtures: every storage-touching test runs on an SQLite file and on PostgreSQL.

PostgreSQL runs get a schema of their own, dropped afterwards, so runs never see each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.demo import seed_if_empty
from storage.engine import make_engine
from storage.migrate import upgrade

PG_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _new_backend(kind: str, tmp_path: object) -> tuple[AsyncEngine, str, str | None]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return make_engine(url), url, None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    return make_engine(PG_URL, schema=schema), PG_URL, schema


async def _drop_schema(schema: str) -> None:
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def empty_db(backend: str, tmp_path: object) -> AsyncIterator[AsyncEngine]:
    """A database with no tables at all (for the migration tests)."""
    engine, _url, schema = await _new_backend(backend, tmp_path)
    try:
        yield engine
    finally:
        await engine.dispose()
        if schema:
            await _drop_schema(schema)


# Every test database is made by the real migrations (`upgrade`), as in production, not by
# `SQLModel.metadata.create_all` plus a stamp at the head. Measured per database (medians):
# SQLite 47 against 34 ms and PostgreSQL 114 against 98 ms on a quiet machine; about 1.6
# times create_all's time on a busy one (load 4 on the 2 cores). Over the ~250 databases of
# a full run: 3 s quiet, up to ~25 s busy, of a 2–4 minute run. Worth it: the tests run on
# what a deployment runs on, including whatever a future revision adds that create_all
# cannot (data, triggers, extensions). Should the cost grow, create_all + stamp is a safe
# swap: test_migrations.py proves both give the same schema.
@pytest.fixture
async def db(backend: str, tmp_path: object) -> AsyncIterator[AsyncEngine]:
    """An empty schema with the demo directory loaded."""
    engine, _url, schema = await _new_backend(backend, tmp_path)
    try:
        await upgrade(engine=engine)
        await seed_if_empty(engine)
        yield engine
    finally:
        await engine.dispose()
        if schema:
            await _drop_schema(schema)


@pytest.fixture
async def db_factory(backend: str, tmp_path: object) -> AsyncIterator[object]:
    """For tests that need to build a second engine on the same database (a restart)."""
    engine, url, schema = await _new_backend(backend, tmp_path)
    await upgrade(engine=engine)
    await seed_if_empty(engine)
    await engine.dispose()

    def factory() -> AsyncEngine:
        return make_engine(url, schema=schema)

    try:
        yield factory
    finally:
        if schema:
            await _drop_schema(schema)


@pytest.fixture
async def mem_core() -> AsyncIterator[object]:
    """The core on an in-memory SQLite database: flow tests with no file or network I/O.

    Users default to English here so assertions read plainly; Vietnamese, the product's
    default, has tests of its own.
    """
    from bot.core import Core

    engine = make_engine("sqlite+aiosqlite:///:memory:")
    await upgrade(engine=engine)
    await seed_if_empty(engine)
    core = Core(engine, default_locale="en")
    try:
        yield core
    finally:
        await core.aclose()
        await engine.dispose()


@pytest.fixture
async def core(db: AsyncEngine) -> AsyncIterator[object]:
    """The core on each real backend (SQLite file, PostgreSQL)."""
    from bot.core import Core

    c = Core(db)
    try:
        yield c
    finally:
        await c.aclose()
