"""Campaigns in the chat: /chiendich for chairs — create one step by step (audience,
schedule, message), see the preview (the message for one real recipient, how many people,
how long sending takes) and confirm; list, pause, resume, cancel, and each campaign's figures.
Anyone: /tatthongbao and /batthongbao turn campaign messages off and on (review alerts still
come). A campaign message about an idle draft carries a button that opens that draft.

    campaign_menu ─new─▶ campaign_audience ─▶ (campaign_steps: the audience's threshold or
         ▲  │          days, a bloc, a cluster) ─▶ campaign_schedule ─▶ campaign_text
         ▲  │                                                          │
         │  └─pick─▶ campaign_view (pause · resume · cancel)           ▼
         └──────────────────────────────────────────────────── campaign_preview (confirm)

The rules are `bot.services.campaigns`'s; these steps only ask and say.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.campaign_delivery import delivery_from
from bot.campaign_model import AUDIENCES
from bot.campaign_schedule import (
    DEFAULT_TIME,
    ScheduleError,
    parse_hhmm,
    parse_local,
    parse_weekday,
    quiet_until,
)
from bot.config import Settings
from bot.conversation import Ctx
from bot.draft import ORDER_BEHALF
from bot.flows import campaign_steps
from bot.flows.engine import Flow, Next, Result, Step, command, home, join
from bot.formatting import esc, local_datetime, number, shorten
from bot.i18n import N_, Gettext
from bot.inputs import parse_id
from bot.labels import AUDIENCE_LABELS, STATE_LABELS
from bot.services import campaigns as svc
from bot.services.results import Refused, refuse_role
from storage import access
from storage import campaigns as store

TRANSITIONS = {
    "campaign_menu": {"campaign_audience", "campaign_view"},
    "campaign_audience": {"campaign_threshold", "campaign_idle", "campaign_bloc",
                          "campaign_menu"},
    **campaign_steps.TRANSITIONS,
    "campaign_schedule": {"campaign_text", "campaign_menu"},
    "campaign_text": {"campaign_preview", "campaign_menu"},
    "campaign_preview": {"campaign_menu", "campaign_view"},
    "campaign_view": {"campaign_menu", "campaign_preview"},   # a draft left unconfirmed
}

LIST_SHOWN = 6


def _settings() -> Settings:
    return Settings.load()


def manager_unit(ctx: Ctx) -> access.Grant | None:
    """The unit a chair's campaigns address: their (first) chair or admin grant."""
    grants = access.grants(ctx.conn, person_id=ctx.conv.person_id, roles=svc.MANAGER_ROLES)
    return grants[0] if grants else None


def draft_of(ctx: Ctx) -> dict[str, Any]:
    """The campaign being made: kept in the chat's state between the steps."""
    if ctx.state.campaign is None:
        ctx.state.campaign = {}
    return ctx.state.campaign


# ============================================================================ commands


def open_campaigns(ctx: Ctx, _args: str = "") -> Result:
    if manager_unit(ctx) is None:
        refuse_role(ctx.actor, "/chiendich")
        return home(ctx._("Only union chairs run campaigns."))
    ctx.state.campaign = None
    return Next("campaign_menu")


def campaigns_off(ctx: Ctx, _args: str = "") -> Result:
    svc.set_opt_out(conn=ctx.conn, actor=ctx.actor, now=ctx.now, off=True)
    return home(ctx._("Campaign messages are off. Review alerts and decisions still come. "
                      "Type /batthongbao to turn them back on."))


def campaigns_on(ctx: Ctx, _args: str = "") -> Result:
    svc.set_opt_out(conn=ctx.conn, actor=ctx.actor, now=ctx.now, off=False)
    return home(ctx._("Campaign messages are on again. Type /tatthongbao to stop them."))


def resume_draft(ctx: Ctx, args: str) -> Result:
    """A campaign message's button: the idle draft, at the question it was left at."""
    draft = ctx.open_draft(parse_id(args) or -1)
    if draft is None:
        return home(ctx._("That draft no longer exists."))
    order = draft.order
    return Next(draft.step if draft.step in order else order[0])


# ============================================================================ steps


