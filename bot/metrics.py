"""The process's Prometheus metrics, gathered through hooks around the core and the outbox
rather than inside them: the core's `handle` is wrapped (each event counted and timed, its id
put in the log context), each channel's outbox `Sender` is wrapped (sends counted per channel
and result), a logging handler counts errors, and what lives in the database (the outbox's
backlog) or elsewhere (the leases held, the outbox worker's counters) is read when scraped.

Served at /metrics by `handlers.web` in the Prometheus text format. Each `Metrics` has a
registry of its own, so that several can live in one process (tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import wraps
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from bot.delivery import DeliveryError, RetryLater, Sender, Transient, Unreachable
from bot.events import Inbound, Outcome, Reply
from bot.logs import event_context
from storage.engine import utcnow
from storage.health import outbox_backlog

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BACKLOG_STATES = ("due", "scheduled", "sending")
BACKLOG_TTL = 5.0       # seconds the backlog's count is reused between scrapes
BACKLOG_TIMEOUT = 2.0   # seconds a scrape waits for the count before showing the last one


class Metrics:
    def __init__(self, *, engine: AsyncEngine | None = None, channels: Sequence[str] = (),
                 backlog_ttl: float = BACKLOG_TTL) -> None:
        """`engine`: where the outbox's backlog is counted (None: not shown); `channels`:
        those shown with a backlog of 0 when they have none."""
        self.engine = engine
        self.channels = tuple(channels)
        self.backlog_ttl = backlog_ttl
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter(
            "sangkien_updates", "Inbound events handed to the core, by channel, kind and "
            "outcome (handled, duplicate: a redelivery, raised: not committed)",
            ["channel", "kind", "outcome"], registry=r)
        self.recorded = Counter(
            "sangkien_updates_recorded", "Inbound events a webhook recorded in this process "
            "(to be handled by any process), by channel", ["channel"], registry=r)
        self.step_seconds = Histogram(
            "sangkien_step_seconds", "Seconds from an inbound event reaching the core to its "
            "step being committed", ["channel"], buckets=STEP_BUCKETS, registry=r)
        self.deliveries = Counter(
            "sangkien_outbox_deliveries", "Outbox sends, by channel and result (sent, "
            "retry_later, transient, unreachable, failed, error)", ["channel", "result"],
            registry=r)
        self.backlog = Gauge(
            "sangkien_outbox_backlog", "Active outbox rows by channel and state (due: to send "
            f"now, scheduled: for later, sending: claimed); counted at most every "
            f"{backlog_ttl:g} s", ["channel", "state"], registry=r)
        self.errors = Counter(
            "sangkien_log_errors", "Log records at ERROR or above, by logger (an event the "
            "core apologised for is one, under bot.core)", ["logger"], registry=r)
        self.http = Counter(
            "sangkien_http_requests", "HTTP requests served, by route and status",
            ["route", "status"], registry=r)
        self.jobs = Gauge(
            "sangkien_job_leader", "1 while this process holds the job's lease (and runs it)",
            ["job"], registry=r)
        self._watched: list[_Watched] = []
        self._collector = _Callbacks(self._watched)
        r.register(self._collector)
        self._leases: Callable[[], Iterable[str]] | None = None
        self._lease_jobs: tuple[str, ...] = ()
        self._backlog_at = float("-inf")
        self._backlog_lock = asyncio.Lock()

    # ------------------------------------------------------------------ hooks

    def instrument_core(self, core: Core) -> None:
        """Wrap `core.handle` (an instance attribute: the channels call it through the
        instance): every event counted and timed, and its id in the log context of the task
        handling it (bot.logs)."""
        handle = core.handle

        @wraps(handle)
        async def timed(event: Inbound) -> Outcome:
            event_context(event.channel, event.event_id)
            started = time.perf_counter()
            try:
                outcome = await handle(event)
            except BaseException:
                self.updates.labels(event.channel, event.kind, "raised").inc()
                raise
            self.step_seconds.labels(event.channel).observe(time.perf_counter() - started)
            self.updates.labels(event.channel, event.kind,
                                "duplicate" if outcome.duplicate else "handled").inc()
            return outcome

        core.handle = timed  # type: ignore[method-assign]
        run_queued = core.run_queued

        @wraps(run_queued)
        async def timed_queued(chats: Sequence[tuple[str, str]]
                               ) -> list[tuple[Inbound, Outcome]]:
            started = time.perf_counter()
            pairs = await run_queued(chats)
            took = time.perf_counter() - started
            for event, outcome in pairs:   # one transaction: each event is charged all of it
                self.step_seconds.labels(event.channel).observe(took)
                self.updates.labels(event.channel, event.kind,
                                    "duplicate" if outcome.duplicate else "handled").inc()
            return pairs

        core.run_queued = timed_queued  # type: ignore[method-assign]
        record_queued = core.record_queued

        @wraps(record_queued)
        async def counted(events: Sequence[tuple[Inbound, int]]) -> set[tuple[str, str]]:
            fresh = await record_queued(events)
            for event, _seq in events:
                if (event.channel, event.event_id) in fresh:
                    self.recorded.labels(event.channel).inc()
                else:   # a redelivery, recognised as it is recorded
                    self.updates.labels(event.channel, event.kind, "duplicate").inc()
            return fresh

        core.record_queued = counted  # type: ignore[method-assign]

    def count_sends(self, senders: Iterable[Sender]) -> list[Sender]:
        """The senders, each counting its sends by result."""
        return [_CountedSender(s, self.deliveries) for s in senders]

    def watch_outbox(self, stats: Mapping[str, int]) -> None:
        """The outbox worker's own counters (`OutboxWorker.stats`), by result."""
        self._watched.append(_Watched(
            "sangkien_outbox_results", "Outbox rows by what the sender made of them (sent, "
            "retry, failed, unreachable, release: handed back unsent, lost: taken over by "
            "another sender before its send)", "result", stats))

    def watch_leases(self, jobs: Iterable[str], holding: Callable[[], Iterable[str]]) -> None:
        """The singleton jobs (`bot.leader.Leader.holding`) this process holds."""
        self._lease_jobs = tuple(jobs)
        self._leases = holding

    def log_handler(self) -> logging.Handler:
        """Counts ERROR records; add it to the root logger."""
        return _ErrorCounter(self.errors)

    # ------------------------------------------------------------------ scraping

    async def exposition(self) -> bytes:
        """The metrics in the Prometheus text format, database figures refreshed."""
        await self._refresh_backlog()
        if self._leases is not None:
            held = set(self._leases())
            for job in self._lease_jobs:
                self.jobs.labels(job).set(1 if job in held else 0)
        return generate_latest(self.registry)

    async def _refresh_backlog(self) -> None:
        if self.engine is None:
            return
        async with self._backlog_lock:   # concurrent scrapes share one count
            if time.monotonic() - self._backlog_at < self.backlog_ttl:
                return
            try:
                async with asyncio.timeout(BACKLOG_TIMEOUT), self.engine.connect() as conn:
                    counts = await conn.run_sync(lambda c: outbox_backlog(c, now=utcnow()))
            except Exception as exc:
                log.warning("metrics: the outbox backlog could not be counted (%s)",
                            type(exc).__name__)
                return
            self._backlog_at = time.monotonic()
            self.backlog.clear()
            for channel in {*self.channels, *(ch for ch, _state in counts)}:
                for state in BACKLOG_STATES:
                    self.backlog.labels(channel, state).set(counts.get((channel, state), 0))


