"""The summary of a draft: read it over, submit it, change a field, keep it, or discard it."""

from __future__ import annotations

from bot.conversation import Ctx
from bot.dates import applied_text
from bot.draft import ORDER_BEHALF
from bot.fields import field_label
from bot.flows.engine import Flow, Next, Result, home, join
from bot.flows.submission import DraftStep
from bot.flows.widgets import similar_text
from bot.formatting import esc, local_datetime, name_case, shorten
from bot.i18n import N_
from bot.labels import NOT_ALLOWED, STEP_LABELS, benefit_text, status_label
from bot.services import submissions
from bot.services.results import Refused, Unchanged
from bot.state import Onboarding
from storage import similar

FIELDS = ORDER_BEHALF[:-1]   # every question of a draft, in order (not the summary)

# A worker's own name and grassroots union come from their profile: asked there (ob_name,
# ob_unit) and back to the summary.
PROFILE = {"author_name": "ob_name", "author_unit": "ob_unit"}
PROFILE_LABELS = {"author_name": N_("your name (credited)"),
                  "author_unit": N_("your grassroots union")}

TRANSITIONS = {
    # Submit goes home (the code shown), or to a question still unanswered.
    "summary": {"edit", "discard", *FIELDS, *PROFILE.values()},
    "edit": {"summary", *FIELDS, *PROFILE.values()},
}


def ask_profile(ctx: Ctx, field: str, error: str | None = None) -> Next:
    """A worker's own name or union, asked as in onboarding, then back to the summary."""
    ctx.state.onboarding = Onboarding(back="summary")
    return Next(PROFILE[field], error)


def authors_shown(ctx: Ctx) -> list[str]:
    authors = submissions.authors_of(ctx.draft, ctx.person())
    return [name_case(authors[0]) or ctx._("(no name)"), *map(name_case, authors[1:])]


class Summary(DraftStep):
    name = "summary"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        d = ctx.draft
        missing = _("(not given yet)")
        # The user's own grassroots union read with the others (one round trip).
        mine = None if d.on_behalf else ctx.person()["unit_id"]
        units = ctx.units.by_ids([i for i in (d.unit_id, d.author_unit_id, mine) if i])

        def unit_text(unit_id: int | None) -> str:
            u = units.get(unit_id) if unit_id else None
            if u is None:
                return missing
            return esc(u.name) + (f" ({esc(u.parent_name)})" if u.parent_name else "")

        lines = [_("<b>The initiative</b>")]
        if d.on_behalf:
            lines.append(_("<b>Registered for:</b> {name}, {unit}").format(
                name=esc(name_case(d.author_name or "") or missing),
                unit=unit_text(d.author_unit_id)))
        else:
            lines.append(_("<b>Your grassroots union:</b> {unit}").format(
                unit=unit_text(mine) if mine in (d.unit_id, d.author_unit_id) else (
                    esc(units[mine].name) if mine in units else missing)))
        lines += [
            _("<b>Authors:</b> {names}").format(names=esc(", ".join(authors_shown(ctx)))),
            _("<b>Title:</b> {title}").format(title=esc(d.title or missing)),
            _("<b>Description:</b> {description}").format(
                description=esc(shorten(d.description, 1200)) if d.description else missing),
            _("<b>Field:</b> {field}").format(
                field=esc(field_label(d.field_code, ctx.locale) or missing)),
            _("<b>First applied:</b> {day}").format(
                day=applied_text(d.applied_on, d.applied_month_only, ctx.locale)
                if d.applied_on else missing),
            _("<b>Benefit value:</b> {benefit}").format(
                benefit=esc(benefit_text(_, ctx.locale, d.benefit_vnd, d.benefit_known))
                + (" " + _("(a year)") if d.benefit_known and d.benefit_vnd else "")),
            _("<b>Receiving union:</b> {unit}").format(unit=unit_text(d.unit_id)),
            _("<b>Attachments:</b> {n}").format(n=len(d.attachments)),
        ]
        similar_note = None
        if d.unit_id and d.title and d.description:
            hits = similar.find_similar(ctx.conn, unit_id=d.unit_id, title=d.title,
                                        description=d.description, exclude_id=d.initiative_id)
            if hits:
                similar_note = similar_text(ctx, hits)
        ctx.ask(join(error, "\n".join(lines), similar_note, _("Submit it?")), [
            (_("Submit"), "submit"),
            (_("Edit a field"), "edit"),
            (_("Keep as draft"), "keep"),
            # Revising a returned initiative: discarding drops the changes, not it.
            (_("Discard the changes") if d.initiative_id else _("Discard"), "discard"),
        ])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        if value == "submit":
            return submit(ctx)
        if value == "edit":
            return Next("edit")
        if value == "keep":
            return home(_("Draft saved. Type /nhap whenever you want to go on."))
        if value == "discard":
            ctx.state.selected_draft = ctx.draft.id
            ctx.state.discard_back = "summary"
            return Next("discard")
        return cls.ask(ctx)


def submit(ctx: Ctx) -> Result:
    _ = ctx._
    draft = ctx.draft
    result = submissions.submit(conn=ctx.conn, actor=ctx.actor, now=ctx.now, draft=draft,
                                default_locale=ctx.default_locale, person=ctx.person(),
                                units=ctx.units)
    if isinstance(result, submissions.Incomplete):
        error = _("One more thing is needed before submitting.") if result.unanswered else None
        if result.step in PROFILE and not draft.on_behalf:
            return ask_profile(ctx, result.step, error)
        return Next(result.step, error)
    if isinstance(result, Refused):
        return home(_(
            "You can register initiatives only for workers of the unions your support team "
            "looks after.") if draft.on_behalf else _(NOT_ALLOWED))
    if isinstance(result, Unchanged):
        return home(_("{code} is no longer waiting for revision.").format(code=result.code))
    ctx.conv.forget_draft(draft.id)
    if isinstance(result, submissions.Resubmitted):
        return home(_("{code} was sent again and is under review.").format(code=result.code))
    ctx.say(_(
        "✅ Submitted! The initiative's code is <b>{code}</b>.\n"
        "Status: {status} · {when}"
    ).format(code=result.code, status=status_label(_, "under_review"),
             when=local_datetime(ctx.now, ctx.locale)))
    if result.claim_code:
        ctx.say(_(
            "If {name} starts using the bot, give them this code: <code>{claim}</code>. "
            "Typing it links the initiative to their account."
        ).format(name=esc(result.author_name or ""), claim=result.claim_code), separate=True)
    else:
        ctx.say(_("You can follow it with /cuatoi."))
    return home()


class Edit(DraftStep):
    name = "edit"
    resumable = False

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        names = [s for s in ctx.draft.order if s != "summary"]
        if not ctx.draft.on_behalf:   # the worker's own name and union: their profile's
            names = [*PROFILE, *names]
        options = [(_(PROFILE_LABELS.get(s, STEP_LABELS[s])).capitalize(), s) for s in names]
        ctx.ask(join(error, _("Which field do you want to change?")),
                [*options, (_("‹ Back to the summary"), "back")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value in PROFILE and not ctx.draft.on_behalf:
            return ask_profile(ctx, value)
        if value in ctx.draft.order and value != "summary":
            ctx.state.editing = True
            return Next(value)
        return Next("summary")


FLOW = Flow(name="summary", steps=(Summary, Edit), transitions=TRANSITIONS)