class CampaignMenu(Step):
    name = "campaign_menu"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        rows = svc.list_campaigns(conn=ctx.conn, actor=ctx.actor, limit=LIST_SHOWN)
        if isinstance(rows, Refused):
            return home(_("Only union chairs run campaigns."))
        lines = [_("<b>Campaigns</b>")]
        options = [(_("New campaign"), "new")]
        if not rows:
            lines.append(_("None yet."))
        for c in rows:
            lines.append(_("#{id} · {name} · {state}").format(
                id=c["id"], name=esc(shorten(c["name"], 50)), state=_(STATE_LABELS[c["state"]])))
            options.append((f"#{c['id']} {shorten(c['name'], 30)}", f"c:{c['id']}"))
        options.append((_("‹ Close"), "close"))
        ctx.ask(join(error, "\n".join(lines)), options)
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "new":
            ctx.state.campaign = {}
            return Next("campaign_audience")
        if value.startswith("c:") and value[2:].isdigit():
            draft_of(ctx)["view"] = int(value[2:])
            return Next("campaign_view")
        return home()


class CampaignAudience(Step):
    name = "campaign_audience"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        grant = manager_unit(ctx)
        if grant is None:
            return home()
        ctx.ask(join(error, _("<b>New campaign</b> for {unit} and the unions below it.\n"
                              "Who should receive it?").format(unit=esc(grant.unit_name))),
                [*((_(AUDIENCE_LABELS[a]), a) for a in AUDIENCES), (_("‹ Cancel"), "cancel")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value not in AUDIENCES:
            return Next("campaign_menu")
        draft_of(ctx)["audience"] = value
        return Next(campaign_steps.after_audience(value))


class CampaignSchedule(Step):
    name = "campaign_schedule"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, _(
            "When? Choose, or type: «HH:MM» every day, «T2 08:00» every week (T2…T7, CN), "
            "«25/12/2026 08:00» once.")), [
            (_("Now"), "now"),
            (_("Every day at 08:00"), "daily"),
            (_("Every Monday at 08:00"), "weekly"),
            (_("Each of the last 7 days before the end, at 08:00"), "before_end"),
            (_("‹ Cancel"), "cancel"),
        ])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        presets = {"now": {"kind": "once"},
                   "daily": {"kind": "daily", "at_time": "08:00"},
                   "weekly": {"kind": "weekly", "at_time": "08:00", "weekday": 0},
                   "before_end": {"kind": "before_end", "at_time": "08:00", "days": 7}}
        if value not in presets:
            return Next("campaign_menu")
        draft_of(ctx).update(presets[value])
        return Next("campaign_text")

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        words = text.strip().split()
        try:
            if len(words) == 1:
                values = {"kind": "daily", "at_time": parse_hhmm(words[0]).strftime("%H:%M")}
            elif len(words) >= 2 and ("-" in words[0] or "/" in words[0]):
                at = parse_local(" ".join(words[:2]))
                if at <= ctx.now:
                    return cls.ask(ctx, error=ctx._("That time has passed."))
                values = {"kind": "once", "once_at": at.isoformat()}
            else:
                values = {"kind": "weekly", "weekday": parse_weekday(" ".join(words[:-1])),
                          "at_time": parse_hhmm(words[-1]).strftime("%H:%M")}
        except ScheduleError:
            return cls.ask(ctx, error=ctx._("I could not read that time."))
        draft_of(ctx).update(values)
        return Next("campaign_text")


