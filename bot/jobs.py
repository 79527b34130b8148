"""The worker's singleton jobs (`bot.leader`): each runs in one worker process at a time.

* `digests`, every minute: the daily digests that are due (idempotent per person and day);
* `upkeep`, every five minutes: fold the progress deltas into the totals and freeze the
  phases that have ended (bot/progress_jobs.py); forget inbound event ids after 7 days and
  sent outbox messages after 30;
* `replies`, every UPKEEP_SECONDS: replies a process committed and died before sending, on
  a channel that will not deliver the update again, go through the outbox.

* `campaigns`, every CAMPAIGN_EVERY_SECONDS: due campaign slots are made and expanded into
  the outbox (`bot.campaign_scheduler`), when the caller passes their `Delivery`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from bot.campaign_scheduler import Delivery, forget_old_sends, run_tick
from bot.core import Core
from bot.leader import SingletonJob, singleton_job
from bot.progress_jobs import progress_upkeep
from bot.services.digests import compose_digests
from storage import outbox as outbox_store
from storage.engine import utcnow

log = logging.getLogger(__name__)

DIGESTS_EVERY = 60.0
UPKEEP_EVERY = 300.0
KEEP_SENT = timedelta(days=30)


def worker_jobs(core: Core, *, default_locale: str,
                wake: Callable[[], None] | None = None, replies_every: float = 60.0,
                unsent_after: float = 60.0, campaigns: Delivery | None = None,
                campaigns_every: float = 30.0) -> list[SingletonJob]:
    """`wake`: called when a round wrote outbox messages (the outbox sender's `wake`)."""

    async def digests() -> None:
        async with core.engine.begin() as conn:
            made = await conn.run_sync(lambda c: compose_digests(
                conn=c, now=utcnow(), default_locale=default_locale))
        if made:
            log.info("digests: %d composed", made)
            if wake is not None:
                wake()

    async def upkeep() -> None:
        await progress_upkeep(core.engine, now=utcnow())
        events = await core.prune_events()
        async with core.engine.begin() as conn:
            sent = await conn.run_sync(lambda c: outbox_store.prune(
                c, before=utcnow() - KEEP_SENT))
        if events or sent:
            log.info("upkeep: %s old event ids and %s sent messages forgotten", events, sent)

    async def replies() -> None:
        moved = await core.recover_unsent(older_than=timedelta(seconds=unsent_after))
        if moved:
            log.info("replies: %d events' unsent replies handed to the outbox", moved)
            if wake is not None:
                wake()

    async def campaign_round() -> None:
        assert campaigns is not None
        done = await run_tick(core.engine, now=utcnow, delivery=campaigns,
                              budget=max(1.0, campaigns_every * 0.8))
        if done.queued and wake is not None:
            wake()
        if done.slots:   # a slot a day at most per campaign: the cap's old days go with it
            async with core.engine.begin() as conn:
                await conn.run_sync(lambda c: forget_old_sends(c, now=utcnow()))

    jobs = [singleton_job("digests", every=DIGESTS_EVERY, run=digests),
            singleton_job("upkeep", every=UPKEEP_EVERY, run=upkeep),
            singleton_job("replies", every=replies_every, run=replies)]
    if campaigns is not None:
        jobs.append(singleton_job("campaigns", every=campaigns_every, run=campaign_round))
    return jobs
