"""Writing an initiative: the draft's questions, one step each, then the summary.

A worker's own draft asks, in order: title, description, field, date first applied,
recognition by the unit's council, benefit value, co-authors, receiving union, attachments,
then shows the summary. A support team registering for a worker (kê khai hộ) first gives the
author's name, phone (optional) and grassroots union. Every answer is saved at once.
"""

from __future__ import annotations

import os
import re

from bot import money
from bot.conversation import Ctx
from bot.dates import parse_applied
from bot.draft import Attachment
from bot.events import Inbound
from bot.fields import field_label, fields
from bot.flows.engine import Flow, Next, Result, Step, command, home, join, leave_flow
from bot.flows.widgets import (
    UnitSearch,
    keep_option,
    name_error,
    one_line,
    unit_label,
)
from bot.formatting import TIMEZONE, esc, number, shorten, vnd
from bot.i18n import N_
from bot.labels import benefit_text
from bot.state import PendingBenefit

# Each answer moves to the next question, or back to the summary when a field was being
# changed from it.
TRANSITIONS = {
    "title": {"description", "summary"},
    "description": {"field", "summary"},
    "field": {"applied", "summary"},
    "applied": {"recognized", "summary"},
    "recognized": {"benefit", "summary"},            # "not yet": home, the draft kept
    "benefit": {"benefit_confirm", "coauthors", "summary"},
    "benefit_confirm": {"benefit", "coauthors", "summary"},
    "coauthors": {"unit", "summary"},
    "unit": {"attachments", "summary"},
    "attachments": {"summary"},
}

TITLE_MIN, TITLE_MAX = 10, 200
TITLE_LETTERS = 5
DESC_MIN, DESC_MAX = 30, 3000
MAX_COAUTHORS = 10
MAX_ATTACHMENTS = 10

_MULTISPACE = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def draft_label(ctx: Ctx, title: str | None) -> str:
    return shorten(title or ctx._("(untitled)"), 60)


def header(ctx: Ctx, name: str, label: str) -> str:
    """"Step 3 of 10 · Field" for the current draft."""
    steps = [s for s in ctx.draft.order if s != "summary"]
    n = steps.index(name) + 1 if name in steps else 0
    return ctx._("<b>Step {n} of {total} · {label}</b>").format(n=n, total=len(steps),
                                                                label=label)


def advance(ctx: Ctx) -> Next:
    """After a field is saved: the next one, or back to the summary when editing."""
    if ctx.state.editing:
        ctx.state.editing = False
        return Next("summary")
    seq = ctx.draft.order
    current = ctx.draft.step if ctx.draft.step in seq else seq[0]
    return Next(seq[seq.index(current) + 1])


class DraftStep(Step):
    in_draft = True
    resumable = True

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "keep":
            return advance(ctx)
        return cls.ask(ctx)


# ============================================================================ commands


def new_initiative(ctx: Ctx, _args: str = "") -> Result:
    leave_flow(ctx)
    # Back after leaving one half-way, a worker types /sangkien again: say where it is.
    draft, latest_title = ctx.new_draft_after()
    if latest_title:
        ctx.say(ctx._("You have an unfinished draft, «{title}»: type /nhap to go on with it. "
                      "This is a new initiative.").format(
            title=esc(draft_label(ctx, latest_title))))
    return Next(draft.step)


# ============================================================================ the initiative


class Title(DraftStep):
    name = "title"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, header(ctx, cls.name, _("Title")) + "\n" + _(
            "What is the initiative called? ({min}–{max} characters)"
        ).format(min=TITLE_MIN, max=TITLE_MAX)), keep_option(ctx))
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        _ = ctx._
        title = one_line(text)
        if not TITLE_MIN <= len(title) <= TITLE_MAX:
            return cls.ask(ctx, error=_(
                "The title must be {min}–{max} characters long; yours has {n}."
            ).format(min=TITLE_MIN, max=TITLE_MAX, n=len(title)))
        if sum(ch.isalpha() for ch in title) < TITLE_LETTERS:
            return cls.ask(ctx, error=_(
                "A title needs words that say what the initiative is, not only numbers or "
                "symbols."))
        ctx.draft.title = title
        ctx.say(_("Title saved: <b>{title}</b>").format(title=esc(title)))
        return advance(ctx)


