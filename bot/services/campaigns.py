"""Campaigns as a use case: create, list, show, preview, pause, resume, cancel, stats.

Called alike by the chat (`bot/flows/campaigns.py`), the CLI (`bot/cli_campaigns.py`) and
tests. Scope: a chair creates and manages campaigns for their unit and everything below it;
an administrator anywhere (the shell is one); support teams and members are refused, and
every refusal is logged. Results are typed; the words are the caller's.

    draft ──confirm──▶ scheduled ──first slot──▶ running ──last slot sent──▶ done
                           │  ▲                     │  ▲
                           ▼  │ resume        pause ▼  │ resume
                           paused ◀─────────────────┘
    any open state ──cancel──▶ cancelled
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Connection, update

from bot import campaign_text as ct
from bot.campaign_model import (
    AUDIENCES,
    DEFAULT_BELOW_PCT,
    DEFAULT_IDLE_DAYS,
    end_of,
    schedule_of,
    since_of,
)
from bot.campaign_schedule import (
    KINDS,
    QuietHours,
    ScheduleError,
    after_quiet,
    days_left,
    local,
    next_slot,
)
from bot.campaign_scheduler import PRIORITY, Delivery
from bot.i18n import gettext_for, normalise_locale
from bot.services.actor import Actor
from bot.services.permissions import covers_unit
from bot.services.results import Refused
from storage import campaigns as store
from storage.models import outbox_t

log = logging.getLogger("bot.services")

MANAGER_ROLES = ("chair",)          # admins hold every role
NAME_MAX = 120
# Sending estimates: messages a second per channel (Telegram's bulk rate; Zalo publishes
# none — the outbox's configured pace is passed in by the callers that know it).
DEFAULT_RATES: Mapping[str, float] = {"telegram": 30.0, "zalo": 10.0, "terminal": 100.0}


@dataclass(frozen=True, slots=True)
class Spec:
    """What a new campaign is: from the chat's steps or the CLI's options."""

    unit_code: str
    audience: str
    text: str
    kind: str                          # once | daily | weekly | before_end
    once_at: datetime | None = None    # once (UTC); None with kind once: now
    at_time: time | None = None
    weekday: int | None = None
    days: int | None = None
    until: date | None = None
    starts_on: date | None = None
    below_pct: int | None = None
    idle_days: int | None = None
    bloc: str | None = None
    cluster: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Invalid:
    """The campaign cannot be: `reason` is one of the keys of `INVALID`."""

    reason: str
    detail: str = ""


INVALID = ("unknown_unit", "audience", "empty_text", "text_too_long", "schedule",
           "no_end", "ended", "below_pct", "idle_days", "bloc")
BLOCS = ("enterprise", "public_service", "other")


@dataclass(frozen=True, slots=True)
class Created:
    campaign_id: int
    state: str
    next_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class Changed:
    campaign_id: int
    state: str


@dataclass(frozen=True, slots=True)
class Unchanged:
    """Not possible from the campaign's state (e.g. resuming a campaign that is done)."""

    campaign_id: int
    state: str


@dataclass(frozen=True, slots=True)
class Stats:
    campaign_id: int
    state: str
    queued: int
    sent: int
    failed: int
    unreachable: int
    waiting: int                 # queued, not sent yet
    cancelled: int               # queued, not sent: the campaign was cancelled first
    skipped_opted_out: int
    skipped_capped: int
    held_quiet: int
    slots_done: int
    slots: int


@dataclass(frozen=True, slots=True)
class Preview:
    campaign_id: int | None
    text: str | None                    # the message for one real recipient (None: nobody)
    options: tuple[dict[str, str], ...]
    recipient: str | None
    recipients: int
    per_channel: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    next_due_at: datetime | None = None


# ============================================================================ scope


def _refuse(actor: Actor, what: str, unit_id: int | None) -> Refused:
    log.info("refused: person %s tried campaign %s on unit %s", actor.person_id, what,
             unit_id if unit_id is not None else "-")
    return Refused()


def may_manage(*, conn: Connection, actor: Actor, unit_id: int) -> bool:
    return covers_unit(conn=conn, actor=actor, roles=MANAGER_ROLES, unit_id=unit_id)


def _campaign(conn: Connection, actor: Actor, campaign_id: int, what: str
              ) -> dict[str, Any] | Refused:
    """The campaign, if the actor may manage it (an unknown one is refused alike)."""
    c = store.get(conn, campaign_id=campaign_id)
    if c is None or not may_manage(conn=conn, actor=actor, unit_id=c["unit_id"]):
        return _refuse(actor, what, c["unit_id"] if c else None)
    return c