class CampaignText(Step):
    name = "campaign_text"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, _(
            "Type the message. It is sent as written; these words are filled in for each "
            "person: {ten} name, {donvi} union, {songayconlai} days left, {phantram} "
            "share of the target reached, {conthieu} initiatives still needed, {hang} rank.")),
            [(_("‹ Cancel"), "cancel")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        return Next("campaign_menu")

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        d = draft_of(ctx)
        grant = manager_unit(ctx)
        if grant is None or "audience" not in d or "kind" not in d:
            return Next("campaign_menu")
        spec = svc.Spec(
            unit_code=access_unit_code(ctx, grant.unit_id), audience=d["audience"], text=text,
            kind=d["kind"], at_time=parse_hhmm(d["at_time"]) if d.get("at_time") else None,
            weekday=d.get("weekday"), days=d.get("days"),
            once_at=_parse_iso(d.get("once_at")), below_pct=d.get("below_pct"),
            idle_days=d.get("idle_days"), bloc=d.get("bloc"), cluster=d.get("cluster"))
        out = svc.create(conn=ctx.conn, actor=ctx.actor, now=ctx.now, spec=spec, draft=True)
        if isinstance(out, Refused):
            return home(ctx._("Only union chairs run campaigns."))
        if isinstance(out, svc.Invalid):
            return cls.ask(ctx, error=invalid_text(ctx._, out))
        d["id"] = out.campaign_id
        return Next("campaign_preview")


def access_unit_code(ctx: Ctx, unit_id: int) -> str:
    unit = store.unit_by_id(ctx.conn, unit_id=unit_id)
    return unit["code"] if unit else ""


def _parse_iso(value: str | None) -> Any:
    return datetime.fromisoformat(value) if value else None


def invalid_text(_: Gettext, out: svc.Invalid) -> str:
    return {
        "empty_text": _("The message is empty."),
        "text_too_long": _("The message is too long (at most {detail} characters)."),
        "no_end": _("A countdown needs an end: the current phase has none. Choose another "
                    "time."),
        "ended": _("That schedule has no time left to send at."),
    }.get(out.reason, _("That campaign cannot be made ({detail}).")).format(
        detail=out.detail or out.reason)


def audience_text(ctx: Ctx, c: dict[str, Any]) -> str:
    details = campaign_steps.audience_details(ctx, c)
    label = ctx._(AUDIENCE_LABELS[c["audience"]])
    return f"{label} ({details})" if details else label


def when_text(ctx: Ctx, c: dict[str, Any]) -> str:
    _ = ctx._
    at = c.get("at_time") or DEFAULT_TIME.strftime("%H:%M")
    if c["kind"] == "daily":
        return _("every day at {time}").format(time=at)
    if c["kind"] == "weekly":
        days = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"),
                _("Saturday"), _("Sunday")]
        return _("every {day} at {time}").format(day=days[c.get("weekday") or 0], time=at)
    if c["kind"] == "before_end":
        return _("each of the last {n} days before the end, at {time}").format(
            n=c.get("days") or 0, time=at)
    due = c.get("next_due_at") or c.get("once_at")
    return _("once, {when}").format(when=local_datetime(due, ctx.locale)) if due else _("once")