class Description(DraftStep):
    name = "description"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, header(ctx, cls.name, _("Description")) + "\n" + _(
            "Describe the initiative: the problem, what was changed, and where it is applied "
            "({min}–{max} characters)."
        ).format(min=DESC_MIN, max=number(DESC_MAX, ctx.locale))), keep_option(ctx))
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        _ = ctx._
        lines = [_MULTISPACE.sub(" ", line).strip() for line in text.strip().splitlines()]
        desc = _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()
        if not DESC_MIN <= len(desc) <= DESC_MAX:
            return cls.ask(ctx, error=_(
                "The description must be {min}–{max} characters long; yours has {n}."
            ).format(min=DESC_MIN, max=number(DESC_MAX, ctx.locale),
                     n=number(len(desc), ctx.locale)))
        ctx.draft.description = desc
        ctx.say(_("Description saved ({n} characters).").format(n=number(len(desc), ctx.locale)))
        return advance(ctx)


class Field(DraftStep):
    name = "field"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        options = [(field_label(code, ctx.locale) or code, f"f:{code}") for code in fields()]
        ctx.ask(join(error, header(ctx, cls.name, _("Field")) + "\n" + _(
            "Which field (lĩnh vực) is the initiative in?")), [*options, *keep_option(ctx)])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value.startswith("f:") and value[2:] in fields():
            ctx.draft.field_code = value[2:]
            return advance(ctx)
        return super().choice(ctx, value)


_DATE_ERRORS = {
    "unreadable": N_("I could not read that date. Type it as day/month/year, e.g. 15/03/2023."),
    "future": N_("That date is in the future: type the date it was first applied."),
    "too_old": N_("That date is too far in the past."),
}


class Applied(DraftStep):
    name = "applied"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, header(ctx, cls.name, _("Date applied")) + "\n" + _(
            "When was the initiative first applied? (day/month/year, e.g. 15/03/2023; "
            "or month/year)")), keep_option(ctx))
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        read = parse_applied(text, today=ctx.now.astimezone(TIMEZONE).date())
        if isinstance(read, str):
            return cls.ask(ctx, error=ctx._(_DATE_ERRORS[read]))
        ctx.draft.applied_on, ctx.draft.applied_month_only = read
        return advance(ctx)


class Recognized(DraftStep):
    name = "recognized"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, header(ctx, cls.name, _("Recognition")) + "\n" + _(
            "Has the initiative been recognised by the unit's initiative council (Hội đồng "
            "sáng kiến) or by its head? The national rules require it.")), [
            (_("Yes, it is recognised"), "yes"), (_("Not yet"), "no"), *keep_option(ctx)])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        if value == "yes":
            ctx.draft.recognized = True
            return advance(ctx)
        if value == "no":
            ctx.draft.recognized = False
            return home(_(
                "An initiative can be registered once the unit's initiative council or head "
                "has recognised it. Your draft «{title}» is kept: go on with it under /nhap "
                "when it is recognised.").format(title=esc(draft_label(ctx, ctx.draft.title))))
        return super().choice(ctx, value)


_BENEFIT_ERRORS = {
    "empty": N_("Please type an amount."),
    "negative": N_("The benefit value cannot be negative."),
    "too_large": N_("That amount is too large to be right."),
    "ambiguous": N_("I am not sure which amount you mean."),
    "unreadable": N_("I could not read that as an amount of money."),
    "fraction_of_dong": N_("The amount must be a whole number of đồng."),
    "period": N_("Please give the amount per year or per month, for example «200 triệu/năm» "
                 "or «20 triệu/tháng»."),
}