# ============================================================================ create


def create(*, conn: Connection, actor: Actor, now: datetime, spec: Spec, draft: bool = False
           ) -> Created | Invalid | Refused:
    """A new campaign, scheduled at once (or a draft, for a preview before confirming)."""
    unit = store.unit_by_code(conn, code=spec.unit_code.strip())
    if unit is None:
        if not actor.is_shell and not may_manage_somewhere(conn=conn, actor=actor):
            return _refuse(actor, "create", None)
        return Invalid("unknown_unit", spec.unit_code)
    if not may_manage(conn=conn, actor=actor, unit_id=unit["id"]):
        return _refuse(actor, "create", unit["id"])
    problem = _check(spec)
    if problem is not None:
        return problem
    values = {
        "owner_id": actor.person_id, "unit_id": unit["id"],
        "name": (spec.name or spec.text).strip()[:NAME_MAX],
        "starts_on": spec.starts_on or local(now).date(), "ends_on": spec.until,
        "audience": spec.audience, "bloc": spec.bloc or None, "cluster": spec.cluster or None,
        "below_pct": (spec.below_pct if spec.below_pct is not None else DEFAULT_BELOW_PCT)
        if spec.audience == "lagging_units" else None,
        "idle_days": (spec.idle_days or DEFAULT_IDLE_DAYS)
        if spec.audience == "idle_drafts" else None,
        "kind": spec.kind, "once_at": (spec.once_at or now) if spec.kind == "once" else None,
        "at_time": spec.at_time.strftime("%H:%M") if spec.at_time else None,
        "weekday": spec.weekday, "days": spec.days, "text": spec.text.strip(),
    }
    first = first_due(conn=conn, c=values, now=now)
    if isinstance(first, Invalid):
        return first
    state = "draft" if draft else "scheduled"
    campaign_id = store.create(conn, values={**values, "state": state, "next_due_at": first},
                               now=now)
    log.info("campaign %s created by person %s on unit %s (%s, %s)", campaign_id,
             actor.person_id, unit["id"], spec.audience, spec.kind)
    return Created(campaign_id, state, first)


def may_manage_somewhere(*, conn: Connection, actor: Actor) -> bool:
    from bot.services.permissions import holds_role
    return holds_role(conn=conn, actor=actor, roles=MANAGER_ROLES)


def _check(spec: Spec) -> Invalid | None:
    if spec.audience not in AUDIENCES:
        return Invalid("audience", spec.audience)
    text = spec.text.strip()
    if not text:
        return Invalid("empty_text")
    if len(text) > ct.TEXT_MAX:
        return Invalid("text_too_long", str(ct.TEXT_MAX))
    if spec.kind not in KINDS:
        return Invalid("schedule", spec.kind)
    if spec.kind == "weekly" and spec.weekday is None:
        return Invalid("schedule", "weekday")
    if spec.kind == "before_end" and (spec.days is None or spec.days < 0):
        return Invalid("schedule", "days")
    if spec.below_pct is not None and not 0 < spec.below_pct <= 1000:
        return Invalid("below_pct")
    if spec.idle_days is not None and not 0 < spec.idle_days <= 365:
        return Invalid("idle_days")
    if spec.bloc and spec.bloc not in BLOCS:
        return Invalid("bloc", spec.bloc)
    return None


def first_due(*, conn: Connection, c: dict[str, Any], now: datetime) -> datetime | Invalid:
    end = end_of(conn, c, now) if c["kind"] == "before_end" else None
    if c["kind"] == "before_end" and end is None:
        return Invalid("no_end")
    try:
        first = next_slot(schedule_of(c, end=end), after=now, inclusive=True)
    except ScheduleError as exc:
        return Invalid("schedule", str(exc))
    return first if first is not None else Invalid("ended")


def confirm(*, conn: Connection, actor: Actor, now: datetime, campaign_id: int
            ) -> Changed | Unchanged | Refused | Invalid:
    """A draft (previewed) is scheduled."""
    c = _campaign(conn, actor, campaign_id, "confirm")
    if isinstance(c, Refused):
        return c
    first = first_due(conn=conn, c=c, now=now) if c["kind"] != "once" else c["next_due_at"]
    if isinstance(first, Invalid):
        return first
    if not store.set_state(conn, campaign_id=campaign_id, from_states=("draft",),
                           to_state="scheduled", now=now, next_due_at=first):
        return Unchanged(campaign_id, c["state"])
    return Changed(campaign_id, "scheduled")


