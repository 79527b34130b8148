"""The steps of `/chiendich` that narrow a new campaign's audience (bot/flows/campaigns.py):
the share of their target below which a union's chairs are reminded (lagging units), the
days a draft has been left (idle drafts), then a bloc and an emulation cluster of the chair's
subtree, each skippable. A typed value out of range is refused with what was chosen before
kept.

    campaign_audience ─lagging units─▶ campaign_threshold ─┐
            │         ─idle drafts──▶ campaign_idle ───────┤
            └───────────────────────────────────────────────┴▶ campaign_bloc ─▶ campaign_cluster
                                                                    ─▶ campaign_schedule
"""

from __future__ import annotations

from typing import Any

from bot.campaign_model import DEFAULT_BELOW_PCT, DEFAULT_IDLE_DAYS
from bot.conversation import Ctx
from bot.flows.engine import Next, Result, Step, home, join
from bot.formatting import esc, shorten
from bot.i18n import N_
from bot.render_progress import BLOC_LABELS
from bot.services import campaigns as svc
from bot.services.results import Refused
from storage import access
from storage.textfold import fold

THRESHOLDS = (30, 50, 80)        # % of the target, offered as buttons
IDLE_DAYS = (3, 7, 14)
PCT_RANGE = (1, 100)
DAYS_RANGE = (1, 365)
CLUSTERS_SHOWN = 30

TRANSITIONS = {
    "campaign_threshold": {"campaign_bloc", "campaign_menu"},
    "campaign_idle": {"campaign_bloc", "campaign_menu"},
    "campaign_bloc": {"campaign_cluster", "campaign_menu"},
    "campaign_cluster": {"campaign_schedule", "campaign_menu"},
}
SKIP = N_("Skip")


def after_audience(audience: str) -> str:
    """The step that follows the choice of an audience."""
    return {"lagging_units": "campaign_threshold",
            "idle_drafts": "campaign_idle"}.get(audience, "campaign_bloc")


def _draft(ctx: Ctx) -> dict[str, Any]:
    if ctx.state.campaign is None:
        ctx.state.campaign = {}
    return ctx.state.campaign


_UNITS = {"", "ngay", "day", "days", "phan tram", "percent"}   # "%" folds away


def _number(text: str, low: int, high: int) -> int | None:
    """A whole number typed, its unit allowed with or without accents ("30%", "30 phần
    trăm", "7 ngày", "7 ngay", "7 days"), within [low, high]."""
    if text.strip().startswith("-"):
        return None
    number, _sep, unit = fold(text).partition(" ")
    if not (number.isascii() and number.isdigit()) or unit not in _UNITS:
        return None
    value = int(number)
    return value if low <= value <= high else None


class _NumberStep(Step):
    """A number chosen from the buttons or typed: a button is read as the typed number."""

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if not value.isdigit():
            return Next("campaign_menu")
        return cls.text(ctx, value)


class CampaignThreshold(_NumberStep):
    name = "campaign_threshold"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, _("Remind the chairs of units below what share of their target? "
                              "Choose, or type a number from 1 to 100.")),
                [*((f"{pct}%", str(pct)) for pct in THRESHOLDS), (_("‹ Cancel"), "cancel")])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        pct = _number(text, *PCT_RANGE)
        if pct is None:
            return cls.ask(ctx, error=ctx._("Type a whole number from 1 to 100."))
        _draft(ctx)["below_pct"] = pct
        return Next("campaign_bloc")


class CampaignIdle(_NumberStep):
    name = "campaign_idle"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, _("Remind those whose draft has been left for how many days? "
                              "Choose, or type a number from 1 to 365.")),
                [*((_("{n} days").format(n=n), str(n)) for n in IDLE_DAYS),
                 (_("‹ Cancel"), "cancel")])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        days = _number(text, *DAYS_RANGE)
        if days is None:
            return cls.ask(ctx, error=ctx._("Type a number of days from 1 to 365."))
        _draft(ctx)["idle_days"] = days
        return Next("campaign_bloc")


def _filters(ctx: Ctx) -> svc.Filters | None:
    grants = access.grants(ctx.conn, person_id=ctx.conv.person_id, roles=svc.MANAGER_ROLES)
    if not grants:
        return None
    out = svc.filters(conn=ctx.conn, actor=ctx.actor, unit_id=grants[0].unit_id)
    return None if isinstance(out, Refused) else out


class _FilterStep(Step):
    """Only one of the subtree's values of `key` (a bloc, an emulation cluster), chosen from
    buttons, or skipped to reach them all; the step is passed over when the subtree has
    fewer than `least` values. A button carries the value's place in the list shown."""

    key: str
    after: str               # the next step
    least: int               # values needed for the question to be worth asking
    prefix: str              # of the buttons' data
    question: str            # N_(…)

    @classmethod
    def values(cls, f: svc.Filters) -> list[str]:
        raise NotImplementedError

    @classmethod
    def label(cls, ctx: Ctx, value: str) -> str:
        raise NotImplementedError

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        f = _filters(ctx)
        if f is None:
            return home()
        values = cls.values(f)
        if len(values) < cls.least:
            _draft(ctx).pop(cls.key, None)
            return Next(cls.after)
        ctx.ask(join(error, _(cls.question)),
                [*((cls.label(ctx, v), f"{cls.prefix}{i}") for i, v in enumerate(values)),
                 (_(SKIP), "skip"), (_("‹ Cancel"), "cancel")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        d = _draft(ctx)
        if value == "skip":
            d.pop(cls.key, None)
            return Next(cls.after)
        f = _filters(ctx)
        index = value.removeprefix(cls.prefix)
        values = cls.values(f) if f is not None else []
        if not (value.startswith(cls.prefix) and index.isdigit() and int(index) < len(values)):
            return Next("campaign_menu")
        d[cls.key] = values[int(index)]
        return Next(cls.after)


class CampaignBloc(_FilterStep):
    """Only one bloc of the subtree (passed over when the subtree has a single one)."""

    name = "campaign_bloc"
    key, after, least, prefix = "bloc", "campaign_cluster", 2, "b:"
    question = N_("Only one bloc? Choose it, or skip to reach every bloc.")

    @classmethod
    def values(cls, f: svc.Filters) -> list[str]:
        return [b for b in f.blocs if b in BLOC_LABELS]

    @classmethod
    def label(cls, ctx: Ctx, value: str) -> str:
        return ctx._(BLOC_LABELS[value])


class CampaignCluster(_FilterStep):
    """Only one emulation cluster of the subtree (passed over when it has none)."""

    name = "campaign_cluster"
    key, after, least, prefix = "cluster", "campaign_schedule", 1, "k:"
    question = N_("Only one emulation cluster? Choose it, or skip to reach every cluster.")

    @classmethod
    def values(cls, f: svc.Filters) -> list[str]:
        return list(f.clusters[:CLUSTERS_SHOWN])

    @classmethod
    def label(cls, ctx: Ctx, value: str) -> str:
        return shorten(value, 60)


def audience_details(ctx: Ctx, c: dict[str, Any]) -> str:
    """What narrows a campaign's audience, in words ("" when nothing does)."""
    _ = ctx._
    parts = []
    if c.get("audience") == "lagging_units":
        parts.append(_("target reached: below {pct}%").format(
            pct=c.get("below_pct") or DEFAULT_BELOW_PCT))
    if c.get("audience") == "idle_drafts":
        parts.append(_("drafts left for {n} days").format(
            n=c.get("idle_days") or DEFAULT_IDLE_DAYS))
    if c.get("bloc") in BLOC_LABELS:
        parts.append(_(BLOC_LABELS[c["bloc"]]))
    if c.get("cluster"):
        parts.append(esc(c["cluster"]))
    return " · ".join(parts)


STEPS = (CampaignThreshold, CampaignIdle, CampaignBloc, CampaignCluster)