def read_benefit(ctx: Ctx, text: str) -> Next:
    """A typed benefit value: read back for confirmation, or asked again with why not."""
    _ = ctx._
    parsed = money.parse_benefit(text)
    if isinstance(parsed, money.BenefitError):
        examples = ", ".join(f"«{e}»" for e in money.format_examples())
        return Next("benefit", error=join(
            _(_BENEFIT_ERRORS[parsed.reason]),
            _("You can type for example: {examples}.").format(examples=examples)))
    if isinstance(parsed, money.BenefitNotQuantifiable):
        ctx.state.pending_benefit = PendingBenefit(vnd=None, known=False)
    else:
        ctx.state.pending_benefit = PendingBenefit(
            vnd=parsed.vnd, known=True,
            per_month=parsed.typed_vnd if parsed.period == "month" else None)
    return Next("benefit_confirm")


class Benefit(DraftStep):
    # A typed number that is an option's number picks it ("1" → not quantifiable), as the
    # numbered list on Zalo and in the terminal says; nobody means an amount of 1–3 đồng.
    # Any other number is an amount.
    name = "benefit"
    free_text = True
    no_value = "none"     # "không": not quantifiable, as the parser reads it too

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, header(ctx, cls.name, _("Benefit value")) + "\n" + _(
            "About how much money does the initiative gain or save in a year (VND)? For "
            "example: 200 triệu, 1,5 tỷ, 15.000.000 — or a month's, «20 triệu/tháng». If it "
            "cannot be put in money, say so."
        )), [(_("Not quantifiable"), "none"), *keep_option(ctx)])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        return read_benefit(ctx, text)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "none":
            ctx.draft.benefit_vnd, ctx.draft.benefit_known = None, False
            return advance(ctx)
        return super().choice(ctx, value)


class BenefitConfirm(DraftStep):
    name = "benefit_confirm"
    resumable = False   # resuming asks for the amount again

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        pending = ctx.state.pending_benefit
        if pending is None:
            return Next("benefit", error=error)
        shown = benefit_text(_, ctx.locale, pending.vnd, pending.known)
        if pending.per_month is not None and pending.vnd is not None:
            # The programme sums a year's benefit: a month's is read back with its year.
            shown = _("{month} a month, {year} a year").format(
                month=vnd(pending.per_month, ctx.locale), year=vnd(pending.vnd, ctx.locale))
        elif pending.known and pending.vnd is not None:
            shown = _("{year} a year").format(year=vnd(pending.vnd, ctx.locale))
        ctx.ask(join(error, _("Benefit value: <b>{value}</b>. Is that right?").format(
            value=esc(shown))), [(_("Yes, save it"), "yes"), (_("No, type again"), "no")])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        # A new amount typed instead of yes/no is read as a correction; anything else asks
        # again, keeping the amount waiting for the answer.
        if isinstance(money.parse_benefit(text), money.BenefitError):
            return cls.ask(ctx, error=ctx._(
                "Please answer yes or no (or type the corrected amount)."))
        return read_benefit(ctx, text)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        pending, ctx.state.pending_benefit = ctx.state.pending_benefit, None
        if value == "yes" and pending is not None:
            ctx.draft.benefit_vnd, ctx.draft.benefit_known = pending.vnd, pending.known
            return advance(ctx)
        return Next("benefit")