# ============================================================================ reading


def list_campaigns(*, conn: Connection, actor: Actor, limit: int = 20, offset: int = 0
                   ) -> list[dict[str, Any]] | Refused:
    """The shell and administrators: every campaign; a chair: their own."""
    if actor.is_shell:
        return store.listing(conn, owner_id=None, limit=limit, offset=offset)
    if not may_manage_somewhere(conn=conn, actor=actor):
        return _refuse(actor, "list", None)
    from storage import access
    admin = "admin" in access.roles_held(conn, person_id=actor.person_id or 0)
    return store.listing(conn, owner_id=None if admin else actor.person_id, limit=limit,
                         offset=offset)


def show(*, conn: Connection, actor: Actor, campaign_id: int) -> dict[str, Any] | Refused:
    return _campaign(conn, actor, campaign_id, "show")


def stats(*, conn: Connection, actor: Actor, campaign_id: int) -> Stats | Refused:
    c = _campaign(conn, actor, campaign_id, "stats")
    if isinstance(c, Refused):
        return c
    counts = store.outbox_counts(conn, campaign_id=campaign_id)
    slots = store.slots(conn, campaign_id=campaign_id)
    return Stats(
        campaign_id=campaign_id, state=c["state"], queued=sum(counts.values()),
        sent=counts.get("sent", 0), failed=counts.get("failed", 0),
        unreachable=counts.get("unreachable", 0), cancelled=counts.get(CANCELLED, 0),
        waiting=counts.get("pending", 0) + counts.get("sending", 0),
        skipped_opted_out=c["skipped_opted_out"], skipped_capped=c["skipped_capped"],
        held_quiet=c["held_quiet"], slots_done=sum(s["state"] == "done" for s in slots),
        slots=len(slots))


@dataclass(frozen=True, slots=True)
class Filters:
    """What a campaign of a unit can be narrowed to: the blocs and the emulation clusters
    of its subtree."""

    blocs: tuple[str, ...]
    clusters: tuple[str, ...]


def filters(*, conn: Connection, actor: Actor, unit_id: int) -> Filters | Refused:
    if not may_manage(conn=conn, actor=actor, unit_id=unit_id):
        return _refuse(actor, "filters", unit_id)
    blocs, clusters = store.filter_values(conn, root_id=unit_id)
    return Filters(tuple(b for b in BLOCS if b in blocs), tuple(clusters))


def preview(*, conn: Connection, actor: Actor, now: datetime, campaign_id: int,
            delivery: Delivery, rates: Mapping[str, float] = DEFAULT_RATES) -> Preview | Refused:
    """The message for one real recipient, how many people it goes to (opted-out people
    left out; the cap is not), and how long sending takes at the channels' rates."""
    c = _campaign(conn, actor, campaign_id, "preview")
    if isinstance(c, Refused):
        return c
    units = store.subtree_units(conn, root_id=c["unit_id"], bloc=c["bloc"], cluster=c["cluster"])
    since, idle_before = since_of(conn, c, now)
    per_channel = store.count_audience(conn, units=units, audience=c["audience"], since=since,
                                       idle_before=idle_before)
    per_channel.pop("none", None)
    person = store.first_person(conn, units=units, audience=c["audience"], since=since,
                                idle_before=idle_before)
    text, options, who = None, (), None
    if person is not None:
        locale = normalise_locale(None, delivery.default_locale)
        target = store.targets(conn, person_ids=[person["id"]]).get(person["id"])
        if target is not None:
            locale = normalise_locale(target.locale, delivery.default_locale)
        text, options = render_for(conn=conn, c=c, person=person, locale=locale, now=now,
                                   delivery=delivery)
        who = person["name"]
    rates = {**rates, **delivery.rates}
    seconds = max((n / rates.get(ch, 1.0) for ch, n in per_channel.items()), default=0.0)
    return Preview(campaign_id, text, tuple(options), who, sum(per_channel.values()),
                   per_channel, seconds, c["next_due_at"])


