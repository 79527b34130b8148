"""`sangkien run`: the processes of a deployment, by role.

* `web`: the web application (handlers/web.py) — the channels' webhooks, /healthz, /readyz,
  /metrics. Any number may serve one database behind one address. Channels must be in
  webhook mode (TELEGRAM_WEBHOOK_URL, ZALO_WEBHOOK_URL): polling is for one process only.
* `worker`: the outbox sender (several may run: rows are claimed with a lease) and the
  singleton jobs (bot/jobs.py: digests, upkeep), each held by one worker at a time
  (bot/leader.py). /healthz, /readyz and /metrics when given a port (--port, WORKER_PORT).
* `all` (the default): both in one process; channels without a webhook URL poll, as before.
  The web application is served when a channel has a webhook, or WEB_PORT is set.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from contextlib import AsyncExitStack
from typing import Literal

from bot import channels
from bot.campaign_delivery import delivery_from
from bot.config import Settings
from bot.core import Core
from bot.jobs import worker_jobs
from bot.leader import Leader
from bot.metrics import Metrics
from bot.outbox import OutboxWorker, Pace

Role = Literal["all", "web", "worker"]
ROLES: tuple[Role, ...] = ("all", "web", "worker")

log = logging.getLogger("sangkien")

# The steps' Python (the core's thread) and the event loop (acknowledgements, sends) share the
# interpreter lock; a thread waiting for it gets it after this long at most (Python's default
# is 5 ms), and an acknowledgement waits for it several times (measured at 300 updates/s with
# two web processes: p99 37 ms at 1 ms, 65 ms at 5 ms).
SWITCH_INTERVAL = 0.001


async def serve(core: Core, settings: Settings, plugins: list[channels.Plugin], *,
                role: Role = "all", host: str | None = None, port: int | None = None) -> int:
    """Run the process's part until SIGINT/SIGTERM (0) or a channel fails (1)."""
    receives, sends = role in ("all", "web"), role in ("all", "worker")
    if receives:
        sys.setswitchinterval(SWITCH_INTERVAL)
    polling = [p.name for p in plugins if p.channel is not None and not p.routes]
    if role == "web" and polling:
        log.critical("--role web takes updates through webhooks only; %s has no webhook URL "
                     "(TELEGRAM_WEBHOOK_URL, ZALO_WEBHOOK_URL): set it, or poll from one "
                     "process with --role all", ", ".join(polling))
        return 1
    metrics = Metrics(engine=core.engine, channels=[p.name for p in plugins])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with AsyncExitStack() as stack:
        counting = metrics.log_handler()
        logging.getLogger().addHandler(counting)
        stack.callback(logging.getLogger().removeHandler, counting)
        started: list[channels.Channel] = []
        if receives:
            metrics.instrument_core(core)
        web_address = http_address(settings, role, plugins, host, port)
        if web_address is not None:
            # Listening before the channels start: a webhook may deliver as soon as it is set.
            web = channels.web_server(
                routes=[r for p in plugins for r in p.routes] if receives else [],
                engine=core.engine, metrics=metrics, host=web_address[0], port=web_address[1])
            await web.start()
            stack.push_async_callback(web.stop)   # should a channel fail to start
        for plugin in plugins:
            try:
                if receives and plugin.channel is not None:
                    await plugin.channel.start()
                    started.append(plugin.channel)
                    stack.push_async_callback(plugin.channel.stop)
                elif sends and plugin.open_senders is not None:
                    await plugin.open_senders()
                    if plugin.close_senders is not None:
                        stack.push_async_callback(plugin.close_senders)
            except Exception as exc:   # a rejected token, an unreachable API: said, no traceback
                log.critical("%s could not start: %s", plugin.name, exc)
                return 1
        if web_address is not None:
            # Again (a second stop does nothing), to unwind before the channels: the web
            # application stops taking requests, those in progress finish, then the
            # channels stop and their clients close.
            stack.push_async_callback(web.stop)
        held = ""
        if sends:
            worker = OutboxWorker(core.engine, metrics.count_sends(
                s for p in plugins for s in p.senders),
                pace={ch: Pace(rate, gap, part_chars=longest)
                      for ch, (rate, gap, longest) in settings.outbox_pace().items()})
            metrics.watch_outbox(worker.stats)
            core.on_enqueued = worker.wake
            await worker.start()
            stack.push_async_callback(worker.stop)  # before the channels: sends in flight
            leader = Leader(core.engine, worker_jobs(
                core, default_locale=settings.default_language, wake=worker.wake,
                replies_every=settings.upkeep_seconds,
                unsent_after=settings.unsent_reply_seconds,
                campaigns=delivery_from(settings), campaigns_every=settings.campaign_every_seconds),
                ttl=settings.job_lease_seconds, renew=settings.job_lease_seconds / 3)
            metrics.watch_leases(leader.jobs, lambda: leader.holding)
            await leader.start()
            stack.push_async_callback(leader.stop)
            held = f"; jobs {', '.join(leader.jobs)} as {leader.holder}"
        # What is loaded by now (modules, PTB, SQLAlchemy's metadata, Babel's data) lives as
        # long as the process: take it out of the cyclic collector's full passes, each of
        # which otherwise walks it all (measured: a 120 ms pause for every chat, every few
        # thousand messages; none after the freeze).
        gc.collect()
        gc.freeze()
        log.info("running: %s (%d long-lived objects kept out of garbage collection); "
                 "role %s%s", ", ".join(p.name for p in plugins) or "no channel",
                 gc.get_freeze_count(), role, held)
        stopping = asyncio.create_task(stop.wait())
        watched = [t for ch in started for t in channels.fatal_tasks(ch)]
        done, _pending = await asyncio.wait([stopping, *watched],
                                            return_when=asyncio.FIRST_COMPLETED)
        failed = stopping not in done
        if failed:
            log.critical("a channel stopped working: shutting down")
        stopping.cancel()
    return 1 if failed else 0


def http_address(settings: Settings, role: Role, plugins: list[channels.Plugin],
                 host: str | None, port: int | None) -> tuple[str, int] | None:
    """Where this process serves HTTP, or None when it does not."""
    default_host, default_port = settings.listen_address()
    if role == "worker":
        port = port if port is not None else settings.worker_port
        return None if port is None else (host or default_host, port)
    webhooks = any(p.routes for p in plugins)
    if role == "all" and not (webhooks or settings.listen_configured() or port is not None):
        return None
    return (host or default_host, port if port is not None else default_port)
