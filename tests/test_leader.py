"""Singleton jobs: one lease row per job, exactly one holder at a time, a takeover once the
holder stops renewing, on SQLite and on PostgreSQL. (Takeover after a SIGKILL of a real
worker process: tests/test_processes.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.leader import RENEW, TTL, Leader, singleton_job
from storage import leases
from tests.test_telegram_polling import eventually

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
MINUTE = timedelta(seconds=60)


async def _sql(engine: AsyncEngine, fn, **kw):  # noqa: ANN001, ANN003, ANN202
    async with engine.begin() as conn:
        return await conn.run_sync(lambda c: fn(c, **kw))


async def test_a_lease_has_one_holder_until_it_expires(db: AsyncEngine) -> None:
    take = dict(name="digests", ttl=MINUTE)
    assert await _sql(db, leases.acquire, holder="a", now=T0, **take)
    assert not await _sql(db, leases.acquire, holder="b", now=T0 + timedelta(seconds=59), **take)
    # The holder renews: the lease runs on from the renewal, taken when it was first taken.
    assert await _sql(db, leases.acquire, holder="a", now=T0 + timedelta(seconds=50), **take)
    assert not await _sql(db, leases.acquire, holder="b", now=T0 + timedelta(seconds=109),
                          **take)
    row = (await _sql(db, leases.holders))["digests"]
    assert row["holder"] == "a" and row["acquired_at"] == T0
    assert row["expires_at"] == T0 + timedelta(seconds=110)
    # Expired: the next to ask takes it over, and its lease starts now.
    assert await _sql(db, leases.acquire, holder="b", now=T0 + timedelta(seconds=110), **take)
    row = (await _sql(db, leases.holders))["digests"]
    assert row["holder"] == "b" and row["acquired_at"] == T0 + timedelta(seconds=110)
    assert not await _sql(db, leases.acquire, holder="a", now=T0 + timedelta(seconds=111),
                          **take)
    # Another job is another lease; giving one up frees it at once.
    assert await _sql(db, leases.acquire, holder="a", name="upkeep", now=T0, ttl=MINUTE)
    assert not await _sql(db, leases.release, name="digests", holder="a")
    assert await _sql(db, leases.release, name="digests", holder="b")
    assert await _sql(db, leases.acquire, holder="a", now=T0 + timedelta(seconds=112), **take)


async def test_of_many_asking_at_once_exactly_one_gets_it(db: AsyncEngine) -> None:
    async def ask(holder: str) -> bool:
        return await _sql(db, leases.acquire, name="campaigns", holder=holder, now=T0,
                          ttl=MINUTE)

    results = await asyncio.gather(*(ask(f"p{i}") for i in range(8)))
    assert sorted(results) == [False] * 7 + [True]


def test_the_default_lease_is_taken_over_within_30_seconds() -> None:
    # The holder's last renewal ends TTL later; a standby asks every RENEW seconds.
    assert 0 < RENEW < TTL and TTL + RENEW <= 30


class Counter:
    def __init__(self) -> None:
        self.runs: list[str] = []

    def job(self, who: str):  # noqa: ANN201
        async def run() -> None:
            self.runs.append(who)
        return run


async def test_leaders_run_a_job_in_one_process_and_hand_it_over(db: AsyncEngine) -> None:
    counter = Counter()

    def leader(who: str) -> Leader:
        return Leader(db, [singleton_job("digests", every=0.05, run=counter.job(who))],
                      holder=who, ttl=1.0, renew=0.2)

    a, b = leader("a"), leader("b")
    await a.start()
    await eventually(lambda: "a" in counter.runs, "'a' in counter.runs")
    await b.start()
    await asyncio.sleep(1.2)   # longer than a lease: a renews, b keeps asking
    assert set(counter.runs) == {"a"} and a.holding == {"digests"} and not b.holding
    # A graceful stop gives the lease up: b takes over at its next attempt.
    await a.stop()
    await eventually(lambda: counter.runs[-1] == "b", "counter.runs[-1] == 'b'", 2.0)
    assert b.holding == {"digests"}
    await b.stop()
    assert await _sql(db, leases.holders) == {}


async def test_a_holder_that_stops_renewing_is_taken_over_after_its_lease(
        db: AsyncEngine) -> None:
    counter = Counter()
    a = Leader(db, [singleton_job("upkeep", every=0.05, run=counter.job("a"))],
               holder="a", ttl=1.0, renew=0.2)
    b = Leader(db, [singleton_job("upkeep", every=0.05, run=counter.job("b"))],
               holder="b", ttl=1.0, renew=0.2)
    await a.start()
    await eventually(lambda: "a" in counter.runs, "'a' in counter.runs")
    await b.start()
    # a freezes (as if killed): its tasks end without giving the lease up.
    for task in [*a._keepers, *a._runs.values()]:
        task.cancel()
    await asyncio.gather(*a._keepers, *a._runs.values(), return_exceptions=True)
    frozen_at = asyncio.get_running_loop().time()
    await eventually(lambda: "b" in counter.runs, "'b' in counter.runs", 5.0)
    waited = asyncio.get_running_loop().time() - frozen_at
    assert 0.5 < waited < 1.0 + 0.2 + 1.0   # after the lease ran out, within ttl + renew
    await b.stop()


async def test_a_holder_cut_off_from_the_database_stops_the_job(db: AsyncEngine) -> None:
    """Renewals failing (the database unreachable): the job stops once the lease it last
    held has run out, before anyone else could take it."""
    counter = Counter()
    a = Leader(db, [singleton_job("digests", every=0.05, run=counter.job("a"))],
               holder="a", ttl=1.0, renew=0.2)
    await a.start()
    await eventually(lambda: a.holding == {"digests"}, "a.holding == {'digests'}")

    async def unreachable(name: str) -> bool:
        raise ConnectionError("database down")

    a._acquire = unreachable  # type: ignore[method-assign]
    cut = asyncio.get_running_loop().time()
    await eventually(lambda: not a.holding, "not a.holding", 3.0)
    assert asyncio.get_running_loop().time() - cut <= 1.0 + 0.05
    await eventually(lambda: "digests" not in a._runs, "'digests' not in a._runs", 1.0)
    runs = len(counter.runs)
    await asyncio.sleep(0.3)
    assert len(counter.runs) == runs
    await a.stop()


async def test_a_failing_job_is_logged_and_runs_again(
        db: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    a = Leader(db, [singleton_job("digests", every=0.05, run=flaky)], ttl=1.0, renew=0.2)
    await a.start()
    await eventually(lambda: calls >= 3, "calls >= 3")
    await a.stop()
    assert any("job digests failed" in r.getMessage() for r in caplog.records)


def test_jobs_are_checked_when_declared() -> None:
    with pytest.raises(ValueError):
        singleton_job("", every=1, run=Counter().job("x"))
    with pytest.raises(ValueError):
        singleton_job("x", every=0, run=Counter().job("x"))
    with pytest.raises(ValueError):
        Leader(None, ttl=5, renew=5)  # type: ignore[arg-type]
    leader = Leader(None)  # type: ignore[arg-type]
    leader.job("x", every=1, run=Counter().job("x"))
    with pytest.raises(ValueError):
        leader.job("x", every=1, run=Counter().job("x"))
