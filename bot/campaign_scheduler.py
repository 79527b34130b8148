"""The campaigns' scheduler: due slots are made, then expanded into outbox rows in batches.

`make_slots` turns each due campaign's next time into a slot row (once: the slot key is the
campaign's nominal local time, unique per campaign) and moves the campaign to its following
time. `expand_batch` takes the oldest due slot — locked, so a second scheduler takes another
or waits — and queues the next `batch` people of its audience after the slot's cursor, in one
transaction with the cursor's advance, the skip counters and the cap's counts. A crash at any
point loses only an uncommitted batch, redone from the same cursor; the outbox's unique key
of a campaign's rows, (slot, account), stands behind that. Nothing holds more than
one batch of the audience in memory.

`run_tick` is the singleton job's body (`bot.jobs`): slots, then batches until none is due or
the round's time is up.
"""

from __future__ import annotations

import json
import logging
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import campaign_text as ct
from bot.campaign_model import end_of, schedule_of, since_of
from bot.campaign_schedule import (
    Cap,
    QuietHours,
    after_quiet,
    days_left,
    local_today,
    next_slot,
    slot_key,
    week_start,
)
from bot.formatting import esc, name_case
from bot.i18n import gettext_for, normalise_locale
from storage import campaigns as store

log = logging.getLogger(__name__)

BATCH = 2000
PRIORITY = 9


@dataclass
class Delivery:
    """What the scheduler needs besides the database: settings, and where figures and
    rendered reports come from (audiences 4 and 5: `bot.campaign_reports`)."""

    quiet: QuietHours | None = None
    cap: Cap = field(default_factory=Cap)
    batch: int = BATCH
    default_locale: str = "vi"
    # (conn=, unit_id=, now=) → the unit's figures, for the placeholders
    figures: Callable[..., ct.UnitFigures] | None = None
    # audiences 4 and 5: (conn=, campaign=, unit_id= the unit the person holds a role on,
    # locale=, now=) → the report's HTML, or None when there is nothing to tell them
    report: Callable[..., str | None] | None = None
    end_of: Callable[[Connection, dict[str, Any], datetime], date | None] = end_of
    # messages a second per channel, for a preview's estimate (the outbox's pace)
    rates: dict[str, float] = field(default_factory=dict)


# ============================================================================ slots


def make_slots(conn: Connection, *, now: datetime, delivery: Delivery, limit: int = 100) -> int:
    """A slot for each due campaign; each campaign moves to its next time (missed times while
    nobody ran are skipped, not sent in a burst). Returns the slots made."""
    made = 0
    for c in store.due_campaigns(conn, now=now, limit=limit):
        nominal = c["next_due_at"]
        due = after_quiet(delivery.quiet, nominal)
        store.add_slot(conn, campaign_id=c["id"], slot_key=slot_key(nominal), due_at=due,
                       now=now)
        sched = schedule_of(c, end=_end(conn, c, now, delivery))
        following = next_slot(sched, after=max(nominal, now))
        store.set_state(conn, campaign_id=c["id"], from_states=store.ACTIVE, to_state="running",
                        now=now, next_due_at=following)
        made += 1
    return made


def _end(conn: Connection, c: dict[str, Any], now: datetime, delivery: Delivery) -> date | None:
    return delivery.end_of(conn, c, now)


# ============================================================================ expansion


@dataclass(frozen=True, slots=True)
class BatchResult:
    campaign_id: int
    slot_id: int
    people: int
    queued: int
    finished: bool


