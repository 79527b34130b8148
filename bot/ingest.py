"""Webhooks: an update is acknowledged as soon as it is recorded, and handled right after.

`accept` records the update (a redelivery is recognised) and returns once that is committed:
the webhook answers then, in milliseconds, whatever the step costs. Recordings that arrive
together share a commit. Then any process running `Ingest` takes the chats with waiting
events — one process per chat at a time (`Core.run_queued`), in the channel's order — handles
them and gives each outcome to the channel's `deliver`, which sends it and says so
(`Core.sent`). Events left waiting by a process that died are taken by the next sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping

from bot.core import Core
from bot.events import Inbound, Outcome

log = logging.getLogger(__name__)

Deliver = Callable[[Inbound, Outcome], Awaitable[None]]
SWEEP_SECONDS = 5.0   # how often waiting events are looked for without being told of them
CHATS_AT_ONCE = 64   # chats handled in one transaction
# Chats whose replies are being sent at once: each send is a few callbacks on the event loop,
# and an acknowledgement waits behind every callback ready before its own.
SENDS_AT_ONCE = 8


class Ingest:
    def __init__(self, core: Core, deliver: Mapping[str, Deliver], *,
                 sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.core = core
        self.deliver = dict(deliver)
        self.sweep_seconds = sweep_seconds
        self._pending: list[tuple[Inbound, int, asyncio.Future[bool]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ recording

    async def accept(self, event: Inbound, *, seq: int) -> bool:
        """Record `event` (`seq`: its order in its chat, e.g. Telegram's update id); True when
        it is new, False for a redelivery. Returns once it is committed."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((event, seq, fut))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record(), name="ingest-record")
        return await fut

    async def _record(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                fresh = await self.core.record_queued([(ev, seq) for ev, seq, _f in batch])
            except Exception as exc:
                log.exception("could not record %d inbound events", len(batch))
                for _ev, _seq, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for ev, _seq, fut in batch:
                if not fut.done():
                    fut.set_result((ev.channel, ev.event_id) in fresh)
            self._wake.set()

    # ------------------------------------------------------------------ handling

    async def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.create_task(self._run(), name="ingest")

    async def stop(self) -> None:
        """Finish the chats being handled, then stop (what waits is taken after a restart)."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            await self._loop
        if self._recorder is not None:
            await asyncio.wait([self._recorder])

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.drain()
            except Exception:
                log.exception("handling waiting events failed; retrying")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sweep_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def drain(self) -> int:
        """Handle every chat with waiting events this process can deliver to, many chats
        to a transaction; returns how many events were handled."""
        handled = 0
        while not self._stopping:
            chats = [c for c in await self.core.queued_chats(limit=CHATS_AT_ONCE)
                     if c[0] in self.deliver]
            if not chats:
                return handled
            pairs = await self.core.run_queued(chats)
            if not pairs:     # every chat is held by another process: let it work
                return handled
            by_chat: dict[tuple[str, str], list[tuple[Inbound, Outcome]]] = {}
            for event, outcome in pairs:
                by_chat.setdefault((event.channel, event.chat_id), []).append((event, outcome))
            chats_pairs = iter(list(by_chat.values()))
            await asyncio.gather(*(self._send_each(chats_pairs)
                                   for _ in range(min(SENDS_AT_ONCE, len(by_chat)))))
            handled += len(pairs)
        return handled

    async def _send_each(self, chats: Iterator[list[tuple[Inbound, Outcome]]]) -> None:
        for pairs in chats:   # shared with the other senders: each chat is taken by one
            await self._send(pairs)

    async def _send(self, pairs: list[tuple[Inbound, Outcome]]) -> None:
        for event, outcome in pairs:   # in the chat's order
            try:
                await self.deliver[event.channel](event, outcome)
            except Exception:
                log.exception("replies to %s/%s not sent (they are kept)", event.channel,
                              event.event_id)
