"""The channel-neutral core: one durable transaction per inbound event, then the reply.

For each event: record its id (a redelivery is recognised and does nothing), load the
conversation (`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), run the step,
write back what changed, commit — and only then hand the replies to the adapter.

Events that arrive while a transaction is running are queued and handled together in the next
one (group commit): each still gets its own step and its own reply, none is answered before
its state is committed, and a commit is shared instead of paid per message. If anything in a
batch fails, the batch is rolled back and its events are replayed one transaction each, so
one bad event cannot take others down with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot.conversation import Conversation, Ctx
from bot.events import Inbound, Outcome, Reply
from bot.flows import DISPATCHER
from bot.i18n import gettext_for, normalise_locale
from bot.inputs import clean_inbound
from bot.services.alerts import enqueued
from storage import queries
from storage.engine import sync_twin, utcnow

log = logging.getLogger(__name__)

MAX_BATCH = 64
TRANSIENT_RETRIES = 3


class Core:
    """Turns inbound events into committed state changes and replies."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        default_locale: str = "vi",
        clock: Callable[[], datetime] = utcnow,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        # SQLite file: each batch runs as a whole on a synchronous twin engine in one worker
        # thread (one hand-off per batch instead of two per statement through aiosqlite).
        self._sync = sync_twin(engine)
        self._thread = (ThreadPoolExecutor(1, thread_name_prefix="sangkien-core")
                        if self._sync is not None else None)
        self.default_locale = normalise_locale(default_locale)
        self.clock = clock
        # Called after a commit that wrote outbox messages (wakes the sender at once).
        self.on_enqueued = on_enqueued
        self._queue: list[tuple[Inbound, asyncio.Future[Outcome]]] = []
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------------ public

    async def handle(self, event: Inbound) -> Outcome:
        """Process one event; returns once its effects are committed."""
        if self._closed:
            raise RuntimeError("core is closed")
        event = clean_inbound(event)
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((event, fut))
        self._wakeup.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="sangkien-core")
        return await fut

    async def aclose(self) -> None:
        """Finish what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._worker is not None:
            await self._worker
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()

    # ------------------------------------------------------------------ batching

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._process(batch)

    async def _process(self, batch: list[tuple[Inbound, asyncio.Future[Outcome]]]) -> None:
        events = [ev for ev, _fut in batch]
        try:
            outcomes = await self._transact(events)
        except Exception:
            if len(batch) > 1:
                # Replay one by one so the event at fault is found and the rest go through.
                for item in batch:
                    await self._process([item])
                return
            outcomes = [await self._failed(events[0])]
        if self.on_enqueued is not None and any(o.enqueued for o in outcomes):
            self.on_enqueued()
        for (_ev, fut), outcome in zip(batch, outcomes, strict=True):
            if not fut.done():
                fut.set_result(outcome)

    async def _transact(self, events: list[Inbound]) -> list[Outcome]:
        # Lock time-outs, deadlocks and serialization failures are worth a retry.
        async for attempt in AsyncRetrying(
                retry=retry_if_exception(_is_transient), reraise=True,
                stop=stop_after_attempt(TRANSIENT_RETRIES + 1),
                wait=wait_exponential(multiplier=0.05, max=1.0)):
            with attempt:
                if self._thread is not None:
                    return await self._in_thread(events)
                async with self.engine.connect() as conn:
                    return await conn.run_sync(self._run_batch, events)
        raise AssertionError("unreachable")

    async def _failed(self, event: Inbound) -> Outcome:
        """Log with the event id, remember the id, and apologise in the user's language."""
        log.exception("event %s/%s failed", event.channel, event.event_id)
        locale = self.default_locale
        try:
            async with self.engine.connect() as conn:
                locale = await conn.run_sync(self._record_failure, event) or locale
        except Exception:
            log.exception("could not record failed event %s/%s", event.channel, event.event_id)
        _ = gettext_for(locale)
        return Outcome([Reply(_(
            "Sorry, something went wrong on our side. What you had saved is safe; "
            "please try again in a moment."))], locale=locale)

    def _record_failure(self, conn: Connection, event: Inbound) -> str | None:
        with conn.begin():
            queries.mark_event_failed(conn, channel=event.channel, event_id=event.event_id,
                                      now=self.clock())
            rows = queries.load_accounts(conn, channel=event.channel,
                                         external_ids=[event.user_id], lock=False)
        row = rows.get(event.user_id)
        return row["locale"] if row else None

    # ------------------------------------------------------------------ one transaction

    async def _in_thread(self, events: Sequence[Inbound]) -> list[Outcome]:
        fut = asyncio.get_running_loop().run_in_executor(
            self._thread, self._run_batch_sync, events)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # A thread cannot be interrupted: let the transaction finish (it may commit)
            # before giving up, so nothing is left half done behind a cancelled task.
            await asyncio.wait([fut])
            raise

    def _run_batch_sync(self, events: Sequence[Inbound]) -> list[Outcome]:
        assert self._sync is not None
        with self._sync.connect() as conn:
            return self._run_batch(conn, events)

    def _run_batch(self, conn: Connection, events: Sequence[Inbound]) -> list[Outcome]:
        with conn.begin():
            now = self.clock()
            fresh: set[tuple[str, str]] = set()
            convs: dict[tuple[str, str], Conversation] = {}
            for channel in {ev.channel for ev in events}:
                ids = list(dict.fromkeys(ev.event_id for ev in events if ev.channel == channel))
                fresh |= {(channel, e) for e in
                          queries.record_events(conn, channel=channel, event_ids=ids, now=now)}
                # Only events seen for the first time load (and lock) a conversation.
                mine = [ev for ev in events
                        if ev.channel == channel and (channel, ev.event_id) in fresh]
                if mine:
                    convs.update(self._load(conn, channel, mine, now))
            outcomes: list[Outcome] = []
            people: dict[int, dict[str, Any]] = {}   # person rows read in this batch
            for ev in events:
                key = (ev.channel, ev.event_id)
                if key not in fresh:
                    outcomes.append(Outcome(duplicate=True))
                    continue
                fresh.discard(key)  # the same id twice in one batch: the second is a duplicate
                outcomes.append(self._step(conn, convs[(ev.channel, ev.user_id)], ev, now,
                                           people))
            accounts, drafts = [], []
            for conv in convs.values():
                drafts += conv.draft_changes(now)
                change = conv.account_changes(now)
                if change:
                    accounts.append(change)
            queries.save_drafts(conn, drafts)
            queries.save_accounts(conn, accounts)
        if enqueued(conn) and outcomes:
            outcomes[0].enqueued = True   # wake the sender once the batch is committed
        return outcomes

    def _load(
        self, conn: Connection, channel: str, events: list[Inbound], now: datetime
    ) -> dict[tuple[str, str], Conversation]:
        users = list(dict.fromkeys(ev.user_id for ev in events))
        rows = queries.load_accounts(conn, channel=channel, external_ids=users, lock=True)
        missing = [u for u in users if u not in rows]
        if missing:
            first = {ev.user_id: ev for ev in reversed(events)}
            queries.create_accounts(conn, channel=channel, now=now, new=[
                (u, first[u].chat_id, first[u].display_name) for u in missing])
            rows.update(queries.load_accounts(conn, channel=channel, external_ids=missing,
                                              lock=True))
        queries.mark_reachable(conn, account_ids=[r["id"] for r in rows.values()
                                                 if not r["reachable"]])
        return {(channel, u): Conversation(rows[u]) for u in users}

    def _step(self, conn: Connection, conv: Conversation, ev: Inbound, now: datetime,
              people: dict[int, dict[str, Any]]) -> Outcome:
        locale = conv.locale or self.default_locale
        ctx = Ctx(conn=conn, now=now, channel=ev.channel, conv=conv, locale=locale,
                  _=gettext_for(locale), default_locale=self.default_locale, people=people)
        DISPATCHER.handle(ctx, ev)
        return Outcome(ctx.replies, locale=ctx.locale, toast=ctx.toast)

    # ------------------------------------------------------------------ upkeep

    async def prune_events(self, *, keep: timedelta = timedelta(days=7)) -> int:
        """Forget inbound event ids older than `keep` (no channel redelivers that late)."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(
                lambda c: queries.prune_events(c, before=self.clock() - keep))


def _is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError | DBAPIError):
        return False
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in ("locked", "busy", "deadlock", "serializ", "could not obtain"))
