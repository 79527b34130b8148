"""The outbox sender: delivers the messages the bot sends on its own (alerts, decisions,
digests), which the review code writes into the `outbox` table in the same transaction as the
change that causes them.

Each round claims due rows in a short transaction (a lease of `lease_seconds`), sends them
outside any transaction, and marks each outcome in a short transaction of its own; outcomes
that finish while a mark is being written share the next one (group commit).

Delivery guarantees, honestly:

* A graceful `stop()` lets the sends already in flight finish and records them; rows claimed
  but not yet sent are released and go out after the restart. Nothing is lost or repeated.
* A hard crash (kill -9, power cut) between a send and its mark leaves the row `sending`;
  when its lease expires it is claimed and sent again. So delivery is at least once: after a
  crash a user may, rarely, see a message twice. The window is one send plus one mark.
  Likewise if the database is down for longer than the mark retries at that moment.
* A message longer than one Telegram message is sent in parts; if a later part fails, the
  retry sends the whole message again.

Pacing (Telegram allows about 30 messages a second overall and one a second per chat):

* a token bucket per channel for the overall rate (`global_rate` messages a second);
* per chat, the next send starts at least `per_chat_interval` after the previous one
  *finished*, so the gap holds as Telegram sees it too. Rows of one chat go out oldest first:
  a claim takes at most one row per chat (see `storage.outbox`), so a newer row never
  overtakes an older one that is waiting, in flight, or backing off;
* `RetryLater(s)` (Telegram 429) pauses the whole channel for `s` seconds and the row goes
  back with `not_before = now + s`, without using up one of its attempts.

These limits hold per process: run one sender per bot token. Several sender processes are
safe (no row is claimed twice, chat order is kept) but each paces itself alone.

Failures: `Transient` (and any unexpected exception, logged with the row id) retries with
exponential backoff up to `max_attempts`, then `failed`; `Unreachable` marks the row and the
chat's queued rows `unreachable` and the account no longer reachable; any other
`DeliveryError` is permanent (`failed`). Message text is never logged.

This module is channel-neutral: adapters provide a `bot.delivery.Sender` per channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from bot.delivery import DeliveryError, RetryLater, Sender, Transient, Unreachable
from bot.events import Option, Reply
from storage import outbox as outbox_q
from storage.engine import utcnow

log = logging.getLogger(__name__)

BACKOFF_CAP = 15 * 60.0
RETRY_AFTER_CAP = 3600.0  # never trust a "slow down" longer than this
MARK_TRIES = 5  # a mark is retried for about 6 s before the row is left to its lease
MAX_DB_BACKOFF = 30.0

ResultKind = Literal["sent", "retry", "failed", "unreachable", "release"]


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts`: 2**attempts, capped at 15 minutes, with ±20 %
    jitter so that rows which failed together (a network drop) do not retry in lockstep."""
    return min(2.0 ** attempts, BACKOFF_CAP) * random.uniform(0.8, 1.2)


