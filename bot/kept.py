"""A connection kept open for one kind of short write, in autocommit (PostgreSQL).

Webhook acknowledgements (`bot.core.Core.record_queued`) use one: each INSERT commits by
itself, one round trip in the event loop (asyncpg), where a pooled connection costs four
(its ping, BEGIN, INSERT, COMMIT) — and, run in a thread beside the core's, a wait for the
interpreter lock the steps hold at each of them (measured at 300 updates/s with two web
processes: p99 40 ms this way, 64 ms that way).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")


class KeptConnection:
    def __init__(self, engine: AsyncEngine, *, application_name: str,
                 retries: int = 3) -> None:
        self.engine = engine
        self.application_name = application_name   # told apart in pg_stat_activity
        self.retries = retries
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()   # one statement at a time on the connection

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """`fn(conn)` on the kept connection (opened when there is none). A broken one is
        replaced and `fn` run again: it must be safe to repeat (an INSERT … ON CONFLICT DO
        NOTHING is: what the first try wrote is recognised)."""
        async with self._lock:
            for attempt in range(self.retries + 1):
                try:
                    if self._conn is None:
                        conn = await self.engine.connect()
                        self._conn = await conn.execution_options(
                            isolation_level="AUTOCOMMIT")
                        await conn.exec_driver_sql(
                            f"SET application_name = '{self.application_name}'")
                        await conn.commit()   # SQLAlchemy's autobegun (no-op) transaction
                    return await self._conn.run_sync(fn)
                except (OperationalError, DBAPIError, OSError):
                    await self._drop()
                    if attempt == self.retries:
                        raise
                    await asyncio.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


async def close_all(*conns: KeptConnection | None) -> None:
    for conn in conns:
        if conn is not None:
            await conn.close()
