"""The outbox sender: delivers the messages the bot sends on its own (alerts, decisions,
digests, campaigns), which the core writes into the `outbox` table in the same transaction as
the change that causes them.

Each round claims due rows in a short transaction, sends them outside any transaction, and
marks each outcome as soon as its answer arrives, in a short transaction of its own (outcomes
that finish while a mark is being written share the next one).

Order: priority 0 (replies, alerts, decisions) before 5 (digests) before 9 (campaigns), then
the earliest due; one chat's rows of one priority go out oldest first, one at a time (see
`storage.outbox.claim_due`), so an alert never waits behind a long broadcast.

Delivery guarantees (each row marked handed just before its send and sent the moment the
channel answers, each in a commit of its own; a dead sender's handed digest or campaign row
counts sent, never sent twice, a handed reply or alert is sent again, never lost), pacing
across processes (`storage.outbox.Pace`: slots from a channel's shared next slot; a late
send moves the slots not yet handed out on; a chat's next send `per_chat_interval` after its
previous one finished; 429 pauses the channel for every process) and what happens on
failures (`Transient` retried with backoff up to `max_attempts`; `Unreachable` marks the
chat's rows and the account; other errors are permanent) are set out in the README,
"Delivery guarantees". Message text is never logged.

This module is channel-neutral: adapters provide a `bot.delivery.Sender` per channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from bot.delivery import DeliveryError, RetryLater, Sender, Transient, Unreachable
from bot.kept import KeptConnection, close_all
from bot.outbox_marks import Outcome, apply_outcomes, backoff, reply_of, sender_name
from storage import outbox as outbox_q
from storage.engine import utcnow
from storage.outbox import Pace

log = logging.getLogger(__name__)

RETRY_AFTER_CAP = 3600.0  # never trust a "slow down" longer than this
MARK_TRIES = 5  # a mark is retried for about 6 s before the row is left to its lease
MAX_DB_BACKOFF = 30.0
CLAIM_LEAD = 0.1  # the first slot of a claim: time for it to commit
# A row is marked handed this long before its slot at most (the marks' average time below
# it) and sent as soon as the mark is committed: a kill between the two loses the message (it
# is never sent twice), so nothing waits there; a send so goes out up to this much early.
HAND_LEAD = 0.003


class OutboxWorker:
    """Claims due outbox rows, sends them through each channel's `Sender`, records outcomes."""

    def __init__(
        self,
        engine: AsyncEngine,
        senders: Sequence[Sender],
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_interval: float = 0.5,
        batch: int = 50,
        lease_seconds: float = 60,
        global_rate: float = 30.0,
        per_chat_interval: float = 1.0,
        pace: Mapping[str, Pace] | None = None,
        rate_margin: float = 0.015,
        late_after: float = 0.25,
        heartbeat: float = 3.0,
        stale_after: float = 10.0,
        max_attempts: int = 8,
        concurrency: int = 8,
        retry_delay: Callable[[int], float] = backoff,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.senders: dict[str, Sender] = {}
        for sender in senders:
            if sender.channel in self.senders:
                raise ValueError(f"two senders for channel {sender.channel!r}")
            self.senders[sender.channel] = sender
        self.clock = clock
        self.poll_interval = poll_interval
        self.batch = batch
        self.lease_seconds = lease_seconds
        # Per channel: the configured limits (`pace`, else `global_rate` and
        # `per_chat_interval`); claims use the rate `rate_margin` under it.
        self.pace = {ch: (pace or {}).get(ch) or Pace(global_rate, per_chat_interval)
                     for ch in self.senders}
        self._claim_pace = {ch: Pace(p.rate * (1.0 - rate_margin), p.per_chat, p.horizon,
                                     p.lead or CLAIM_LEAD, p.part_chars)
                            for ch, p in self.pace.items()}
        self.late_after = late_after
        # How late a send may reach the channel and still not crowd the second after it:
        # the slack that slots `rate_margin` apart leave in each second (15 ms at 1.5 %).
        self.jitter = 1.0 / (1.0 - rate_margin) - 1.0
        self.heartbeat = heartbeat
        self.stale_after = stale_after
        self.name = name or sender_name()
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        # Sends in flight per channel: enough to reach the rate over a slow link, few enough
        # for the HTTP client's connection pool.
        self._slots = {ch: asyncio.Semaphore(concurrency) for ch in self.senders}
        self._paused_until: dict[str, float] = {}  # channel → loop time
        self._beat_at: float | None = None  # loop time the last beat started (it committed)
        self._inflight: set[asyncio.Task[None]] = set()
        self._shifting: set[asyncio.Task[None]] = set()
        self._limit = batch   # rows the next claim may take
        self._hand_took = HAND_LEAD   # how long marking a row handed takes (average)
        # PostgreSQL: the marks around a send in autocommit, one round trip each (not four:
        # check-out, BEGIN, UPDATE, COMMIT), on a connection each kind; never retried (a
        # handed mark committed before the connection broke finds its row handed: unsent).
        self._kept, self._kept_sent = (
            (KeptConnection(engine, application_name=f"sangkien-outbox-{os.getpid()}-{k}",
                            retries=0) for k in ("hand", "sent"))
            if engine.dialect.name == "postgresql" else (None, None))
        self._claim_took = 0.0   # how long claims take (the slowest lately)
        self._busy_at = -1e9   # loop time of the last claim that took rows
        self._results: list[Outcome] = []
        self._mark_lock = asyncio.Lock()
        self._round_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._beater: asyncio.Task[None] | None = None
        self.stats = {"sent": 0, "retry": 0, "failed": 0, "unreachable": 0, "release": 0,
                      "lost": 0}
        self.late = 0   # rows handed back because their slot had long passed (in "release")
        self.shifted = 0.0   # seconds the channels' slots were moved on after late sends

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Run rounds in the background until `stop()`."""
        if self._task is not None and not self._task.done():
            return
        self._stopping.clear()
        self._beater = asyncio.create_task(self._beat_loop(), name="sangkien-outbox-beat")
        self._task = asyncio.create_task(self._loop(), name="sangkien-outbox")

    async def stop(self, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Stop gracefully: sends in flight finish and are marked, claimed rows not yet sent
        are released. After `timeout` the loop is cancelled; its rows then wait until this
        sender's heartbeat is stale (at least once, as after a crash)."""
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        clean = True
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                log.warning("outbox: stop timed out after %.0f s; cancelling", timeout)
                clean = False
                task.cancel()
                for t in list(self._inflight):
                    t.cancel()
                await asyncio.gather(task, *self._inflight, return_exceptions=True)
        async with self._round_lock:  # a run_once called directly finishes too
            pass
        beater, self._beater = self._beater, None
        if beater is not None:
            beater.cancel()
            await asyncio.gather(beater, return_exceptions=True)
        if clean and self._beat_at is not None:
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(lambda c: outbox_q.sender_gone(c, sender=self.name))
            except Exception:
                log.warning("outbox: could not unregister sender", exc_info=True)
            self._beat_at = None

    def wake(self) -> None:
        self._wake.set()   # a round now (the core calls this after committing an enqueue)

    # ------------------------------------------------------------------ the heartbeat

    async def _beat_loop(self) -> None:
        while True:
            try:
                await self._beat()
            except Exception:
                log.warning("outbox: heartbeat failed (database?)", exc_info=True)
            await asyncio.sleep(self.heartbeat)

    async def _beat(self) -> None:
        started = asyncio.get_running_loop().time()
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: outbox_q.beat(c, sender=self.name, now=self.clock()))
        self._beat_at = max(self._beat_at or started, started)

    def _alive(self) -> bool:
        """May this sender start a send: is its heartbeat fresh enough that no other sender
        takes its rows over meanwhile?"""
        return (self._beat_at is not None and
                asyncio.get_running_loop().time() - self._beat_at < self.stale_after / 2)

    # ------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        try:
            await self._rounds()
        finally:
            await close_all(self._kept, self._kept_sent)

    async def _rounds(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            # Cleared before the round: a wake() during the round triggers the next one.
            self._wake.clear()
            try:
                claimed, last_slot = await self._claim_round()
                failures = 0
            except Exception:
                failures += 1
                delay = min(self.poll_interval * 2 ** failures, MAX_DB_BACKOFF)
                log.exception("outbox: round failed (database?); next try in %.1f s", delay)
                await self._idle(delay)
                continue
            if claimed:
                self._busy_at = asyncio.get_running_loop().time()
                # The next claim shortly before the slots taken run out (earlier when claims
                # were slow), so the channel never idles; this one's sends go on meanwhile.
                horizon = min(p.horizon for p in self._claim_pace.values())
                lead = min(max(horizon / 2, 1.5 * self._claim_took + CLAIM_LEAD), horizon * .6)
                await self._idle(last_slot - self._busy_at - lead)
            else:
                await self._idle(self._idle_timeout())
        await self._settle()

    def _idle_timeout(self) -> float:
        now = asyncio.get_running_loop().time()
        # Busy lately: an empty claim found the slots booked ahead; a poll would leave gaps.
        timeout = min(self.poll_interval, 0.1 if now - self._busy_at < 2.0 else 1e9)
        for until in self._paused_until.values():
            if until > now:
                timeout = min(timeout, until - now)
        return max(timeout, 0.0)

    async def _idle(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _settle(self) -> None:
        """Wait for the sends in flight, then write every outcome."""
        while self._inflight or self._shifting:
            await asyncio.gather(*self._inflight, *self._shifting, return_exceptions=True)
        await self._flush()

    # ------------------------------------------------------------------ one round

    async def run_once(self) -> int:
        """One round: claim due rows, send them, record the outcomes. Returns how many rows
        were claimed (sent, retried, failed or released), 0 when nothing was due."""
        try:
            claimed, _last = await self._claim_round()
            await self._settle()
        finally:
            if self._task is None:
                await close_all(self._kept, self._kept_sent)   # opened for this round's marks
        return claimed

    async def _claim_round(self) -> tuple[int, float]:
        """Claim due rows and start sending them (each chat's rows in a task). Returns how
        many rows were claimed and the loop time of the last slot taken."""
        async with self._round_lock:
            if self._stopping.is_set():
                return 0, 0.0
            loop = asyncio.get_running_loop()
            mono = loop.time()
            channels = [ch for ch in self.senders if self._paused_until.get(ch, 0.0) <= mono]
            room = self.batch * 4 - len(self._inflight)   # rows in flight stay bounded
            if not channels or room <= 0:
                return 0, 0.0
            started = loop.time()
            self._limit = min(self.batch, room)
            async with self.engine.begin() as conn:
                rows = await conn.run_sync(self._claim, channels)
            self._beat_at = max(self._beat_at or started, started)   # the claim beat too
            self._claim_took = max(loop.time() - started, 0.8 * self._claim_took)
            if not rows:
                return 0, 0.0
            # Never start a send late in the lease: another sender could have claimed the row
            # again by the time it lands.
            deadline = loop.time() + self.lease_seconds * 0.8
            now, mono = self.clock(), loop.time()
            last = mono
            chats: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for row in rows:
                at = row.get("send_at")
                row["_at"] = mono if at is None else mono + (at - now).total_seconds()
                last = max(last, row["_at"])
                chats.setdefault((row["channel"], row["chat_id"]), []).append(row)
            for group in chats.values():
                task = asyncio.create_task(self._send_chat(group, deadline))
                self._inflight.add(task)
                task.add_done_callback(self._sent_chat)
            return len(rows), last

    def _sent_chat(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox: a send task failed", exc_info=task.exception())

    def _claim(self, conn: Connection, channels: list[str]) -> list[dict[str, Any]]:
        now = self.clock()
        outbox_q.beat(conn, sender=self.name, now=now)
        return outbox_q.claim_due(conn, now=now, limit=self._limit,
                                  lease_seconds=self.lease_seconds, channels=channels,
                                  sender=self.name, stale_seconds=self.stale_after,
                                  pace=self._claim_pace)

    async def _send_chat(self, rows: list[dict[str, Any]], deadline: float) -> None:
        """One chat's rows, strictly in order (a claim normally holds one row per chat)."""
        for i, row in enumerate(rows):
            result = await self._send_one(row, deadline)
            await self._record(result)
            if result.kind != "sent":
                # Anything newer in this chat waits behind the row that did not go out.
                for later in rows[i + 1:]:
                    await self._record(Outcome("release", later))
                return

    async def _send_one(self, row: dict[str, Any], deadline: float) -> Outcome:
        loop = asyncio.get_running_loop()
        channel = row["channel"]
        # The slot is waited for outside the channel's slots, so a row waiting for a later
        # slot does not hold up the rows before it; the row is marked handed just before.
        lead = min(self._hand_took, HAND_LEAD)
        if not await self._sleep(row["_at"] - lead - loop.time()):
            return Outcome("release", row)
        async with self._slots[channel]:
            now = loop.time()
            if self._stopping.is_set() or now > deadline or not self._alive():
                return Outcome("release", row)
            paused = self._paused_until.get(channel, 0.0) - now
            if paused > 0:  # the channel said "slow down" while this row waited
                return Outcome("release", row,
                               not_before=self.clock() + timedelta(seconds=paused))
            paced = row.get("send_at") is not None
            if paced and now - row["_at"] > self.late_after:
                # Far too late for its slot (a stalled process): a new slot instead.
                self.late += 1
                return Outcome("release", row)
            handed = await self._hand(row)   # committed before the send (`mark_handed`)
            if not handed:
                return Outcome("lost" if handed is False else "release", row)
            now = loop.time()   # up to HAND_LEAD early; beyond half the slack late (the other
            # half is for the way to the channel), the slots not handed out move on (`_shift`)
            late = max(now - row["_at"] - self.jitter / 2, 0.0) if paced else 0.0
            if late > 0:
                # Written at once, beside the send: the slots a second after this one must
                # be handed out after the shift, whenever the channel answers.
                task = asyncio.create_task(
                    self._shift(channel, late, row.get("channel_shifted")))
                self._shifting.add(task)
                task.add_done_callback(self._shifting.discard)
            try:
                sender = self.senders[channel]
                await sender.deliver(str(row["chat_id"]), reply_of(row), row["locale"])
                finished = self.clock()
                await self._answered(row, finished)
                return Outcome("sent", row, finished=finished)
            except RetryLater as exc:
                seconds = min(max(float(exc.seconds), 0.0), RETRY_AFTER_CAP)
                self._paused_until[channel] = max(self._paused_until.get(channel, 0.0),
                                                  loop.time() + seconds)
                log.warning("outbox: %s asked to slow down for %.1f s (row %s)",
                            channel, seconds, row["id"])
                until = self.clock() + timedelta(seconds=seconds)
                return Outcome("retry", row, error=str(exc), count_attempt=False,
                               not_before=until, pause_until=until)
            except Unreachable as exc:
                log.info("outbox: row %s: chat unreachable (%s)", row["id"], exc)
                return Outcome("unreachable", row, error=str(exc))
            except Transient as exc:
                return self._transient(row, str(exc))
            except DeliveryError as exc:
                log.warning("outbox: row %s failed permanently: %s", row["id"], exc)
                return Outcome("failed", row, error=str(exc))
            except Exception as exc:
                # A bug or an error the adapter did not translate: keep the row, retry later.
                # (Tracebacks go through the redacting log filter: no tokens or phones.)
                log.exception("outbox: row %s: unexpected error from the %s sender",
                              row["id"], channel)
                return self._transient(row, f"unexpected {type(exc).__name__}")

    async def _hand(self, row: dict[str, Any]) -> bool | None:
        """Mark the row handed to the channel (`outbox_q.mark_handed`): True to send it,
        False when it is no longer this sender's, None when the database failed."""
        loop = asyncio.get_running_loop()
        began = loop.time()

        def mark(c: Connection) -> bool:
            return outbox_q.mark_handed(c, id=row["id"], sender=self.name, now=self.clock())

        try:
            if self._kept is None:
                async with self.engine.begin() as conn:
                    ok = await conn.run_sync(mark)
            else:
                ok = await self._kept.run(mark)
        except Exception:
            log.warning("outbox: could not mark row %s handed", row["id"], exc_info=True)
            return None
        self._hand_took = 0.8 * self._hand_took + 0.2 * (loop.time() - began)
        if not ok:
            log.warning("outbox: row %s was taken over before its send", row["id"])
        return ok

    async def _answered(self, row: dict[str, Any], finished: datetime) -> None:
        """PostgreSQL: the row marked sent, with its chat's next slot, the moment the channel
        answered (`outbox_q.mark_answered`), not with the next batch of outcomes: should this
        process die meanwhile, a reply or alert would be sent again, a campaign message
        counted uncertain. The batch writes the same again (harmless)."""
        if self._kept_sent is None:
            return
        per_chat = self.pace[row["channel"]].per_chat
        next_at = finished + timedelta(seconds=per_chat) if per_chat > 0 else None
        try:
            await self._kept_sent.run(lambda c: outbox_q.mark_answered(
                c, id=row["id"], sender=self.name, next_at=next_at))
        except Exception:
            log.warning("outbox: could not mark row %s sent at once", row["id"], exc_info=True)

    async def _shift(self, channel: str, seconds: float, since: float | None) -> None:
        """A send started `seconds` later than its slot allows: the slots not yet handed out
        move on by as much as the shifts since its claim (`since`) did not already, so the
        second after it holds no more than the rate either."""
        try:
            async with self.engine.begin() as conn:
                self.shifted += await conn.run_sync(lambda c: outbox_q.shift_channel(
                    c, channel=channel, seconds=seconds, since=since))
        except Exception:
            log.warning("outbox: could not shift %s's send slots", channel, exc_info=True)

    def _transient(self, row: dict[str, Any], error: str) -> Outcome:
        attempts = row["attempts"] + 1
        if attempts >= self.max_attempts:
            log.warning("outbox: row %s failed after %d attempts: %s", row["id"], attempts, error)
            return Outcome("failed", row, error=f"{error} (after {attempts} attempts)")
        delay = self.retry_delay(attempts)
        log.info("outbox: row %s: %s; retry %d in %.1f s", row["id"], error, attempts, delay)
        return Outcome("retry", row, error=error,
                       not_before=self.clock() + timedelta(seconds=delay))

    async def _sleep(self, delay: float) -> bool:
        """Sleep unless stopping; False when a stop interrupted (or preceded) the sleep."""
        if self._stopping.is_set():
            return False
        if delay <= 0:
            return True
        try:
            async with asyncio.timeout(delay):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False

    # ------------------------------------------------------------------ marks

    async def _record(self, result: Outcome) -> None:
        """Queue an outcome and write it promptly; outcomes that arrive while a mark is being
        written share the next transaction."""
        self.stats[result.kind] += 1
        self._results.append(result)
        await self._flush()

    async def _flush(self) -> None:
        async with self._mark_lock:
            batch, self._results = self._results, []
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[Outcome]) -> None:
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(MARK_TRIES), reraise=True,
                    wait=wait_exponential(multiplier=0.2),
                    before_sleep=lambda _s: log.warning(
                        "outbox: recording outcomes failed; retrying", exc_info=True)):
                with attempt:
                    async with self.engine.begin() as conn:
                        await conn.run_sync(lambda c: apply_outcomes(
                            c, batch, now=self.clock(), pace=self.pace, sender=self.name))
        except Exception:
            # The rows stay `sending`; they are sent again when their lease expires.
            log.exception("outbox: could not record the outcome of rows %s",
                          [r.row["id"] for r in batch])