def render_for(*, conn: Connection, c: dict[str, Any], person: dict[str, Any], locale: str,
               now: datetime, delivery: Delivery) -> tuple[str | None, list[dict[str, str]]]:
    """The message as the scheduler would write it for `person` (a preview)."""
    _ = gettext_for(locale)
    used = ct.fields_used(c["text"])
    figures = (delivery.figures(conn=conn, unit_id=person["unit_id"], now=now)
               if used & ct.FIGURES and delivery.figures is not None else None)
    left = days_left(delivery.end_of(conn, c, now), now) if "days_left" in used else None
    body = ct.fill(c["text"], ct.values_for(locale=locale, name=person["name"],
                                            unit=person["unit_name"], days_left=left,
                                            figures=figures))
    options: list[dict[str, str]] = []
    if c["audience"] in ("lagging_units", "leaderboard"):
        report = (delivery.report(conn=conn, campaign=c, unit_id=person["unit_id"],
                                  locale=locale, now=now) if delivery.report else None)
        body = f"{body}\n\n{report}" if report else body
    if c["audience"] == "idle_drafts":
        options.append({"label": _("Go on with my draft"), "token": "a:draft:0",
                        "command": "/nhap"})
    return ct.message(_, sender=c["unit_name"], body=body), options


# ============================================================================ changes


def pause(*, conn: Connection, actor: Actor, now: datetime, campaign_id: int
          ) -> Changed | Unchanged | Refused:
    """No new slot is expanded, and messages queued but not sent wait."""
    c = _campaign(conn, actor, campaign_id, "pause")
    if isinstance(c, Refused):
        return c
    if not store.set_state(conn, campaign_id=campaign_id, from_states=("scheduled", "running"),
                           to_state="paused", now=now):
        return Unchanged(campaign_id, c["state"])
    _hold(conn, campaign_id, until=HELD)
    return Changed(campaign_id, "paused")


def resume(*, conn: Connection, actor: Actor, now: datetime, campaign_id: int,
           quiet: QuietHours | None = None) -> Changed | Unchanged | Refused | Invalid:
    """Slots are expanded again; queued messages are due (after quiet hours)."""
    c = _campaign(conn, actor, campaign_id, "resume")
    if isinstance(c, Refused):
        return c
    if c["state"] != "paused":
        return Unchanged(campaign_id, c["state"])
    due = c["next_due_at"]
    if due is not None and due < now and c["kind"] != "once":
        # Times missed while paused are skipped, not sent in a burst.
        again = first_due(conn=conn, c=c, now=now)
        due = None if isinstance(again, Invalid) else again
    started = bool(store.slots(conn, campaign_id=campaign_id))
    to_state = "running" if started else "scheduled"
    if due is None and store.open_slots(conn, campaign_id=campaign_id) == 0:
        to_state = "done"
    if not store.set_state(conn, campaign_id=campaign_id, from_states=("paused",),
                           to_state=to_state, now=now, next_due_at=due):
        return Unchanged(campaign_id, c["state"])
    _hold(conn, campaign_id, until=after_quiet(quiet, now))
    return Changed(campaign_id, to_state)


def cancel(*, conn: Connection, actor: Actor, now: datetime, campaign_id: int
           ) -> Changed | Unchanged | Refused:
    """Stopped for good: no further slot, and queued messages are not sent (counted as
    cancelled, not as failed)."""
    c = _campaign(conn, actor, campaign_id, "cancel")
    if isinstance(c, Refused):
        return c
    if not store.set_state(conn, campaign_id=campaign_id, from_states=store.OPEN,
                           to_state="cancelled", now=now, next_due_at=None):
        return Unchanged(campaign_id, c["state"])
    store.cancel_slots(conn, campaign_id=campaign_id, now=now)
    conn.execute(update(outbox_t).where(*_campaign_rows(campaign_id),
                                        outbox_t.c.status == "pending")
                 .values(status=CANCELLED))
    return Changed(campaign_id, "cancelled")


# The outbox status of a cancelled campaign's messages that were still waiting: never claimed
# (claims take pending rows), purged with the finished ones (`storage.outbox.FINISHED`).
CANCELLED = "cancelled"

# A paused campaign's queued messages wait until this far-off time (resume sets them due).
HELD = datetime(2100, 1, 1, tzinfo=UTC)


def _campaign_rows(campaign_id: int) -> list[Any]:
    return [store.campaign_rows(campaign_id), outbox_t.c.priority == PRIORITY]


def _hold(conn: Connection, campaign_id: int, *, until: datetime) -> None:
    conn.execute(update(outbox_t).where(*_campaign_rows(campaign_id),
                                        outbox_t.c.status == "pending")
                 .values(not_before=until))


# ============================================================================ opting out


def set_opt_out(*, conn: Connection, actor: Actor, now: datetime, off: bool) -> None:
    """/tatthongbao (off) and /batthongbao: campaign messages only; review alerts still come."""
    if actor.person_id is not None:
        store.set_opt_out(conn, person_id=actor.person_id, off=off, now=now)
