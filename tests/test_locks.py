"""bot.locks.KeyedLocks: one holder per key, in arrival order; nothing left behind."""

from __future__ import annotations

import asyncio

import pytest

from bot.locks import KeyedLocks


async def test_one_holder_per_key_in_order_and_keys_apart() -> None:
    locks = KeyedLocks()
    log: list[str] = []

    async def work(key: str, name: str, delay: float) -> None:
        async with locks.hold(key):
            log.append(f"{name}+")
            await asyncio.sleep(delay)
            log.append(f"{name}-")

    await asyncio.gather(work("a", "a1", 0.03), work("a", "a2", 0), work("b", "b1", 0.01))
    assert log.index("a1-") < log.index("a2+")          # same key: one after the other
    assert log.index("b1+") < log.index("a1-")          # other key: meanwhile
    assert len(locks) == 0                               # dropped once nobody needs them


async def test_a_failure_or_a_cancelled_wait_leaves_nothing_held() -> None:
    locks = KeyedLocks()
    with pytest.raises(ValueError):
        async with locks.hold("k"):
            raise ValueError("boom")
    assert len(locks) == 0

    entered = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("k"):
            entered.set()
            await asyncio.sleep(0.05)

    first = asyncio.create_task(holder())
    await entered.wait()
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await first
    assert len(locks) == 0
    async with locks.hold("k"):   # and the key is free again
        pass