class _CountedSender:
    """A `Sender` that counts what became of each send, then lets it go on its way."""

    def __init__(self, inner: Sender, counter: Counter) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.counter = counter

    async def deliver(self, chat_id: str, reply: Reply, locale: str) -> None:
        result = "error"
        try:
            await self.inner.deliver(chat_id, reply, locale)
            result = "sent"
        except RetryLater:
            result = "retry_later"
            raise
        except Transient:
            result = "transient"
            raise
        except Unreachable:
            result = "unreachable"
            raise
        except DeliveryError:
            result = "failed"
            raise
        finally:
            self.counter.labels(self.channel, result).inc()


class _ErrorCounter(logging.Handler):
    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.ERROR)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self.counter.labels(record.name).inc()


class _Watched:
    def __init__(self, name: str, doc: str, label: str, values: Mapping[str, int]) -> None:
        self.name, self.doc, self.label, self.values = name, doc, label, values


class _Callbacks(Collector):
    """Counters kept elsewhere (a dict of numbers), read at each scrape."""

    def __init__(self, watched: list[_Watched]) -> None:
        self.watched = watched

    def collect(self) -> Iterator[Metric]:
        for w in self.watched:
            family = CounterMetricFamily(w.name, w.doc, labels=[w.label])
            for key, value in sorted(w.values.items()):
                family.add_metric([key], value)
            yield family

    def describe(self) -> list[Any]:
        return []
