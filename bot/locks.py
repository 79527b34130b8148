"""Per-key asyncio locks that are dropped when nobody holds or awaits them."""

from __future__ import annotations

import asyncio
from types import TracebackType


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def hold(self, key: str) -> _Hold:
        """`async with locks.hold(key):` — one holder per key at a time, in arrival order."""
        return _Hold(self, key)

    def __len__(self) -> int:
        return len(self._locks)


class _Hold:
    """The context manager of `KeyedLocks.hold` (a class: it runs for every chat message, and
    a generator-based one costs several times as much)."""

    __slots__ = ("_owner", "_key")

    def __init__(self, owner: KeyedLocks, key: str) -> None:
        self._owner, self._key = owner, key

    async def __aenter__(self) -> None:
        locks = self._owner._locks
        lock, users = locks.get(self._key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        locks[self._key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:   # cancelled while waiting: no longer a user
            self._leave()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._owner._locks[self._key][0].release()   # a holder keeps its key's entry
        self._leave()

    def _leave(self) -> None:
        locks = self._owner._locks
        lock, users = locks[self._key]
        if users <= 1:
            del locks[self._key]
        else:
            locks[self._key] = (lock, users - 1)
