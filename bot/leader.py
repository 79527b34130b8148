"""Singleton jobs: work that exactly one process runs at a time, however many run a `Leader`.

Any number of worker processes may run on one database; each daily digest, each upkeep
round, each campaign tick must still happen once. A `Leader` keeps, for each of its jobs, a
lease row (`storage.leases`): it tries to take or renew it every `renew` seconds, for `ttl`
seconds at a time, and runs the job — `run()`, then `every` seconds' pause, again — only
while it holds the lease. A holder that dies (SIGKILL, power cut) stops renewing: its lease
expires and another process takes the job over within `ttl + renew` seconds (20 s by
default). A graceful stop gives the lease up at once.

Exactly one, honestly: a holder counts its lease from the moment it *asked* for it, on its
own monotonic clock, and cancels the job once that time has passed without a successful
renewal (the database unreachable, the process paused). Another process can only take over
after the lease expired on the database's clock, which started later. What a lease cannot
fence is a run already past its last check that the database then commits a moment late:
jobs should be idempotent (digests are, per person and day; pruning is).

Usage, e.g. the campaigns' scheduler::

    leader = Leader(engine, [singleton_job("campaigns", every=30, run=tick)])
    await leader.start()
    ...
    await leader.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import leases

log = logging.getLogger(__name__)

TTL = 15.0      # seconds a lease lasts unless renewed
RENEW = 5.0     # seconds between renewals (and between a standby's attempts)


@dataclass(frozen=True, slots=True)
class SingletonJob:
    """`run()` every `every` seconds, in one process at a time. An exception is logged and
    the job goes on at its next round."""

    name: str
    every: float
    run: Callable[[], Awaitable[object]]


def singleton_job(name: str, *, every: float, run: Callable[[], Awaitable[object]]
                  ) -> SingletonJob:
    if not 0 < len(name) <= 64:
        raise ValueError("a job name is 1–64 characters")
    if every <= 0:
        raise ValueError("`every` must be positive")
    return SingletonJob(name, every, run)


def holder_id() -> str:
    """This process, as its lease rows name it: host, pid, and a nonce (pids are reused)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class Leader:
    """Holds the leases of its jobs and runs each job while its lease is held."""

    def __init__(self, engine: AsyncEngine, jobs: Iterable[SingletonJob] = (), *,
                 holder: str | None = None, ttl: float = TTL, renew: float = RENEW,
                 clock: Callable[[], datetime] | None = None) -> None:
        """`clock`: the time leases are written in; None for the database's own
        (`storage.leases.database_now`), which all processes share."""
        if not 0 < renew < ttl:
            raise ValueError("renew more often than the lease lasts: 0 < renew < ttl")
        self.engine = engine
        self.jobs: dict[str, SingletonJob] = {}
        self._keepers: list[asyncio.Task[None]] = []
        for job in jobs:
            self.add(job)
        self.holder = holder or holder_id()
        self.ttl = ttl
        self.renew = renew
        self.clock = clock
        self._valid_until: dict[str, float] = {}   # job → loop time its lease ends, as held
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    def add(self, job: SingletonJob) -> None:
        if self._keepers:
            raise RuntimeError("add jobs before start()")
        if job.name in self.jobs:
            raise ValueError(f"job {job.name!r} added twice")
        self.jobs[job.name] = job

    def job(self, name: str, *, every: float, run: Callable[[], Awaitable[object]]) -> None:
        """Add `singleton_job(name, every=…, run=…)`."""
        self.add(singleton_job(name, every=every, run=run))

    @property
    def holding(self) -> frozenset[str]:
        """The jobs this process holds now (and so runs)."""
        now = asyncio.get_running_loop().time()
        return frozenset(n for n, until in self._valid_until.items() if until > now)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._stopping.clear()
        self._keepers = [asyncio.create_task(self._keep(job), name=f"lease-{job.name}")
                         for job in self.jobs.values()]

    async def stop(self, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Let runs in progress finish (up to `timeout`, then cancel them), then give the
        leases up so that another process takes the jobs over at once."""
        self._stopping.set()
        keepers, self._keepers = self._keepers, []
        await asyncio.gather(*keepers, return_exceptions=True)
        runs = list(self._runs.values())
        if runs:
            _done, late = await asyncio.wait(runs, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
        self._runs.clear()
        held = [name for name in self._valid_until]
        self._valid_until.clear()
        if held:
            try:
                async with self.engine.begin() as conn:
                    for name in held:
                        await conn.run_sync(lambda c, n=name: leases.release(
                            c, name=n, holder=self.holder))
            except Exception:
                log.warning("could not give up the leases of %s: they expire within %.0f s",
                            ", ".join(held), self.ttl, exc_info=True)

    # ------------------------------------------------------------------ one job

    async def _keep(self, job: SingletonJob) -> None:
        """Take or renew the job's lease every `renew` seconds; start the job while it is
        held, cancel it once it is not."""
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping.is_set():
            asked = loop.time()
            try:
                held: bool | None = await self._acquire(job.name)
                failures = 0
            except Exception as exc:
                held = None   # unknown: keep running until the lease would have ended
                failures += 1
                if failures == 1:
                    log.warning("job %s: its lease could not be renewed (%s); retrying",
                                job.name, type(exc).__name__)
            if held:
                if job.name not in self._valid_until:
                    log.info("job %s: this process runs it now (%s)", job.name, self.holder)
                self._valid_until[job.name] = asked + self.ttl
                run = self._runs.get(job.name)
                if run is None or run.done():
                    self._runs[job.name] = asyncio.create_task(self._run(job),
                                                               name=f"job-{job.name}")
            elif job.name in self._valid_until and (
                    held is False or loop.time() >= self._valid_until[job.name]):
                await self._lose(job.name)
            await self._pause(self.renew)

    async def _lose(self, name: str) -> None:
        log.warning("job %s: lease lost; stopping it here", name)
        del self._valid_until[name]
        run = self._runs.pop(name, None)
        if run is not None:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)

    async def _acquire(self, name: str) -> bool:
        # Bounded: a renewal stuck behind a lock must not keep the job running unchecked.
        async with asyncio.timeout(self.renew), self.engine.begin() as conn:
            return await conn.run_sync(self._acquire_sync, name)

    def _acquire_sync(self, conn: Connection, name: str) -> bool:
        now = self.clock() if self.clock is not None else leases.database_now(conn)
        return leases.acquire(conn, name=name, holder=self.holder, now=now,
                              ttl=timedelta(seconds=self.ttl))

    async def _run(self, job: SingletonJob) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            if loop.time() >= self._valid_until.get(job.name, 0.0):
                # Not renewed in time: no new round; the keeper renews it or cancels this.
                await self._pause(min(self.renew, job.every))
                continue
            try:
                await job.run()
            except Exception:
                log.exception("job %s failed; next round in %.0f s", job.name, job.every)
            await self._pause(job.every)

    async def _pause(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass
