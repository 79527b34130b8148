"""Progress and rankings in words: the body of /tiendo and /bangxephang, and of the campaign
pushes that show the same figures (leaderboards, reminders to lagging units).

Channel-neutral HTML (only <b>, <i>): names are escaped. Every percentage says what it is
computed on ("40% của 990 (10% của 9.900 đoàn viên)"), numbers and money go through Babel.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from babel.numbers import format_decimal

from bot.formatting import DATE_PATTERN, PERCENT_PATTERN, esc, number, percent, vnd
from bot.i18n import N_, Gettext, gettext_for

if TYPE_CHECKING:
    from bot.services.progress import Progress, Ranking, TargetFigure, UnitFigures

FULL, EMPTY = "▓", "░"

BLOC_LABELS = {
    "enterprise": N_("enterprise bloc"),
    "public_service": N_("administrative and public-service bloc"),
    "other": N_("other bloc"),
}


def text_bar(pct: float | None, locale: str, width: int = 10) -> str:
    """A compact bar for any channel: "▓▓▓▓▓▓░░░░ 62,5%" (full at 100% and beyond); the
    figure written as every other percentage (`percent`)."""
    if pct is None:
        return EMPTY * width + " –"
    filled = max(0, min(width, round(min(pct, 100.0) / 100.0 * width)))
    return FULL * filled + EMPTY * (width - filled) + " " + percent(pct, locale)


def decimal_text(value: float | Decimal, locale: str) -> str:
    return format_decimal(value, format=PERCENT_PATTERN, locale=locale)


def day(d: date, locale: str) -> str:
    from babel.dates import format_date
    return format_date(d, DATE_PATTERN, locale=locale)


def target_pct(t: TargetFigure) -> float | None:
    """% of a target reached, computed here from the goal and the count."""
    if not t.goal:
        return None
    return t.reached * 100.0 / t.goal


def unit_pct(u: UnitFigures) -> float | None:
    """% of the unit's main (first) target."""
    return target_pct(u.targets[0]) if u.targets else None


def basis_text(t: TargetFigure, _: Gettext, locale: str) -> str:
    """What the target is computed on: "10% của 9.900 đoàn viên", "1 per 15 members…"."""
    members = _("{n} members").format(n=number(t.basis_members or 0, locale))
    if t.bloc:
        members = _("{members} of the {bloc}").format(
            members=members, bloc=_(BLOC_LABELS.get(t.bloc, t.bloc)))
    value = Decimal(t.value)
    if t.kind == "member_ratio":
        text = _("{ratio} of {members}").format(   # ratio: "10%"
            ratio=decimal_text(value * 100, locale) + "%", members=members)
    elif t.kind == "per_member":
        if 0 < value < 1:
            text = _("1 initiative per {every} members, of {members}").format(
                every=decimal_text(1 / value, locale), members=members)
        else:
            text = _("{per} initiatives per member, of {members}").format(
                per=decimal_text(value, locale), members=members)
    else:
        text = _("a set number of initiatives")
    if t.inherited_from:
        text += " " + _("(the target of {code})").format(code=esc(t.inherited_from))
    return text


def target_lines(t: TargetFigure, _: Gettext, locale: str) -> list[str]:
    goal = number(t.goal, locale)
    head = _("Target: {goal} initiatives — {basis}").format(goal=goal,
                                                           basis=basis_text(t, _, locale))
    pct = target_pct(t)
    reached = _("{bar} of {goal} ({reached} registered)").format(
        bar=text_bar(pct, locale), goal=goal,
        reached=number(t.reached, locale)) if pct is not None \
        else _("no target figure (0 members counted)")
    if t.shortfall > 0:
        reached += " · " + _("{n} short").format(n=number(t.shortfall, locale))
    elif pct is not None:
        reached += " · " + _("reached")
    lines = [head, "   " + reached]
    if t.note:
        lines.append("   <i>" + esc(t.note) + "</i>")
    return lines


def status_line(u: UnitFigures, _: Gettext, locale: str) -> str:
    return _("valid {valid} · under review {review} · needs revision {revision} · "
             "invalid {invalid}").format(
        valid=number(u.valid, locale), review=number(u.under_review, locale),
        revision=number(u.needs_revision, locale), invalid=number(u.invalid, locale))


def progress_text(p: Progress, *, locale: str) -> str:
    """The /tiendo message body (HTML, escaped)."""
    _ = gettext_for(locale)
    u = p.unit
    phase = p.phase
    out = [_("<b>Progress: {name}</b> ({code})").format(name=esc(u.name), code=esc(u.code))]
    when = _("Phase {code}: {start} – {end}").format(
        code=esc(phase.code), start=day(phase.starts_on, locale), end=day(phase.ends_on, locale))
    if phase.ended:
        when += " · " + _("ended")
        if p.from_snapshot:
            when += " " + _("(figures frozen at its end)")
    else:
        when += " · " + _("{n} days left").format(n=number(p.days_left, locale))
    out.append(when)
    out.append("")
    out.append(_("<b>Registered: {n}</b> initiatives (under review, needs revision and valid)")
               .format(n=number(u.registered, locale)))
    out.append("   " + status_line(u, _, locale))
    out.append("")
    if u.targets:
        for t in u.targets:
            out += target_lines(t, _, locale)
    else:
        out.append(_("No target is set for this unit in this phase."))
    main = u.targets[0] if u.targets else None
    if not phase.ended:
        out.append("")
        if main is not None and main.shortfall > 0 and p.per_day_needed is not None:
            out.append(_("Needed: {n} a day until {end} to reach the target").format(
                n=decimal_text(p.per_day_needed, locale), end=day(phase.ends_on, locale)))
        pace = _("Pace of the last 14 days: {n} a day").format(
            n=decimal_text(p.pace_14d, locale))
        forecast = _("forecast at the end: {n}").format(n=number(p.forecast, locale))
        if main is not None and main.goal:
            forecast += " " + _("({pct} of the target {goal})").format(
                pct=percent(p.forecast * 100.0 / main.goal, locale),
                goal=number(main.goal, locale))
        out.append(pace + " → " + forecast)
    out.append("")
    if u.members:
        out.append(_("Participation: {n} members with at least one initiative ({pct} of {m} "
                     "members)").format(n=number(u.participants, locale),
                                        pct=percent(u.participants * 100.0 / u.members, locale),
                                        m=number(u.members, locale)))
    else:
        out.append(_("Participation: {n} members with at least one initiative").format(
            n=number(u.participants, locale)))
    out.append(_("Total benefit: {amount}").format(amount=vnd(int(u.benefit_vnd), locale)))
    return "\n".join(out)


def child_line(u: UnitFigures, locale: str) -> str:
    """One child unit in a list: "Tên — ▓▓▓░░ 31% · 120"."""
    return f"{esc(u.name)} — {text_bar(unit_pct(u), locale, 5)} · {number(u.registered, locale)}"


def ranking_text(r: Ranking, *, locale: str, authors: Iterable[Any] = ()) -> str:
    """The /bangxephang message body: units by % of target, with initiatives per 100 members
    and raw counts beside; the user's own unit marked; then the top authors."""
    _ = gettext_for(locale)
    head = (_("<b>Ranking of the units under {name}</b>") if r.by == "children"
            else _("<b>Ranking of the emulation cluster {name}</b>"))
    out = [head.format(name=esc(r.scope_name)),
           _("Phase {code} · by the share of each unit's target reached (registered "
             "initiatives); then per 100 members").format(code=esc(r.phase.code)), ""]
    if not r.rows:
        out.append(_("No units to rank yet."))
    for row in r.rows:
        u = row.unit
        per100 = (_("{n} per 100 members").format(n=decimal_text(row.per_100_members, locale))
                  if row.per_100_members is not None else _("members unknown"))
        name = f"<b>{esc(u.name)}</b>" if row.own else esc(u.name)
        line = _("{rank}. {name} — {pct} · {per100} · {registered} registered, {valid} valid")\
            .format(rank=row.rank, name=name, pct=percent(unit_pct(u), locale), per100=per100,
                    registered=number(u.registered, locale), valid=number(u.valid, locale))
        if row.own:
            line = "▶ " + line + " " + _("(your unit)")
        out.append(line)
    if r.total > len(r.rows):
        out.append(_("… {n} units in all").format(n=number(r.total, locale)))
    authors = list(authors)
    if authors:
        out += ["", _("<b>Top authors</b> (by valid initiatives)")]
        for a in authors:
            out.append(_("{rank}. {name} — {valid} valid, {registered} registered").format(
                rank=a.rank, name=esc(a.name), valid=number(a.valid, locale),
                registered=number(a.registered, locale)))
    return "\n".join(out)