def expand_batch(conn: Connection, *, now: datetime, delivery: Delivery,
                 slot: dict[str, Any] | None = None) -> BatchResult | None:
    """Queue the next batch of the oldest due slot (or `slot`, already locked); None when
    no slot is due. Run it in a transaction of its own."""
    slot = slot or store.pick_slot(conn, now=now)
    if slot is None:
        return None
    store.relaxed_commit(conn)
    c = store.get(conn, campaign_id=slot["campaign_id"])
    assert c is not None
    if slot["cursor_unit"] is None:
        store.fill_slot_units(conn, slot_id=slot["id"], root_id=c["unit_id"], bloc=c["bloc"],
                              cluster=c["cluster"])
    since, idle_before = since_of(conn, c, now)
    day = local_today(after_quiet(delivery.quiet, now))
    people = store.audience_batch(
        conn, slot_id=slot["id"], audience=c["audience"], after_unit=slot["cursor_unit"],
        after=slot["cursor"], limit=delivery.batch, since=since, idle_before=idle_before,
        today=day, week_from=week_start(day))
    queued = 0
    if people:
        queued = _queue(conn, c=c, slot=slot, people=people, now=now, delivery=delivery,
                        idle_before=idle_before)
        last = people[-1]
        store.advance_slot(conn, slot_id=slot["id"], cursor_unit=last.unit_id, cursor=last.id,
                           queued=queued)
    finished = len(people) < delivery.batch
    if finished:
        store.finish_slot(conn, slot_id=slot["id"], now=now)
        if c["next_due_at"] is None and store.open_slots(conn, campaign_id=c["id"]) == 0:
            store.set_state(conn, campaign_id=c["id"], from_states=store.ACTIVE,
                            to_state="done", now=now)
    if queued:
        conn.info["sangkien.outbox_written"] = True
    return BatchResult(c["id"], slot["id"], len(people), queued, finished)


def _queue(conn: Connection, *, c: dict[str, Any], slot: dict[str, Any],
           people: list[store.Person], now: datetime, delivery: Delivery,
           idle_before: datetime | None) -> int:
    not_before = after_quiet(delivery.quiet, now)
    day = local_today(not_before)
    wanted = [p for p in people if not p.opted_out]
    fetch = [p.id for p in wanted if not p.prefetched]
    targets = store.targets(conn, person_ids=fetch)
    counts = store.sends(conn, person_ids=[i for i in fetch if i in targets],
                         since=week_start(day))
    reachable = [p.id for p in wanted if (p.target if p.prefetched else p.id in targets)]
    drafts = (store.idle_drafts(conn, person_ids=reachable, idle_before=idle_before or now)
              if c["audience"] == "idle_drafts" else {})
    template = ct.Template(c["text"])
    used = template.used
    named = "name" in used
    # (the account's locale, the unit) → (its number in `texts`, its gettext); None: nothing
    # to tell that unit's people (audiences 4 and 5)
    frames: dict[tuple[str | None, int], tuple[int, Any] | None] = {}
    texts: list[tuple[str, list[str]]] = []   # (the locale used, the text around the names)
    left = days_left(_end(conn, c, now, delivery), now) if "days_left" in used else None
    reports = c["audience"] in ("lagging_units", "leaderboard")
    allows = delivery.cap.allows
    rows: list[tuple[Any, ...]] = []
    bumps: list[int] = []     # the people of `rows`, in order
    others: list[int] = []    # … and their messages on the cap's other days
    seen: set[int] | None = set() if reports else None
    capped = 0
    for p in wanted:
        if p.prefetched:
            target, today, week = p.target, p.sent_today, p.sent_week
        else:
            target = targets.get(p.id)
            sent = counts.get(p.id, {})
            today, week = sent.get(day, 0), sum(sent.values())
        if target is None:
            continue   # no reachable account: nobody to write to
        if not allows(today=today, week=week):
            capped += 1
            continue
        fkey = (target.locale, p.unit_id)
        if fkey not in frames:
            made = _frame(conn, c=c, template=template, locale=target.locale,
                          unit_id=p.unit_id, unit_name=p.unit_name, left=left, now=now,
                          delivery=delivery, reports=reports)
            frames[fkey] = None if made is None else (len(texts), made[2])
            if made is not None:
                texts.append((made[0], made[1].around()))
        frame = frames[fkey]
        if frame is None:
            continue
        if seen is not None:   # audiences 4 and 5: a person is told about their first unit
            if p.id in seen:     # (the outbox's key is the account's: one message a slot)
                continue
            seen.add(p.id)
        number, _ = frame
        options = None   # none ("[]")
        if p.id in drafts:
            options = json.dumps([{"label": _("Go on with my draft"),
                                   "token": f"a:draft:{drafts[p.id]['id']}",
                                   "command": "/nhap"}], ensure_ascii=False)
        rows.append((target.channel, target.chat_id, target.account_id, number,
                     esc(_name(p.name)) if named else "", options))
        bumps.append(p.id)
        others.append(week - today)
    # The cap once more, under the count's lock: another campaign's batch (PostgreSQL: a
    # second scheduler) may have queued these people a message since their counts were read.
    recounted = store.bump_sends(conn, person_ids=bumps, day=day)
    if recounted:
        over = {pid for pid, other in zip(bumps, others, strict=True)
                if pid in recounted and not allows(today=recounted[pid] - 1,
                                                   week=other + recounted[pid] - 1)}
        if over:
            store.unbump_sends(conn, person_ids=list(over), day=day)
            rows = [r for r, pid in zip(rows, bumps, strict=True) if pid not in over]
            capped += len(over)
    queued = store.queue_campaign(conn, slot_id=slot["id"], texts=texts, rows=rows,
                                  not_before=not_before, now=now, priority=PRIORITY)
    store.add_counts(conn, campaign_id=c["id"], opted_out=len(people) - len(wanted),
                     capped=capped, quiet=len(rows) if not_before > now else 0)
    return queued