class CampaignPreview(Step):
    name = "campaign_preview"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        cid = draft_of(ctx).get("id")
        delivery = delivery_from(_settings())
        p = svc.preview(conn=ctx.conn, actor=ctx.actor, now=ctx.now, campaign_id=cid or -1,
                        delivery=delivery)
        c = svc.show(conn=ctx.conn, actor=ctx.actor, campaign_id=cid or -1)
        if isinstance(p, Refused) or isinstance(c, Refused):
            return Next("campaign_menu")
        minutes = max(1, round(p.seconds / 60))
        lines = [_("<b>Preview</b> · {audience} · {when}").format(
            audience=audience_text(ctx, c), when=when_text(ctx, c)),
            _("Recipients: {n} · time to send: about {minutes} min").format(
                n=number(p.recipients, ctx.locale), minutes=number(minutes, ctx.locale))
            if p.recipients else _("Recipients: {n}").format(n=0)]
        if p.text:
            lines += [_("What {name} will read:").format(name=esc(p.recipient or "")),
                      "───", p.text, "───"]
        else:
            lines.append(_("Nobody is in this audience right now."))
        due = c.get("next_due_at") or ctx.now
        due = due if due.tzinfo else due.replace(tzinfo=UTC)   # SQLite keeps it naive
        held = quiet_until(delivery.quiet, max(due, ctx.now))
        if held is not None:   # sent "now" at 22:00: not before the quiet hours end
            lines.append(_("Quiet hours: the messages are written at {when}, when they end.")
                         .format(when=local_datetime(held, ctx.locale)))
        ctx.ask(join(error, "\n".join(lines)),
                [(_("Confirm"), "yes"), (_("Cancel"), "no")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        cid = draft_of(ctx).get("id") or -1
        if value != "yes":
            svc.cancel(conn=ctx.conn, actor=ctx.actor, now=ctx.now, campaign_id=cid)
            return Next("campaign_menu", _("Nothing was sent."))
        out = svc.confirm(conn=ctx.conn, actor=ctx.actor, now=ctx.now, campaign_id=cid)
        if isinstance(out, svc.Changed):
            draft_of(ctx)["view"] = cid
            return Next("campaign_view", _("Confirmed: campaign #{id} is scheduled.").format(
                id=cid))
        if isinstance(out, svc.Invalid):
            return Next("campaign_menu", invalid_text(_, out))
        return Next("campaign_menu")


class CampaignView(Step):
    name = "campaign_view"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        cid = draft_of(ctx).get("view") or -1
        c = svc.show(conn=ctx.conn, actor=ctx.actor, campaign_id=cid)
        s = svc.stats(conn=ctx.conn, actor=ctx.actor, campaign_id=cid)
        if isinstance(c, Refused) or isinstance(s, Refused):
            return Next("campaign_menu", _("You cannot manage that campaign."))

        def n(v: int) -> str:
            return number(v, ctx.locale)

        lines = [
            _("<b>Campaign #{id}</b> · {state}").format(id=c["id"],
                                                      state=_(STATE_LABELS[c["state"]])),
            esc(shorten(c["text"], 300)),
            _("{audience} · {unit} · {when}").format(
                audience=audience_text(ctx, c), unit=esc(c["unit_name"]),
                when=when_text(ctx, c)),
            _("Sent {sent} · waiting {waiting} · failed {failed} · unreachable "
              "{unreachable} · cancelled {cancelled}").format(
                sent=n(s.sent), waiting=n(s.waiting), failed=n(s.failed),
                unreachable=n(s.unreachable), cancelled=n(s.cancelled)),
            _("Skipped: opted out {opted} · over the cap {capped} · held for quiet hours "
              "{quiet}").format(opted=n(s.skipped_opted_out), capped=n(s.skipped_capped),
                                quiet=n(s.held_quiet)),
        ]
        if c["next_due_at"] is not None and c["state"] in ("scheduled", "running"):
            lines.append(_("Next sending: {when}").format(
                when=local_datetime(c["next_due_at"], ctx.locale)))
        options = []
        if c["state"] == "draft":   # left at its preview: confirm it now, or drop it
            options.append((_("Preview and confirm"), "preview"))
        if c["state"] in ("scheduled", "running"):
            options.append((_("Pause"), "pause"))
        if c["state"] == "paused":
            options.append((_("Resume"), "resume"))
        if c["state"] in ("draft", "scheduled", "running", "paused"):
            options.append((_("Cancel the campaign"), "cancel"))
        options += [(_("Refresh"), "refresh"), (_("‹ Back"), "back")]
        ctx.ask(join(error, "\n".join(lines)), options)
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        cid = draft_of(ctx).get("view") or -1
        if value == "refresh":
            return cls.ask(ctx)
        if value == "preview":
            draft_of(ctx)["id"] = cid
            return Next("campaign_preview")
        actions = {"pause": svc.pause, "cancel": svc.cancel}
        if value in actions:
            out = actions[value](conn=ctx.conn, actor=ctx.actor, now=ctx.now, campaign_id=cid)
        elif value == "resume":
            out = svc.resume(conn=ctx.conn, actor=ctx.actor, now=ctx.now, campaign_id=cid,
                             quiet=delivery_from(_settings()).quiet)
        else:
            return Next("campaign_menu")
        if isinstance(out, svc.Changed):
            return cls.ask(ctx, error=_("Campaign #{id} is now {state}.").format(
                id=cid, state=_(STATE_LABELS[out.state])))
        return cls.ask(ctx, error=_("Nothing was changed."))


FLOW = Flow(
    name="campaigns",
    steps=(CampaignMenu, CampaignAudience, *campaign_steps.STEPS, CampaignSchedule,
           CampaignText, CampaignPreview, CampaignView),
    transitions=TRANSITIONS,
    commands=(
        command("campaigns", open_campaigns, opens={"campaign_menu"},
                words=("chiendich", "campaigns"), label=N_("Campaigns")),
        command("campaigns_off", campaigns_off, words=("tatthongbao", "campaignsoff"),
                label=N_("Stop campaign messages")),
        command("campaigns_on", campaigns_on, words=("batthongbao", "campaignson"),
                label=N_("Campaign messages on")),
        # A campaign message's button (a:draft:<id>): pressed, not typed.
        command("resume_draft", resume_draft, opens=set(ORDER_BEHALF) | {"summary"}),
    ),
)
