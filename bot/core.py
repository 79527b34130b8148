"""The channel-neutral core: one durable transaction per inbound event, then the reply.

For each event: record its id (a redelivery is recognised), load the conversation
(`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), run the step, write back
what changed and keep the replies with the event, commit — and only then hand the replies to
the adapter, which says when they are sent (`sent`). A redelivered event whose replies never
went out (the process died between the commit and the reply) gets them then; one whose
replies went out gets nothing. Replies left unsent for long, on channels that do not
redeliver, go through the outbox (`recover_unsent`).

Events that arrive while a transaction is running are queued and handled together in the next
one (group commit): each still gets its own step and its own reply, none is answered before
its state is committed, and a commit is shared instead of paid per message. If anything in a
batch fails, the batch is rolled back and its events are replayed one transaction each, so
one bad event cannot take others down with it.

A webhook may instead `enqueue` an event: it is recorded (and so may be acknowledged) at
once, and handled soon after by whichever process takes its chat — one process at a time
per chat, in the channel's order (`seq`), so consecutive updates of one chat that reach two
processes are still handled in order (see `bot.ingest`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot import outbox_marks
from bot.conversation import Conversation, Ctx
from bot.events import (
    Inbound,
    Outcome,
    Reply,
    inbound_from_json,
    inbound_json,
    replies_from_json,
    replies_json,
)
from bot.flows import DISPATCHER
from bot.i18n import gettext_for, normalise_locale
from bot.inputs import clean_inbound
from bot.kept import KeptConnection, close_all
from bot.services.alerts import enqueued
from storage import inbound, queries
from storage.engine import is_in_memory, sync_twin, utcnow
from storage.unit_cache import UnitCache, Units

log = logging.getLogger(__name__)

MAX_BATCH = 64
SENT_DELAY = 0.5   # seconds a sent mark may wait for a batch to ride with
# PostgreSQL: then written by themselves on a connection kept for them (one round trip), this
# soon: should the process die first, the replies are sent again through the outbox.
SENT_DELAY_KEPT = 0.02
# A redelivery this soon may have crossed the first delivery while its replies are being
# sent (two webhook deliveries at once): only later is it taken for a crash's.
RESEND_AFTER = timedelta(seconds=10)
TRANSIENT_RETRIES = 3
# The application_name of the connection recording webhook updates (PostgreSQL).
ACK_APPLICATION = f"sangkien-ack-{os.getpid()}"


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
        # SQLite: recording webhook updates has a thread of its own, never waiting behind the
        # steps in the core's. (PostgreSQL: a connection of its own, below.)
        self._ack_thread = (ThreadPoolExecutor(1, thread_name_prefix="sangkien-ack")
                            if self._sync is not None and not self._is_pg() else None)
        # PostgreSQL: a connection kept for recording them, in autocommit (bot/kept.py).
        self._ack_conn = (KeptConnection(engine, application_name=ACK_APPLICATION)
                          if self._is_pg() else None)
        self._marks_conn = (KeptConnection(engine, application_name=f"sangkien-sent-{os.getpid()}")
                            if self._is_pg() else None)
        self.default_locale = normalise_locale(default_locale)
        self.clock = clock
        # Called after a commit that wrote outbox messages (wakes the sender at once).
        self.on_enqueued = on_enqueued
        self._queue: list[tuple[Inbound, asyncio.Future[Outcome]]] = []
        # Events whose replies went out: recorded with the next batch (or soon by themselves).
        self._sent: list[tuple[str, str]] = []
        self._sent_flush: asyncio.TimerHandle | None = None
        # An in-memory database (tests, a demo) dies with the process: no restart can send
        # what it kept, and its one shared connection is the test's too. Nothing is kept.
        self.keeps_replies = not is_in_memory(engine)
        # Unit rows and searches the steps read, kept while the directory stays the same.
        self.units = UnitCache()
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

    def sent(self, outcome: Outcome) -> None:
        """The channel sent the outcome's replies (or gave up on them for good): they need
        not be kept any more. Written with the next batch, or within half a second."""
        if outcome.key is None or not outcome.replies or not self.keeps_replies:
            return
        self._sent.append(outcome.key)
        if self._sent_flush is None and not self._closed:
            self._sent_flush = asyncio.get_running_loop().call_later(
                SENT_DELAY if self._marks_conn is None else SENT_DELAY_KEPT, self._flush_sent)
            # Events handled from the webhooks' queue (`run_queued`) never start the batch
            # worker that writes the marks: without it they wait for this process's next
            # batch, and a quiet process's replies go again through the outbox.
            if self._worker is None or self._worker.done():
                self._worker = asyncio.create_task(self._run(), name="sangkien-core")

    def _flush_sent(self) -> None:
        self._sent_flush = None
        self._wakeup.set()

    async def aclose(self) -> None:
        """Finish what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._worker is not None:
            await self._worker
        for thread in (self._thread, self._ack_thread):
            if thread is not None:
                thread.shutdown(wait=True)
        await close_all(self._ack_conn, self._marks_conn)
        if self._sync is not None:
            self._sync.dispose()

    # ------------------------------------------------------------------ batching

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._sent and (self._sent_flush is None or self._closed):
                    await self._write_sent()   # no batch came to carry them in time
                    continue                   # events may have come meanwhile
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._process(batch)

    def _take_sent(self) -> list[tuple[str, str]]:
        if self._sent_flush is not None:
            self._sent_flush.cancel()
            self._sent_flush = None
        marks, self._sent = self._sent, []
        return marks

    async def _write_sent(self) -> None:
        marks = self._take_sent()
        try:
            if self._marks_conn is not None:
                await self._marks_conn.run(lambda c: inbound.sent(c, marks))
            else:
                await self._transact([], marks)
        except Exception:
            log.warning("could not record %d sent replies; they are kept", len(marks),
                        exc_info=True)

    async def _process(self, batch: list[tuple[Inbound, asyncio.Future[Outcome]]]) -> None:
        events = [ev for ev, _fut in batch]
        marks = self._take_sent()
        try:
            outcomes = await self._transact(events, marks)
        except Exception:
            self._sent = marks + self._sent
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

    async def _transact(self, events: list[Inbound],
                        marks: Sequence[tuple[str, str]] = ()) -> list[Outcome]:
        # Lock time-outs, deadlocks and serialization failures are worth a retry.
        return await self._with_retries(self._run_batch, events, marks)

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
            inbound.mark_failed(conn, channel=event.channel, event_id=event.event_id,
                                now=self.clock())
            rows = queries.load_accounts(conn, channel=event.channel,
                                         external_ids=[event.user_id], lock=False)
        row = rows.get(event.user_id)
        return row["locale"] if row else None

    # ------------------------------------------------------------------ the queue

    async def record_queued(self, events: Sequence[tuple[Inbound, int]]) -> set[tuple[str, str]]:
        """Record events (with their order in their chat) to be handled later; returns the
        keys recorded now (the others are redeliveries). Returns once committed."""
        rows = [{"channel": ev.channel, "event_id": ev.event_id, "chat_id": ev.chat_id,
                 "seq": seq, "payload": inbound_json(ev)}
                for ev, seq in ((clean_inbound(ev), seq) for ev, seq in events)]
        by_channel: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_channel.setdefault(row["channel"], []).append(row)

        def record(conn: Connection) -> set[tuple[str, str]]:
            with conn.begin():
                return {(c, e) for c, mine in by_channel.items()
                        for e in inbound.enqueue(conn, rows=mine, now=self.clock())}
        if self._ack_conn is not None:
            return await self._ack_conn.run(record)
        return await self._with_retries(record, thread=self._ack_thread)

    def _is_pg(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def queued_chats(self, *, limit: int = 50) -> list[tuple[str, str]]:
        """(channel, chat id) of chats with events waiting, the longest waiting first."""
        def chats(conn: Connection) -> list[tuple[str, str]]:
            with conn.begin():
                return inbound.queued_chats(conn, limit=limit)
        return await self._with_retries(chats)

    async def run_queued(self, chats: Sequence[tuple[str, str]]
                         ) -> list[tuple[Inbound, Outcome]]:
        """Handle the waiting events of these (channel, chat id) chats, each chat's in
        order, all in one transaction (should one fail, each chat alone, then a failing
        event alone, apologised for). Chats another process holds are left to it."""
        marks = self._take_sent()
        try:
            return await self._with_retries(self._run_chats, chats, None, marks)
        except Exception:
            self._sent = marks + self._sent
            if len(chats) > 1:
                return [pair for chat in chats for pair in await self.run_queued([chat])]
        out: list[tuple[Inbound, Outcome]] = []
        [(channel, chat_id)] = chats
        for event_id in await self._with_retries(self._peek_chat, channel, chat_id):
            try:
                out += await self._with_retries(self._run_chats, chats, event_id, ())
            except Exception:
                events = [ev for ev in [await self._queued_event(channel, event_id)] if ev]
                out += [(ev, await self._failed(ev)) for ev in events]
        return out

    def _run_chats(self, conn: Connection, chats: Sequence[tuple[str, str]], only: str | None,
                   marks: Sequence[tuple[str, str]]) -> list[tuple[Inbound, Outcome]]:
        with conn.begin():
            inbound.sent(conn, marks)
            events: list[Inbound] = []
            fresh: set[tuple[str, str]] = set()
            for channel, chat_id in chats:
                if not inbound.lock_chat(conn, channel=channel, chat_id=chat_id):
                    continue
                for event_id, payload in inbound.take(conn, channel=channel, chat_id=chat_id):
                    if only is None or event_id == only:
                        events.append(inbound_from_json(payload))
                        fresh.add((channel, event_id))
            outcomes = self._steps(conn, events, fresh, {}, self.clock())
            return list(zip(events, outcomes, strict=True))

    def _peek_chat(self, conn: Connection, channel: str, chat_id: str) -> list[str]:
        with conn.begin():
            return [e for e, _p in inbound.take(conn, channel=channel, chat_id=chat_id)]

    async def _queued_event(self, channel: str, event_id: str) -> Inbound | None:
        def read(conn: Connection) -> Inbound | None:
            with conn.begin():
                payload = inbound.payload(conn, channel=channel, event_id=event_id)
            return inbound_from_json(payload) if payload else None
        return await self._with_retries(read)

    async def _with_retries(self, run: Callable[..., Any], *args: Any,
                            thread: ThreadPoolExecutor | None = None) -> Any:
        """`run(conn, *args)` in a connection of the core's, transient errors retried; on
        the twin engine in the core's thread (or `thread`) when there is one."""
        async for attempt in AsyncRetrying(
                retry=retry_if_exception(_is_transient), reraise=True,
                stop=stop_after_attempt(TRANSIENT_RETRIES + 1),
                wait=wait_exponential(multiplier=0.05, max=1.0)):
            with attempt:
                if self._thread is not None:
                    return await self._in_thread(self._run_sync, run, args,
                                                 thread=thread or self._thread)
                async with self.engine.connect() as conn:
                    return await conn.run_sync(run, *args)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ one transaction

    async def _in_thread(self, target: Callable[..., Any], *args: Any,
                         thread: ThreadPoolExecutor) -> Any:
        """`target(*args)` in `thread` (the core's or the acknowledgements')."""
        fut = asyncio.get_running_loop().run_in_executor(thread, target, *args)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # A thread cannot be interrupted: let the transaction finish (it may commit)
            # before giving up, so nothing is left half done behind a cancelled task.
            await asyncio.wait([fut])
            raise

    def _run_sync(self, run: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        assert self._sync is not None
        with self._sync.connect() as conn:
            return run(conn, *args)

    def _run_batch(self, conn: Connection, events: Sequence[Inbound],
                   marks: Sequence[tuple[str, str]] = ()) -> list[Outcome]:
        with conn.begin():
            now = self.clock()
            inbound.sent(conn, marks)
            fresh: set[tuple[str, str]] = set()
            kept: dict[tuple[str, str], str] = {}
            for channel in {ev.channel for ev in events}:
                mine = {ev.event_id: ev.chat_id for ev in events if ev.channel == channel}
                new = inbound.record(conn, channel=channel, events=list(mine.items()), now=now)
                fresh |= {(channel, e) for e in new}
                kept |= {(channel, e): r for e, r in inbound.unsent_replies(
                    conn, channel=channel, event_ids=[e for e in mine if e not in new],
                    before=now - RESEND_AFTER).items()}
            return self._steps(conn, events, fresh, kept, now)

    def _steps(self, conn: Connection, events: Sequence[Inbound], fresh: set[tuple[str, str]],
               kept: dict[tuple[str, str], str], now: datetime) -> list[Outcome]:
        """Run the fresh events' steps (one conversation load per account), write back what
        changed and keep their replies; a redelivered event gets the replies it never got."""
        convs: dict[tuple[str, str], Conversation] = {}
        people: dict[int, dict[str, Any]] = {}   # person rows read in this batch
        units = self.units.reader(conn)
        for channel in {ev.channel for ev in events}:
            mine = [ev for ev in events
                    if ev.channel == channel and (channel, ev.event_id) in fresh]
            if mine:   # only events seen for the first time load (and lock) a conversation
                convs.update(self._load(conn, channel, mine, now, people, units))
        outcomes: list[Outcome] = []
        done: list[tuple[str, str, str | None]] = []
        for ev in events:
            key = (ev.channel, ev.event_id)
            if key not in fresh:
                outcomes.append(_redelivered(key, kept.pop(key, None)))
                continue
            fresh.discard(key)  # the same id twice in one batch: the second is a duplicate
            outcome = self._step(conn, convs[(ev.channel, ev.user_id)], ev, now, people, units)
            outcome.key = key
            done.append((*key, replies_json(outcome)))
            outcomes.append(outcome)
        accounts, drafts = [], []
        for conv in convs.values():
            drafts += conv.draft_changes(now)
            change = conv.account_changes(now)
            if change:
                accounts.append(change)
        queries.save_drafts(conn, drafts)
        queries.save_accounts(conn, accounts)
        inbound.handled(conn, done if self.keeps_replies else
                        [(c, e, None) for c, e, _r in done], now=now)
        if enqueued(conn) and outcomes:
            outcomes[0].enqueued = True   # wake the sender once the batch is committed
        return outcomes

    def _load(
        self, conn: Connection, channel: str, events: list[Inbound], now: datetime,
        people: dict[int, dict[str, Any]], units: Units,
    ) -> dict[tuple[str, str], Conversation]:
        """Load (and lock) the events' conversations; their people's rows go to `people`,
        the unit directory's version read with them to `units`."""
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
        people.update((r["person_id"], r["person"]) for r in rows.values() if r["person"])
        first = next(iter(rows.values()), None)
        if first is not None:   # the same on every row
            units.known_version(first["directory_version"])
        return {(channel, u): Conversation(rows[u]) for u in users}

    def _step(self, conn: Connection, conv: Conversation, ev: Inbound, now: datetime,
              people: dict[int, dict[str, Any]], units: Units) -> Outcome:
        locale = conv.locale or self.default_locale
        ctx = Ctx(conn=conn, now=now, channel=ev.channel, conv=conv, locale=locale,
                  _=gettext_for(locale), default_locale=self.default_locale, people=people,
                  unit_reader=units)
        DISPATCHER.handle(ctx, ev)
        return Outcome(ctx.replies, locale=ctx.locale, toast=ctx.toast)

    # ------------------------------------------------------------------ upkeep

    async def prune_events(self, *, keep: timedelta = timedelta(days=7)) -> int:
        """Forget inbound event ids older than `keep` (no channel redelivers that late)."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(
                lambda c: inbound.prune(c, before=self.clock() - keep))

    async def recover_unsent(self, *, older_than: timedelta = timedelta(seconds=60),
                             limit: int = 500) -> int:
        """Replies still unsent `older_than` after their event (the process that handled it
        died before sending, and the channel will not redeliver): handed to the outbox,
        which delivers them at least once. Returns how many events' replies moved."""
        async with self.engine.begin() as conn:
            moved = await conn.run_sync(lambda c: outbox_marks.unsent_to_outbox(
                c, now=self.clock(), before=self.clock() - older_than, limit=limit))
        if moved and self.on_enqueued is not None:
            self.on_enqueued()
        return moved


def _redelivered(key: tuple[str, str], kept: str | None) -> Outcome:
    """A redelivered event: its replies if they were never sent, else nothing."""
    if kept is None:
        return Outcome(duplicate=True)
    locale, replies = replies_from_json(kept)
    return Outcome(replies, locale=locale, key=key, resent=True)


def _is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError | DBAPIError):
        return False
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in ("locked", "busy", "deadlock", "serializ", "could not obtain"))
