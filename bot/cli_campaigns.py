"""`sangkien campaign …`: the administrator's side of campaigns, on the same services as the
chat's /chiendich (the shell is an administrator).

    sangkien campaign create --unit CODE --audience AUDIENCE --text TEXT
        (--now | --at "YYYY-MM-DD HH:MM" | --daily HH:MM | --weekly DAY HH:MM | --before-end N)
        [--until DATE] [--below PCT] [--idle-days N] [--bloc B] [--cluster NAME] [--name NAME]
    sangkien campaign list
    sangkien campaign show|preview|pause|resume|cancel ID [--follow]

`create --now` queues the messages at once, with a progress bar; `show --follow` draws one
while the workers send them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.campaign_delivery import delivery_from
from bot.campaign_model import AUDIENCES
from bot.campaign_schedule import (
    DEFAULT_TIME,
    ScheduleError,
    parse_hhmm,
    parse_local,
    parse_weekday,
)
from bot.campaign_scheduler import Delivery, expand_batch, make_slots
from bot.config import Settings
from bot.formatting import html_to_plain, local_datetime, number
from bot.i18n import Gettext, normalise_locale, translations
from bot.labels import AUDIENCE_LABELS, STATE_LABELS
from bot.services import campaigns as svc
from bot.services.actor import Actor
from bot.services.results import Refused
from storage import campaigns as store
from storage.engine import utcnow

COMMAND = "campaign"
ACTIONS = ("create", "list", "show", "preview", "pause", "resume", "cancel")
BAR = 30


def add_parser(subparsers: Any, *, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    camp = subparsers.add_parser(COMMAND, parents=list(parents),
                                 help="campaigns: scheduled, targeted messages")
    sub = camp.add_subparsers(dest="campaign_action", required=True)
    create = sub.add_parser("create", parents=list(parents), help="create a campaign")
    create.add_argument("--unit", required=True, help="the unit whose subtree is addressed")
    create.add_argument("--audience", required=True, choices=AUDIENCES)
    create.add_argument("--text", required=True,
                        help="the message; placeholders {ten} {donvi} {songayconlai} "
                        "{phantram} {conthieu} {hang} (or {name} {unit} {days_left} {pct} "
                        "{shortfall} {rank})")
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument("--now", action="store_true", help="send now")
    when.add_argument("--at", metavar="'YYYY-MM-DD HH:MM'", help="once, at this local time")
    when.add_argument("--daily", metavar="HH:MM")
    when.add_argument("--weekly", nargs=2, metavar=("DAY", "HH:MM"))
    when.add_argument("--before-end", type=int, metavar="N",
                      help="every day of the last N days before the end, at --time")
    create.add_argument("--time", metavar="HH:MM", help="--before-end's time (default 08:00)")
    create.add_argument("--until", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="the campaign's last day")
    create.add_argument("--below", type=int, metavar="PCT", help="lagging_units: below PCT%%")
    create.add_argument("--idle-days", type=int, metavar="N", help="idle_drafts: N days")
    create.add_argument("--bloc", choices=svc.BLOCS)
    create.add_argument("--cluster", metavar="NAME", help="an emulation cluster")
    create.add_argument("--name", default="")
    sub.add_parser("list", parents=list(parents), help="the campaigns, newest first")
    for action in ACTIONS[2:]:
        one = sub.add_parser(action, parents=list(parents), help=f"{action} a campaign")
        one.add_argument("id", type=int)
        if action == "show":
            one.add_argument("--follow", action="store_true",
                             help="draw a progress bar while the messages are sent")


async def run(args: argparse.Namespace, engine: AsyncEngine, settings: Settings) -> int:
    locale = normalise_locale(settings.default_language)
    _ = translations(locale).gettext
    delivery = delivery_from(settings)
    action = args.campaign_action
    if action == "create":
        return await _create(args, engine, delivery, _, locale)
    if action == "list":
        return await _list(engine, _, locale)
    return await _one(action, args, engine, delivery, _, locale)


def spec_from(args: argparse.Namespace) -> svc.Spec:
    kind, values = "once", {}
    if args.at:
        values["once_at"] = parse_local(args.at)
    elif args.daily:
        kind, values["at_time"] = "daily", parse_hhmm(args.daily)
    elif args.weekly:
        kind = "weekly"
        values["weekday"], values["at_time"] = (parse_weekday(args.weekly[0]),
                                                parse_hhmm(args.weekly[1]))
    elif args.before_end is not None:
        kind, values["days"] = "before_end", args.before_end
        values["at_time"] = parse_hhmm(args.time) if args.time else DEFAULT_TIME
    return svc.Spec(unit_code=args.unit, audience=args.audience, text=args.text, kind=kind,
                    until=args.until, below_pct=args.below, idle_days=args.idle_days,
                    bloc=args.bloc, cluster=args.cluster, name=args.name, **values)


def invalid_text(_: Gettext, out: svc.Invalid) -> str:
    return {
        "unknown_unit": _("No unit has the code {code}."),
        "audience": _("Unknown audience: {detail}."),
        "empty_text": _("The message is empty."),
        "text_too_long": _("The message is too long (at most {detail} characters)."),
        "schedule": _("That schedule cannot be: {detail}."),
        "no_end": _("A countdown needs an end: give the campaign's last day (--until), or "
                    "define the current phase."),
        "ended": _("That schedule has no time left to send at."),
        "below_pct": _("The percentage must be between 1 and 1000."),
        "idle_days": _("The number of days must be between 1 and 365."),
        "bloc": _("Unknown bloc: {detail}."),
    }[out.reason].format(code=out.detail, detail=out.detail)


async def _create(args: argparse.Namespace, engine: AsyncEngine, delivery: Delivery,
                  _: Gettext, locale: str) -> int:
    try:
        spec = spec_from(args)
    except ScheduleError as exc:
        print(_("That schedule cannot be: {detail}.").format(detail=exc), file=sys.stderr)
        return 2
    now = utcnow()
    async with engine.begin() as conn:
        out = await conn.run_sync(lambda c: svc.create(conn=c, actor=Actor.shell(), now=now,
                                                       spec=spec))
    if isinstance(out, svc.Invalid):
        print(invalid_text(_, out), file=sys.stderr)
        return 2
    assert isinstance(out, svc.Created)
    print(_("Campaign {id} created.").format(id=out.campaign_id))
    if out.next_due_at is not None and out.next_due_at > now:
        print(_("First sending: {when}.").format(when=local_datetime(out.next_due_at,
                                                                      locale)))
        return 0
    return await queue_now(engine, out.campaign_id, delivery, _, locale)


async def queue_now(engine: AsyncEngine, campaign_id: int, delivery: Delivery, _: Gettext,
                    locale: str) -> int:
    """The due slot expanded here and now, batch after batch, with a progress bar (the
    scheduler job would do the same; the slot's lock keeps the two from overlapping)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: make_slots(c, now=utcnow(), delivery=delivery))
        pv = await conn.run_sync(lambda c: svc.preview(
            conn=c, actor=Actor.shell(), now=utcnow(), campaign_id=campaign_id,
            delivery=delivery))
    total = pv.recipients if isinstance(pv, svc.Preview) else 0
    people = queued = 0
    label = _("Queued")
    while True:
        async with engine.begin() as conn:
            result = await conn.run_sync(lambda c: _next_batch(c, campaign_id, delivery))
        if result is None:
            break
        people += result.people
        queued += result.queued
        bar(label, min(people, total) if total else people, total, locale)
        if result.finished:
            break
    print(file=sys.stderr)
    async with engine.connect() as conn:
        slots = await conn.run_sync(lambda c: store.slots(c, campaign_id=campaign_id))
    held = [s["due_at"] for s in slots if s["state"] == "pending" and s["due_at"] > utcnow()]
    if held:
        print(_("Quiet hours: the messages are written at {when}, when they end.").format(
            when=local_datetime(held[0], locale)))
        return 0
    print(_("{n} messages queued; the workers send them (sangkien campaign show {id} "
            "--follow).").format(n=number(queued, locale), id=campaign_id))
    return 0


def _next_batch(conn: Any, campaign_id: int, delivery: Delivery) -> Any:
    slot = store.pick_slot(conn, now=utcnow(), campaign_id=campaign_id)
    return None if slot is None else expand_batch(conn, now=utcnow(), delivery=delivery,
                                                  slot=slot)


def bar(label: str, done: int, total: int, locale: str) -> None:
    filled = BAR * done // total if total else BAR
    pct = 100 * done // total if total else 100
    sys.stderr.write(f"\r{label} [{'█' * filled}{'·' * (BAR - filled)}] "
                     f"{number(done, locale)}/{number(total, locale)} ({pct}%)")
    sys.stderr.flush()


async def _list(engine: AsyncEngine, _: Gettext, locale: str) -> int:
    async with engine.connect() as conn:
        rows = await conn.run_sync(lambda c: svc.list_campaigns(conn=c, actor=Actor.shell(),
                                                                limit=50))
    assert not isinstance(rows, Refused)
    if not rows:
        print(_("No campaigns yet."))
    for c in rows:
        when = local_datetime(c["next_due_at"], locale) if c["next_due_at"] else "–"
        print(f"{c['id']:>5}  {_(STATE_LABELS[c['state']]):<12} {c['audience']:<13} "
              f"{c['unit_code']:<12} "
              f"{when:<16}  {c['name'][:50]}")
    return 0


async def _one(action: str, args: argparse.Namespace, engine: AsyncEngine,
               delivery: Delivery, _: Gettext, locale: str) -> int:
    actor, now, cid = Actor.shell(), utcnow(), args.id
    async with engine.begin() as conn:
        if action == "preview":
            out: Any = await conn.run_sync(lambda c: svc.preview(
                conn=c, actor=actor, now=now, campaign_id=cid, delivery=delivery))
        elif action in ("pause", "cancel"):
            fn = svc.pause if action == "pause" else svc.cancel
            out = await conn.run_sync(lambda c: fn(conn=c, actor=actor, now=now,
                                                   campaign_id=cid))
        elif action == "resume":
            out = await conn.run_sync(lambda c: svc.resume(
                conn=c, actor=actor, now=now, campaign_id=cid, quiet=delivery.quiet))
        else:
            out = await conn.run_sync(lambda c: (svc.show(conn=c, actor=actor, campaign_id=cid),
                                                 svc.stats(conn=c, actor=actor,
                                                           campaign_id=cid)))
    if isinstance(out, Refused) or (isinstance(out, tuple) and isinstance(out[0], Refused)):
        print(_("No campaign has the number {id}.").format(id=cid), file=sys.stderr)
        return 2
    if isinstance(out, svc.Changed):
        print(_("Campaign {id} is now {state}.").format(id=cid, state=_(STATE_LABELS[out.state])))
        return 0
    if isinstance(out, svc.Unchanged):
        print(_("Campaign {id} is {state}: nothing was changed.").format(
            id=cid, state=_(STATE_LABELS[out.state])),
              file=sys.stderr)
        return 1
    if isinstance(out, svc.Preview):
        print(preview_text(_, out, locale))
        return 0
    c, stats = out
    print(f"#{c['id']} {c['name']}\n{c['unit_name']} · {_(AUDIENCE_LABELS[c['audience']])} · "
          f"{c['kind']} · {_(STATE_LABELS[c['state']])}")
    print(stats_text(_, stats, locale))
    if getattr(args, "follow", False):
        return await _follow(engine, cid, _, locale)
    return 0


def preview_text(_: Gettext, p: svc.Preview, locale: str) -> str:
    lines = [_("Recipients: {n}").format(n=number(p.recipients, locale))]
    if p.recipients:   # nobody: no time to send
        lines.append(_("Estimated time to send: {minutes} min").format(
            minutes=number(max(1, round(p.seconds / 60)), locale)))
    if p.text:
        lines += ["", _("The message for {name}:").format(name=p.recipient or "–"),
                  html_to_plain(p.text)]
    return "\n".join(lines)


def stats_text(_: Gettext, s: svc.Stats, locale: str) -> str:
    def n(v: int) -> str:
        return number(v, locale)
    return _("Queued {queued}: sent {sent}, waiting {waiting}, failed {failed}, unreachable "
             "{unreachable}, cancelled {cancelled}. Skipped: opted out {opted}, over the cap "
             "{capped}; held for quiet hours {quiet}. Sendings {done}/{slots}.").format(
        queued=n(s.queued), sent=n(s.sent), waiting=n(s.waiting), failed=n(s.failed),
        unreachable=n(s.unreachable), cancelled=n(s.cancelled), opted=n(s.skipped_opted_out),
        capped=n(s.skipped_capped), quiet=n(s.held_quiet), done=n(s.slots_done), slots=n(s.slots))


async def _follow(engine: AsyncEngine, cid: int, _: Gettext, locale: str) -> int:
    label = _("Sent")
    while True:
        async with engine.connect() as conn:
            s = await conn.run_sync(lambda c: svc.stats(conn=c, actor=Actor.shell(),
                                                        campaign_id=cid))
        assert isinstance(s, svc.Stats)
        finished = s.queued - s.waiting
        bar(label, finished, s.queued, locale)
        if s.waiting == 0:
            print(file=sys.stderr)
            return 0
        await asyncio.sleep(1.0)