def _name(name: str) -> str:
    """`name_case`, without its word-by-word walk for a name already written in title case
    (most are: then no word starts with a small letter)."""
    if not name:
        return ct.MISSING
    return name if name.istitle() else name_case(name)


def _frame(conn: Connection, *, c: dict[str, Any], template: ct.Template, locale: str | None,
           unit_id: int, unit_name: str, left: int | None, now: datetime, delivery: Delivery,
           reports: bool) -> tuple[str, ct.Framed, Any] | None:
    """The message for one union's people in one language, but for their names."""
    used = template.used
    code = normalise_locale(locale, delivery.default_locale)
    g = gettext_for(code)
    head, _sep, foot = ct.message(g, sender=c["unit_name"], body="\0").partition("\0")
    figures = (delivery.figures(conn=conn, unit_id=unit_id, now=now)
               if used & ct.FIGURES and delivery.figures is not None else None)
    if reports:
        report = (delivery.report(conn=conn, campaign=c, unit_id=unit_id, locale=code,
                                  now=now) if delivery.report else None)
        if report is None:
            return None
        foot = f"\n\n{report}{foot}"
    values = ct.values_for(locale=code, name="", unit=unit_name, days_left=left,
                           figures=figures, used=used - {"name"})
    return code, template.framed(values, head=head, foot=foot), g


# ============================================================================ the job


@dataclass
class TickResult:
    slots: int = 0
    batches: int = 0
    queued: int = 0


async def run_tick(engine: AsyncEngine, *, now: Callable[[], datetime], delivery: Delivery,
                   budget: float = 20.0,
                   on_batch: Callable[[BatchResult], None] | None = None) -> TickResult:
    """One round of the job: make due slots, then expand batches (one transaction each)
    until none is due or `budget` seconds have passed."""
    out = TickResult()
    async with engine.begin() as conn:
        out.slots = await conn.run_sync(lambda c: make_slots(c, now=now(), delivery=delivery))
    started = _time.monotonic()
    while _time.monotonic() - started < budget:
        async with engine.begin() as conn:
            result = await conn.run_sync(lambda c: expand_batch(c, now=now(), delivery=delivery))
        if result is None:
            break
        out.batches += 1
        out.queued += result.queued
        if on_batch is not None:
            on_batch(result)
    if out.slots or out.queued:
        log.info("campaigns: %d slots made, %d messages queued in %d batches", out.slots,
                 out.queued, out.batches)
    return out


def forget_old_sends(conn: Connection, *, now: datetime) -> int:
    """The cap counts 7 days: older rows only take room."""
    return store.forget_sends(conn, before=local_today(now) - timedelta(days=8))