def reply_of(row: dict[str, Any]) -> Reply:
    """An outbox row back into the channel-neutral reply a `Sender` draws."""
    options = json.loads(row.get("options") or "[]")
    return Reply(row["text"], tuple(Option(o["label"], o["token"], o.get("command", ""))
                                    for o in options))


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`: a smooth overall send rate.

    Hand-written rather than aiolimiter's AsyncLimiter: that one waits inside `acquire` and
    cannot say how far off the next token is, while the sender must be able to give a row
    back instead of waiting — at a stop, when the channel says "slow down", or when the
    row's lease would run out first."""

    def __init__(self, rate: float, *, burst: float = 1.0, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.tokens = self.burst
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def delay(self, now: float) -> float:
        """Seconds until a token is available (0: take it now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0


@dataclass(slots=True)
class _Result:
    kind: ResultKind
    row: dict[str, Any]
    not_before: datetime | None = None
    error: str | None = None
    count_attempt: bool = True


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
        max_attempts: int = 8,
        concurrency: int = 8,
        retry_delay: Callable[[int], float] = backoff,
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
        self.global_rate = global_rate
        self.per_chat_interval = per_chat_interval
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        # Sends in flight per channel: enough to reach the rate over a slow link, few enough
        # for the HTTP client's connection pool.
        self._slots = {ch: asyncio.Semaphore(concurrency) for ch in self.senders}
        self._buckets: dict[str, TokenBucket] = {}
        self._paused_until: dict[str, float] = {}  # channel → loop time
        self._chat_ready: dict[tuple[str, str], float] = {}  # (channel, chat) → loop time
        self._results: list[_Result] = []
        self._mark_lock = asyncio.Lock()
        self._round_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats = {"sent": 0, "retry": 0, "failed": 0, "unreachable": 0, "release": 0}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Run rounds in the background until `stop()`."""
        if self._task is not None and not self._task.done():
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="sangkien-outbox")

    async def stop(self, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Stop gracefully: sends in flight finish and are marked, claimed rows not yet sent
        are released. After `timeout` the loop is cancelled; its rows then wait for their
        lease to expire (at least once, as after a crash)."""
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                log.warning("outbox: stop timed out after %.0f s; cancelling", timeout)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        async with self._round_lock:  # a run_once called directly finishes too
            pass

    def wake(self) -> None:
        """Run a round now (the core calls this after committing an enqueue)."""
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            # Cleared before the round: a wake() during the round triggers the next one.
            self._wake.clear()
            try:
                claimed = await self.run_once()
                failures = 0
            except Exception:
                failures += 1
                delay = min(self.poll_interval * 2 ** failures, MAX_DB_BACKOFF)
                log.exception("outbox: round failed (database?); next try in %.1f s", delay)
                await self._idle(delay)
                continue
            if not claimed:
                await self._idle(self._idle_timeout())

    def _idle_timeout(self) -> float:
        timeout = self.poll_interval
        now = asyncio.get_running_loop().time()
        for until in self._paused_until.values():
            if until > now:
                timeout = min(timeout, until - now)
        return max(timeout, 0.0)

    async def _idle(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    # ------------------------------------------------------------------ one round

    async def run_once(self) -> int:
        """One round: claim due rows, send them, record the outcomes. Returns how many rows
        were claimed (sent, retried, failed or released), 0 when nothing was due."""
        async with self._round_lock:
            if self._stopping.is_set():
                return 0
            loop = asyncio.get_running_loop()
            mono = loop.time()
            channels = [ch for ch in self.senders if self._paused_until.get(ch, 0.0) <= mono]
            if not channels:
                return 0
            if len(self._chat_ready) > 1024:
                self._chat_ready = {k: t for k, t in self._chat_ready.items() if t > mono}
            async with self.engine.begin() as conn:
                rows = await conn.run_sync(self._claim, channels)
            if not rows:
                return 0
            # Never start a send late in the lease: another sender could have claimed the row
            # again by the time it lands.
            deadline = loop.time() + self.lease_seconds * 0.8
            chats: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for row in rows:
                chats.setdefault((row["channel"], row["chat_id"]), []).append(row)
            done = await asyncio.gather(*(self._send_chat(group, deadline)
                                          for group in chats.values()), return_exceptions=True)
            for outcome in done:
                if isinstance(outcome, BaseException):
                    log.error("outbox: a send task failed", exc_info=outcome)
            await self._flush()
            return len(rows)

    def _claim(self, conn: Connection, channels: list[str]) -> list[dict[str, Any]]:
        return outbox_q.claim_due(conn, now=self.clock(), limit=self.batch,
                                  lease_seconds=self.lease_seconds, channels=channels)

    async def _send_chat(self, rows: list[dict[str, Any]], deadline: float) -> None:
        """One chat's rows, strictly in order (a claim normally holds one row per chat)."""
        for i, row in enumerate(rows):
            result = await self._send_one(row, deadline)
            await self._record(result)
            if result.kind != "sent":
                # Anything newer in this chat waits behind the row that did not go out.
                for later in rows[i + 1:]:
                    await self._record(_Result("release", later))
                return

    async def _send_one(self, row: dict[str, Any], deadline: float) -> _Result:
        loop = asyncio.get_running_loop()
        channel, key = row["channel"], (row["channel"], row["chat_id"])
        # The per-chat gap is waited for outside the channel's slots, so a chat that has to
        # wait does not hold up other chats.
        if not await self._sleep(self._chat_ready.get(key, 0.0) - loop.time()):
            return _Result("release", row)
        bucket = self._buckets.setdefault(
            channel, TokenBucket(self.global_rate, now=loop.time()))
        async with self._slots[channel]:
            while True:
                now = loop.time()
                if self._stopping.is_set() or now > deadline:
                    return _Result("release", row)
                paused = self._paused_until.get(channel, 0.0) - now
                if paused > 0:  # the channel said "slow down" while this row waited
                    return _Result("release", row,
                                   not_before=self.clock() + timedelta(seconds=paused))
                wait = bucket.delay(now)
                if wait <= 0:
                    break
                await self._sleep(wait)
            bucket.take(now)
            try:
                sender = self.senders[channel]
                await sender.deliver(str(row["chat_id"]), reply_of(row), row["locale"])
                return _Result("sent", row)
            except RetryLater as exc:
                seconds = min(max(float(exc.seconds), 0.0), RETRY_AFTER_CAP)
                self._paused_until[channel] = max(self._paused_until.get(channel, 0.0),
                                                  loop.time() + seconds)
                log.warning("outbox: %s asked to slow down for %.1f s (row %s)",
                            channel, seconds, row["id"])
                return _Result("retry", row, error=str(exc), count_attempt=False,
                               not_before=self.clock() + timedelta(seconds=seconds))
            except Unreachable as exc:
                log.info("outbox: row %s: chat unreachable (%s)", row["id"], exc)
                return _Result("unreachable", row, error=str(exc))
            except Transient as exc:
                return self._transient(row, str(exc))
            except DeliveryError as exc:
                log.warning("outbox: row %s failed permanently: %s", row["id"], exc)
                return _Result("failed", row, error=str(exc))
            except Exception as exc:
                # A bug or an error the adapter did not translate: keep the row, retry later.
                # (Tracebacks go through the redacting log filter: no tokens or phones.)
                log.exception("outbox: row %s: unexpected error from the %s sender",
                              row["id"], channel)
                return self._transient(row, f"unexpected {type(exc).__name__}")
            finally:
                self._chat_ready[key] = loop.time() + self.per_chat_interval

    def _transient(self, row: dict[str, Any], error: str) -> _Result:
        attempts = row["attempts"] + 1
        if attempts >= self.max_attempts:
            log.warning("outbox: row %s failed after %d attempts: %s", row["id"], attempts, error)
            return _Result("failed", row, error=f"{error} (after {attempts} attempts)")
        delay = self.retry_delay(attempts)
        log.info("outbox: row %s: %s; retry %d in %.1f s", row["id"], error, attempts, delay)
        return _Result("retry", row, error=error,
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

    async def _record(self, result: _Result) -> None:
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

    async def _write(self, batch: list[_Result]) -> None:
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(MARK_TRIES), reraise=True,
                    wait=wait_exponential(multiplier=0.2),
                    before_sleep=lambda _s: log.warning(
                        "outbox: recording outcomes failed; retrying", exc_info=True)):
                with attempt:
                    async with self.engine.begin() as conn:
                        await conn.run_sync(self._apply, batch)
        except Exception:
            # The rows stay `sending`; they are sent again when their lease expires.
            log.exception("outbox: could not record the outcome of rows %s",
                          [r.row["id"] for r in batch])

    def _apply(self, conn: Connection, batch: list[_Result]) -> None:
        now = self.clock()
        outbox_q.mark_sent(conn, ids=[r.row["id"] for r in batch if r.kind == "sent"], now=now)
        released: dict[datetime | None, list[int]] = {}
        for r in batch:
            row_id = r.row["id"]
            if r.kind == "release":
                released.setdefault(r.not_before, []).append(row_id)
            elif r.kind == "retry":
                assert r.not_before is not None
                outbox_q.mark_retry(conn, id=row_id, not_before=r.not_before,
                                    error=r.error or "", now=now,
                                    count_attempt=r.count_attempt)
            elif r.kind == "failed":
                outbox_q.mark_failed(conn, id=row_id, error=r.error or "")
            elif r.kind == "unreachable":
                outbox_q.mark_unreachable(conn, id=row_id, account_id=r.row["account_id"],
                                          error=r.error)
        for not_before, ids in released.items():
            outbox_q.release(conn, ids=ids, not_before=not_before)