class Coauthors(DraftStep):
    name = "coauthors"
    free_text = True
    no_value = "done"     # "không": no (more) co-authors — never a co-author named "Không"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        names = ctx.draft.coauthors or []
        current = (_("Co-authors so far: {names}").format(names=esc(", ".join(names)))
                   if names else None)
        ctx.ask(join(error, header(ctx, cls.name, _("Co-authors")) + "\n" + _(
            "Did others write it with you (đồng tác giả)? Type their full names, one per line "
            "or separated by commas."), current), [
            (_("Done") if names else _("No co-authors"), "done"),
            *([(_("Clear the list"), "clear")] if names else [])])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        names = list(ctx.draft.coauthors or [])
        for raw in re.split(r"[\n,;]+", text):
            name = one_line(raw)
            if not name:
                continue
            if error := name_error(ctx, name):
                return cls.ask(ctx, error=error)
            if name not in names:
                names.append(name)
        if len(names) > MAX_COAUTHORS:
            return cls.ask(ctx, error=ctx._("At most {n} co-authors.").format(n=MAX_COAUTHORS))
        ctx.draft.coauthors = names
        return cls.ask(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "clear":
            ctx.draft.coauthors = None
            return cls.ask(ctx)
        if value == "done":
            if ctx.draft.coauthors is None:
                ctx.draft.coauthors = []
            return advance(ctx)
        return super().choice(ctx, value)


class Unit(UnitSearch, DraftStep):
    """The receiver: a superior union (district, sector, zone…), never a grassroots one."""

    name = "unit"
    grassroots = False

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        _ = ctx._
        return header(ctx, cls.name, _("Receiving union")) + "\n" + _(
            "Which union receives the initiative — the direct superior union (công đoàn cấp "
            "trên trực tiếp)? Type part of its name, accents optional, e.g. «phu rieng» or "
            "«y te dong thap».")

    @classmethod
    def suggestions(cls, ctx: Ctx) -> list[tuple[str, str]]:
        """The parent of the author's grassroots union, offered first: one tap to accept."""
        draft = ctx.draft
        grassroots = draft.author_unit_id
        if grassroots is None and not draft.on_behalf:
            grassroots = ctx.person()["unit_id"]
        if grassroots is None:
            return []
        parent = ctx.units.parent_of(grassroots)
        return [("✓ " + unit_label(parent.name, parent.parent_name), f"u:{parent.id}")] \
            if parent else []

    @classmethod
    def chosen(cls, ctx: Ctx, unit_id: int) -> Result:
        ctx.draft.unit_id = unit_id
        return advance(ctx)


class Attachments(DraftStep):
    name = "attachments"
    free_text = True      # a path, in the terminal
    no_value = "done"
    accepts_files = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        files = ctx.draft.attachments
        ctx.ask(join(error, header(ctx, cls.name, _("Attachments")) + "\n" + _(
            "Optional: send photos or documents that show the initiative (up to {n}). "
            "Attached so far: {count}.").format(n=MAX_ATTACHMENTS, count=len(files))),
            [(_("Done") if files else _("Skip"), "done")])
        return None

    @classmethod
    def file(cls, ctx: Ctx, ev: Inbound) -> Result:
        return cls.add(ctx, Attachment(ev.attachment_kind or "document",
                                       ev.attachment_id or "", ev.text[:128]))

    @classmethod
    def add(cls, ctx: Ctx, item: Attachment) -> Result:
        if len(ctx.draft.attachments) >= MAX_ATTACHMENTS:
            return cls.ask(ctx, error=ctx._("At most {n} attachments.").format(
                n=MAX_ATTACHMENTS))
        ctx.draft.attachments.append(item)
        return cls.ask(ctx)

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        # The terminal has no uploads: a path to a local file stands for one.
        path = text.strip()
        if ctx.channel == "terminal" and os.path.isfile(path):
            return cls.add(ctx, Attachment("path", os.path.abspath(path),
                                           os.path.basename(path)))
        return cls.ask(ctx, error=ctx._(
            "Send a photo or a document, or press the button to go on."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "done":
            return advance(ctx)
        return super().choice(ctx, value)


FLOW = Flow(
    name="submission",
    steps=(Title, Description, Field, Applied, Recognized, Benefit, BenefitConfirm, Coauthors,
           Unit, Attachments),
    transitions=TRANSITIONS,
    commands=(
        command("new", new_initiative, opens={"title"}, words=("sangkien", "new"),
                label=N_("New initiative")),
    ),
)
