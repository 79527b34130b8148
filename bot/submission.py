"""Writing an initiative: the draft's steps, the summary, drafts and the worker's list.

A worker's own draft asks, in order: title, description, field, date first applied,
recognition by the unit's council, benefit value, co-authors, receiving union, attachments,
then shows the summary. A support team registering for a worker (kê khai hộ) first gives the
author's name, phone (optional) and grassroots union.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import timedelta
from typing import Any

from bot import money
from bot.conversation import Ctx
from bot.dates import parse_day
from bot.events import Inbound
from bot.fields import field_label, fields
from bot.formatting import TIMEZONE, esc, local_datetime, number, shorten, vnd
from bot.i18n import N_
from bot.steps import (
    STEPS,
    Step,
    command,
    goto,
    home,
    join,
    leave_flow,
    page_options,
    step,
    turn_page,
)
from storage import access, queries, similar
from storage import review as review_queries

log = logging.getLogger(__name__)

TITLE_MIN, TITLE_MAX = 10, 200
DESC_MIN, DESC_MAX = 30, 3000
NAME_MIN, NAME_MAX = 2, 128
UNIT_PAGE = 5
MINE_PAGE = 5
DRAFTS_SHOWN = 10
MAX_COAUTHORS = 10
MAX_ATTACHMENTS = 10
CLAIM_DAYS = 180

ORDER_SELF = ("title", "description", "field", "applied", "recognized", "benefit",
              "coauthors", "unit", "attachments", "summary")
ORDER_BEHALF = ("author_name", "author_phone", "author_unit", *ORDER_SELF)

STATUS_LABELS = {
    "under_review": N_("under review"),
    "valid": N_("valid"),
    "needs_revision": N_("needs revision"),
    "invalid": N_("invalid"),
    "withdrawn": N_("withdrawn"),
}
STEP_LABELS = {
    "author_name": N_("author's name"),
    "author_phone": N_("author's phone"),
    "author_unit": N_("author's grassroots union"),
    "title": N_("title"),
    "description": N_("description"),
    "field": N_("field"),
    "applied": N_("date first applied"),
    "recognized": N_("recognition"),
    "benefit": N_("benefit value"),
    "benefit_confirm": N_("benefit value"),
    "coauthors": N_("co-authors"),
    "unit": N_("receiving union"),
    "attachments": N_("attachments"),
    "summary": N_("summary"),
}
_MULTISPACE = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_PHONE = re.compile(r"^(?:\+?84|0)\d{8,10}$")


def order(draft: dict[str, Any]) -> tuple[str, ...]:
    return ORDER_BEHALF if draft.get("on_behalf") else ORDER_SELF


def one_line(text: str) -> str:
    return _MULTISPACE.sub(" ", " ".join(text.split())).strip()


def name_error(ctx: Ctx, name: str) -> str | None:
    """Why `name` cannot be a person's name (the author, a co-author, the user), or None."""
    if NAME_MIN <= len(name) <= NAME_MAX:
        return None
    return ctx._("A name must be {min}–{max} characters long.").format(min=NAME_MIN,
                                                                       max=NAME_MAX)


def draft_label(ctx: Ctx, draft: dict[str, Any]) -> str:
    return shorten(draft.get("title") or ctx._("(untitled)"), 60)


def header(ctx: Ctx, name: str, label: str) -> str:
    """"Step 3 of 10 · Field" for the current draft."""
    steps = [s for s in order(ctx.conv.draft) if s != "summary"]
    n = steps.index(name) + 1 if name in steps else 0
    return ctx._("<b>Step {n} of {total} · {label}</b>").format(n=n, total=len(steps),
                                                                label=label)


def advance(ctx: Ctx) -> None:
    """After a field is saved: the next one, or back to the summary when editing."""
    draft = ctx.conv.draft
    assert draft is not None
    if ctx.conv.state.pop("editing", False):
        return goto(ctx, "summary")
    seq = order(draft)
    current = draft["step"] if draft["step"] in seq else seq[0]
    goto(ctx, seq[seq.index(current) + 1])


def keep_option(ctx: Ctx) -> list[tuple[str, str]]:
    return [(ctx._("Keep as it is"), "keep")] if ctx.conv.state.get("editing") else []


class DraftStep(Step):
    in_draft = True

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "keep":
            return advance(ctx)
        cls.ask(ctx)


# ============================================================================ commands


@command("new", "sangkien", "new", label=N_("New initiative"))
def new_initiative(ctx: Ctx, _args: str = "") -> None:
    leave_flow(ctx)
    draft = ctx.new_draft()
    goto(ctx, draft["step"])


@command("behalf", "khaiho", "behalf", label=N_("Register for a worker"))
def new_on_behalf(ctx: Ctx, _args: str = "") -> None:
    """Kê khai hộ: only for a support team (or a chair) of some unit."""
    _ = ctx._
    if not access.grants(ctx.conn, person_id=ctx.conv.person_id, roles=("support", "chair")):
        log.warning("refused: person %s tried /khaiho without a role", ctx.conv.person_id)
        return home(ctx, error=_(
            "Only a support team (Tổ hỗ trợ sáng kiến) can register initiatives for others."))
    leave_flow(ctx)
    ctx.new_draft(step="author_name", on_behalf=True)
    goto(ctx, "author_name")


@command("drafts", "nhap", "drafts", label=N_("My drafts"))
def show_drafts(ctx: Ctx, _args: str = "") -> None:
    leave_flow(ctx)
    goto(ctx, "drafts")


@command("mine", "cuatoi", "mine", label=N_("My initiatives"))
def show_mine(ctx: Ctx, _args: str = "") -> None:
    leave_flow(ctx)
    ctx.conv.state["page"] = 0
    goto(ctx, "mine")


# ============================================================================ on behalf


@step("author_name")
class AuthorName(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, header(ctx, "author_name", _("Author")) + "\n" + _(
            "Registering for a worker. What is the author's full name?")), keep_option(ctx))

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        name = one_line(text)
        if error := name_error(ctx, name):
            return cls.ask(ctx, error=error)
        ctx.conv.draft["author_name"] = name
        advance(ctx)


@step("author_phone")
class AuthorPhone(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, header(ctx, "author_phone", _("Phone")) + "\n" + _(
            "The author's phone number, so the union can reach them (optional).")),
            [(_("Skip"), "skip"), *keep_option(ctx)])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        phone = re.sub(r"[\s.\-()]", "", text)
        if not _PHONE.match(phone):
            return cls.ask(ctx, error=ctx._(
                "That does not look like a Vietnamese phone number (e.g. 0912 345 678)."))
        ctx.conv.draft["author_phone"] = phone
        advance(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "skip":
            ctx.conv.draft["author_phone"] = None
            return advance(ctx)
        super().choice(ctx, value)


class UnitSearch(DraftStep):
    """Find a union by part of its name (accents optional) or its code; pick from a list."""

    grassroots: bool = False
    target: str = "unit_id"

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        raise NotImplementedError

    @classmethod
    def suggestions(cls, ctx: Ctx) -> list[tuple[str, str]]:
        return []

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        if ctx.conv.state.get("uq") and not error:
            return cls.show_results(ctx)
        ctx.conv.state.pop("uq", None)
        ctx.ask(join(error, cls.prompt(ctx)), [*cls.suggestions(ctx), *cls.extra_options(ctx)])

    @classmethod
    def extra_options(cls, ctx: Ctx) -> list[tuple[str, str]]:
        return keep_option(ctx)

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        ctx.conv.state["uq"] = shorten(one_line(text), 100)
        ctx.conv.state["up"] = 0
        cls.show_results(ctx)

    @classmethod
    def show_results(cls, ctx: Ctx) -> None:
        _ = ctx._
        query = ctx.conv.state["uq"]
        page = int(ctx.conv.state.get("up", 0))
        hits, truncated = queries.search_units(ctx.conn, query, grassroots=cls.grassroots)
        exact = (queries.unit_by_code(ctx.conn, query, grassroots=cls.grassroots)
                 if len(query) <= 32 else None)
        if exact is not None:
            hits = [exact, *[h for h in hits if h.id != exact.id]]
        if not hits:
            ctx.conv.state.pop("uq", None)
            return cls.ask(ctx, error=_(
                "I found no union matching «{query}». Try fewer or other words, e.g. the "
                "district or province name."
            ).format(query=esc(query)))
        start = page * UNIT_PAGE
        if start >= len(hits):
            ctx.conv.state["up"] = page = start = 0
        shown = hits[start:start + UNIT_PAGE]
        options = [(unit_label(h.name, h.parent_name), f"u:{h.id}") for h in shown]
        if start + UNIT_PAGE < len(hits):
            options.append((_("More results ›"), "more"))
        options.append((_("Search again"), "again"))
        head = _("Results for «{query}» ({first}–{last} of {total}{more}):").format(
            query=esc(query), first=start + 1, last=start + len(shown), total=len(hits),
            more="+" if truncated else "")
        ctx.ask(join(head, _("Pick the union, or type other words to search again.")), options)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        if value == "more":
            ctx.conv.state["up"] = int(ctx.conv.state.get("up", 0)) + 1
            return cls.show_results(ctx)
        if value == "again":
            ctx.conv.state.pop("uq", None)
            return cls.ask(ctx)
        if value.startswith("u:"):
            unit_id = int(value[2:])
            unit = queries.units_by_ids(ctx.conn, [unit_id]).get(unit_id)
            if unit is None:
                return cls.ask(ctx, error=_("That union is no longer in the directory."))
            if not cls.allowed(ctx, unit_id):
                return None
            ctx.conv.state.pop("uq", None)
            ctx.conv.state.pop("up", None)
            ctx.say(_("Union: <b>{name}</b>").format(name=esc(unit.name)))
            return cls.chosen(ctx, unit.id)
        super().choice(ctx, value)

    @classmethod
    def allowed(cls, ctx: Ctx, unit_id: int) -> bool:
        return True

    @classmethod
    def chosen(cls, ctx: Ctx, unit_id: int) -> None:
        ctx.conv.draft[cls.target] = unit_id
        advance(ctx)


def unit_label(name: str, parent: str | None) -> str:
    return shorten(name + (f" · {parent}" if parent else ""), 64)


@step("author_unit")
class AuthorUnit(UnitSearch):
    grassroots = True
    target = "author_unit_id"

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        _ = ctx._
        return header(ctx, "author_unit", _("Author's union")) + "\n" + _(
            "Which grassroots union (công đoàn cơ sở) does the author belong to? Type part of "
            "its name or its code.")

    @classmethod
    def allowed(cls, ctx: Ctx, unit_id: int) -> bool:
        # A support team registers only for workers of the units it looks after.
        if access.covers(ctx.conn, person_id=ctx.conv.person_id, roles=("support", "chair"),
                         unit_id=unit_id):
            return True
        log.warning("refused: person %s registering for unit %s outside their scope",
                    ctx.conv.person_id, unit_id)
        ctx.conv.state.pop("uq", None)
        cls.ask(ctx, error=ctx._(
            "You can register initiatives only for workers of the unions your support team "
            "looks after."))
        return False


# ============================================================================ the initiative


@step("title")
class Title(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, header(ctx, "title", _("Title")) + "\n" + _(
            "What is the initiative called? ({min}–{max} characters)"
        ).format(min=TITLE_MIN, max=TITLE_MAX)), keep_option(ctx))

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        _ = ctx._
        title = one_line(text)
        if not TITLE_MIN <= len(title) <= TITLE_MAX:
            return cls.ask(ctx, error=_(
                "The title must be {min}–{max} characters long; yours has {n}."
            ).format(min=TITLE_MIN, max=TITLE_MAX, n=len(title)))
        ctx.conv.draft["title"] = title
        ctx.say(_("Title saved: <b>{title}</b>").format(title=esc(title)))
        advance(ctx)


@step("description")
class Description(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, header(ctx, "description", _("Description")) + "\n" + _(
            "Describe the initiative: the problem, what was changed, and where it is applied "
            "({min}–{max} characters)."
        ).format(min=DESC_MIN, max=number(DESC_MAX, ctx.locale))), keep_option(ctx))

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        _ = ctx._
        lines = [_MULTISPACE.sub(" ", line).strip() for line in text.strip().splitlines()]
        desc = _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()
        if not DESC_MIN <= len(desc) <= DESC_MAX:
            return cls.ask(ctx, error=_(
                "The description must be {min}–{max} characters long; yours has {n}."
            ).format(min=DESC_MIN, max=number(DESC_MAX, ctx.locale),
                     n=number(len(desc), ctx.locale)))
        ctx.conv.draft["description"] = desc
        ctx.say(_("Description saved ({n} characters).").format(n=number(len(desc), ctx.locale)))
        advance(ctx)


@step("field")
class Field(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        options = [(field_label(code, ctx.locale) or code, f"f:{code}") for code in fields()]
        ctx.ask(join(error, header(ctx, "field", _("Field")) + "\n" + _(
            "Which field (lĩnh vực) is the initiative in?")), [*options, *keep_option(ctx)])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value.startswith("f:") and value[2:] in fields():
            ctx.conv.draft["field_code"] = value[2:]
            return advance(ctx)
        super().choice(ctx, value)


_DATE_ERRORS = {
    "unreadable": N_("I could not read that date. Type it as day/month/year, e.g. 15/03/2023."),
    "future": N_("That date is in the future: type the date it was first applied."),
    "too_old": N_("That date is too far in the past."),
}


@step("applied")
class Applied(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, header(ctx, "applied", _("Date applied")) + "\n" + _(
            "When was the initiative first applied? (day/month/year, e.g. 15/03/2023; "
            "or month/year)")), keep_option(ctx))

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        day = parse_day(text, today=ctx.now.astimezone(TIMEZONE).date())
        if isinstance(day, str):
            return cls.ask(ctx, error=ctx._(_DATE_ERRORS[day]))
        ctx.conv.draft["applied_on"] = day
        advance(ctx)


@step("recognized")
class Recognized(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, header(ctx, "recognized", _("Recognition")) + "\n" + _(
            "Has the initiative been recognised by the unit's initiative council (Hội đồng "
            "sáng kiến) or by its head? The national rules require it.")), [
            (_("Yes, it is recognised"), "yes"), (_("Not yet"), "no"), *keep_option(ctx)])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        if value == "yes":
            ctx.conv.draft["recognized"] = True
            return advance(ctx)
        if value == "no":
            ctx.conv.draft["recognized"] = False
            draft = ctx.conv.draft
            return home(ctx, error=_(
                "An initiative can be registered once the unit's initiative council or head "
                "has recognised it. Your draft «{title}» is kept: go on with it under /nhap "
                "when it is recognised.").format(title=esc(draft_label(ctx, draft))))
        super().choice(ctx, value)


def benefit_text(ctx: Ctx, vnd_value: int | None, known: bool | None) -> str:
    _ = ctx._
    if known is None:
        return _("(not given yet)")
    if not known or vnd_value is None:
        return _("not quantifiable in money")
    return vnd(vnd_value, ctx.locale)


_BENEFIT_ERRORS = {
    "empty": N_("Please type an amount."),
    "negative": N_("The benefit value cannot be negative."),
    "too_large": N_("That amount is too large to be right."),
    "ambiguous": N_("I am not sure which amount you mean."),
    "unreadable": N_("I could not read that as an amount of money."),
    "fraction_of_dong": N_("The amount must be a whole number of đồng."),
}


@step("benefit")
class Benefit(DraftStep):
    # A typed number that is an option's number picks it ("1" → not quantifiable), as the
    # numbered list on Zalo and in the terminal says; nobody means an amount of 1–3 đồng.
    # Any other number is an amount.

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, header(ctx, "benefit", _("Benefit value")) + "\n" + _(
            "About how much money does the initiative gain or save (VND)? For example: "
            "200 triệu, 1,5 tỷ, 500k, 15.000.000. If it cannot be put in money, say so."
        )), [(_("Not quantifiable"), "none"), *keep_option(ctx)])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        _ = ctx._
        parsed = money.parse_benefit(text)
        if isinstance(parsed, money.BenefitError):
            examples = ", ".join(f"«{e}»" for e in money.format_examples())
            return cls.ask(ctx, error=join(
                _(_BENEFIT_ERRORS[parsed.reason]),
                _("You can type for example: {examples}.").format(examples=examples)))
        if isinstance(parsed, money.BenefitNotQuantifiable):
            ctx.conv.state["pending"] = {"vnd": None, "known": False}
        else:
            ctx.conv.state["pending"] = {"vnd": parsed.vnd, "known": True}
        goto(ctx, "benefit_confirm")

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "none":
            ctx.conv.draft["benefit_vnd"], ctx.conv.draft["benefit_known"] = None, False
            return advance(ctx)
        super().choice(ctx, value)


@step("benefit_confirm")
class BenefitConfirm(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        pending = ctx.conv.state.get("pending")
        if not pending:
            return goto(ctx, "benefit", error=error)
        shown = benefit_text(ctx, pending["vnd"], pending["known"])
        ctx.ask(join(error, _("Benefit value: <b>{value}</b>. Is that right?").format(
            value=esc(shown))), [(_("Yes, save it"), "yes"), (_("No, type again"), "no")])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        # A new amount typed instead of yes/no is read as a correction.
        ctx.conv.step = "benefit"
        Benefit.text(ctx, text)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        pending = ctx.conv.state.pop("pending", None)
        if value == "yes" and pending:
            ctx.conv.draft["benefit_vnd"] = pending["vnd"]
            ctx.conv.draft["benefit_known"] = pending["known"]
            return advance(ctx)
        goto(ctx, "benefit")


def coauthor_list(draft: dict[str, Any]) -> list[str]:
    return json.loads(draft["coauthors"]) if draft.get("coauthors") else []


@step("coauthors")
class Coauthors(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        names = coauthor_list(ctx.conv.draft)
        current = (_("Co-authors so far: {names}").format(names=esc(", ".join(names)))
                   if names else None)
        ctx.ask(join(error, header(ctx, "coauthors", _("Co-authors")) + "\n" + _(
            "Did others write it with you (đồng tác giả)? Type their full names, one per line "
            "or separated by commas."), current), [
            (_("Done") if names else _("No co-authors"), "done"),
            *([(_("Clear the list"), "clear")] if names else [])])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        names = coauthor_list(ctx.conv.draft)
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
        ctx.conv.draft["coauthors"] = json.dumps(names, ensure_ascii=False)
        cls.ask(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "clear":
            ctx.conv.draft["coauthors"] = None
            return cls.ask(ctx)
        if value == "done":
            if ctx.conv.draft.get("coauthors") is None:
                ctx.conv.draft["coauthors"] = "[]"
            return advance(ctx)
        super().choice(ctx, value)


@step("unit")
class Unit(UnitSearch):
    """The receiver: a superior union (district, sector, zone…), never a grassroots one."""

    grassroots = False

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        _ = ctx._
        return header(ctx, "unit", _("Receiving union")) + "\n" + _(
            "Which union receives the initiative — the direct superior union (công đoàn cấp "
            "trên trực tiếp)? Type part of its name, accents optional, e.g. «phu rieng» or "
            "«y te dong thap».")

    @classmethod
    def suggestions(cls, ctx: Ctx) -> list[tuple[str, str]]:
        """The parent of the author's grassroots union, offered first: one tap to accept."""
        draft = ctx.conv.draft
        grassroots = draft.get("author_unit_id")
        if grassroots is None and not draft.get("on_behalf"):
            grassroots = ctx.person()["unit_id"]
        if grassroots is None:
            return []
        ids = access.ancestor_ids(ctx.conn, unit_id=grassroots)
        if len(ids) < 2:
            return []
        parent = queries.units_by_ids(ctx.conn, [ids[1]]).get(ids[1])
        return [("✓ " + unit_label(parent.name, parent.parent_name), f"u:{parent.id}")] \
            if parent else []


@step("attachments")
class Attachments(DraftStep):
    accepts_files = True
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        files = json.loads(ctx.conv.draft.get("attachments") or "[]")
        ctx.ask(join(error, header(ctx, "attachments", _("Attachments")) + "\n" + _(
            "Optional: send photos or documents that show the initiative (up to {n}). "
            "Attached so far: {count}.").format(n=MAX_ATTACHMENTS, count=len(files))),
            [(_("Done") if files else _("Skip"), "done")])

    @classmethod
    def file(cls, ctx: Ctx, ev: Inbound) -> None:
        cls.add(ctx, {"kind": ev.attachment_kind, "file_id": ev.attachment_id,
                      "name": ev.text[:128]})

    @classmethod
    def add(cls, ctx: Ctx, item: dict[str, Any]) -> None:
        files = json.loads(ctx.conv.draft.get("attachments") or "[]")
        if len(files) >= MAX_ATTACHMENTS:
            return cls.ask(ctx, error=ctx._("At most {n} attachments.").format(
                n=MAX_ATTACHMENTS))
        files.append(item)
        ctx.conv.draft["attachments"] = json.dumps(files, ensure_ascii=False)
        cls.ask(ctx)

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        # The terminal has no uploads: a path to a local file stands for one.
        path = text.strip()
        if ctx.channel == "terminal" and os.path.isfile(path):
            return cls.add(ctx, {"kind": "path", "file_id": os.path.abspath(path),
                                 "name": os.path.basename(path)})
        cls.ask(ctx, error=ctx._("Send a photo or a document, or press the button to go on."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "done":
            return advance(ctx)
        super().choice(ctx, value)


def missing_step(draft: dict[str, Any]) -> str | None:
    checks = {
        "author_name": draft.get("author_name"), "author_unit": draft.get("author_unit_id"),
        "title": draft.get("title"), "description": draft.get("description"),
        "field": draft.get("field_code"), "applied": draft.get("applied_on"),
        "recognized": draft.get("recognized"),
        "benefit": draft.get("benefit_known") is not None,
        "coauthors": draft.get("coauthors") is not None, "unit": draft.get("unit_id"),
    }
    for name in order(draft):
        if name in checks and not checks[name]:
            return name
    return None


def authors_of(ctx: Ctx, draft: dict[str, Any]) -> list[str]:
    first = (draft.get("author_name") if draft.get("on_behalf")
             else ctx.person()["name"])
    return [first or ctx._("(no name)"), *coauthor_list(draft)]


@step("summary")
class Summary(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        d = ctx.conv.draft
        missing = _("(not given yet)")
        ids = [i for i in (d.get("unit_id"), d.get("author_unit_id")) if i]
        units = queries.units_by_ids(ctx.conn, ids) if ids else {}

        def unit_text(unit_id: int | None) -> str:
            u = units.get(unit_id) if unit_id else None
            if u is None:
                return missing
            return esc(u.name) + (f" ({esc(u.parent_name)})" if u.parent_name else "")

        files = json.loads(d.get("attachments") or "[]")
        authors = authors_of(ctx, d)
        lines = [_("<b>The initiative</b>")]
        if d.get("on_behalf"):
            lines.append(_("<b>Registered for:</b> {name}, {unit}").format(
                name=esc(d.get("author_name") or missing), unit=unit_text(d.get("author_unit_id"))))
        lines += [
            _("<b>Authors:</b> {names}").format(names=esc(", ".join(authors))),
            _("<b>Title:</b> {title}").format(title=esc(d.get("title") or missing)),
            _("<b>Description:</b> {description}").format(
                description=esc(shorten(d["description"], 1200)) if d.get("description")
                else missing),
            _("<b>Field:</b> {field}").format(
                field=esc(field_label(d.get("field_code"), ctx.locale) or missing)),
            _("<b>First applied:</b> {day}").format(
                day=d["applied_on"].strftime("%d/%m/%Y") if d.get("applied_on") else missing),
            _("<b>Benefit value:</b> {benefit}").format(
                benefit=esc(benefit_text(ctx, d.get("benefit_vnd"), d.get("benefit_known")))),
            _("<b>Receiving union:</b> {unit}").format(unit=unit_text(d.get("unit_id"))),
            _("<b>Attachments:</b> {n}").format(n=len(files)),
        ]
        similar_note = None
        if d.get("unit_id") and d.get("title") and d.get("description"):
            hits = similar.find_similar(ctx.conn, unit_id=d["unit_id"], title=d["title"],
                                        description=d["description"],
                                        exclude_id=d.get("initiative_id"))
            if hits:
                from bot.review import similar_text

                similar_note = similar_text(ctx, hits)
        ctx.ask(join(error, "\n".join(lines), similar_note, _("Submit it?")), [
            (_("Submit"), "submit"),
            (_("Edit a field"), "edit"),
            (_("Keep as draft"), "keep"),
            (_("Discard"), "discard"),
        ])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        draft = ctx.conv.draft
        if value == "submit":
            return submit(ctx, draft)
        if value == "edit":
            return goto(ctx, "edit")
        if value == "keep":
            return home(ctx, error=_("Draft saved. Type /nhap whenever you want to go on."))
        if value == "discard":
            ctx.conv.state["sel"] = draft["id"]
            ctx.conv.state["back"] = "summary"
            return goto(ctx, "discard")
        cls.ask(ctx)


def submit(ctx: Ctx, draft: dict[str, Any]) -> None:
    _ = ctx._
    missing = missing_step(draft)
    if missing:
        return goto(ctx, missing, error=_("One more thing is needed before submitting."))
    if not draft.get("recognized"):
        return goto(ctx, "recognized")
    from bot import review

    if draft.get("initiative_id"):
        return review.resubmit(ctx, draft)
    behalf = bool(draft.get("on_behalf"))
    if not behalf:  # the author's own grassroots union, from their profile
        draft["author_unit_id"] = ctx.person()["unit_id"]
    initiative_id, code = queries.submit_initiative(
        ctx.conn, draft=draft, authors=authors_of(ctx, draft),
        author_person_id=None if behalf else ctx.conv.person_id, channel=ctx.channel,
        now=ctx.now)
    review_queries.log_submission(ctx.conn, initiative_id=initiative_id,
                                  actor_id=ctx.conv.person_id, now=ctx.now)
    similar.index_initiative(ctx.conn, initiative_id=initiative_id, unit_id=draft["unit_id"],
                             title=draft["title"], description=draft["description"])
    review.alert_submission(ctx, initiative_id=initiative_id, unit_id=draft["unit_id"],
                            author_unit_id=draft.get("author_unit_id"))
    ctx.conv.forget_draft(draft["id"])
    leave_flow(ctx)
    ctx.say(_(
        "✅ Submitted! The initiative's code is <b>{code}</b>.\n"
        "Status: {status} · {when}"
    ).format(code=code, status=_(STATUS_LABELS["under_review"]),
             when=local_datetime(ctx.now, ctx.locale)))
    if behalf:
        claim = access.create_code(
            ctx.conn, purpose="claim", now=ctx.now, expires_at=ctx.now + timedelta(days=CLAIM_DAYS),
            target_id=initiative_id, created_by=ctx.conv.person_id)
        ctx.say(_(
            "If {name} starts using the bot, give them this code: <code>{claim}</code>. "
            "Typing it links the initiative to their account."
        ).format(name=esc(draft.get("author_name") or ""), claim=claim), separate=True)
    else:
        ctx.say(_("You can follow it with /cuatoi."))
    STEPS["idle"].ask(ctx)


@step("edit")
class Edit(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        names = [s for s in order(ctx.conv.draft) if s != "summary"]
        options = [(_(STEP_LABELS[s]).capitalize(), s) for s in names]
        ctx.ask(join(error, _("Which field do you want to change?")),
                [*options, (_("‹ Back to the summary"), "back")])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value in order(ctx.conv.draft) and value != "summary":
            ctx.conv.state["editing"] = True
            ctx.conv.step = value
            return STEPS[value].ask(ctx)
        goto(ctx, "summary")


@step("discard")
class Discard(DraftStep):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, _("Delete this draft for good?")),
                [(_("Yes, delete it"), "yes"), (_("No, keep it"), "no")])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        draft_id = ctx.conv.state.pop("sel", None)
        back = ctx.conv.state.pop("back", "drafts")
        if value == "yes" and draft_id is not None:
            queries.delete_draft(ctx.conn, draft_id=draft_id, person_id=ctx.conv.person_id)
            ctx.conv.forget_draft(draft_id)
            return home(ctx, error=_("Draft deleted."))
        if back == "summary" and ctx.conv.draft is not None:
            return goto(ctx, "summary")
        goto(ctx, "drafts")


# ============================================================================ lists


@step("drafts")
class Drafts(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        drafts = queries.list_drafts(ctx.conn, person_id=ctx.conv.person_id, limit=DRAFTS_SHOWN)
        if not drafts:
            return home(ctx, error=join(error, _("You have no drafts.")))
        options = [(
            _("{title} · at: {step} · {when}").format(
                title=draft_label(ctx, d), step=_(STEP_LABELS.get(d["step"], d["step"])),
                when=local_datetime(d["updated_at"], ctx.locale)),
            f"d:{d['id']}") for d in drafts]
        options.append((_("‹ Close"), "close"))
        ctx.ask(join(error, _("<b>Your drafts</b> (most recent first). Pick one:")), options)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value.startswith("d:"):
            ctx.conv.state["sel"] = int(value[2:])
            return goto(ctx, "draft_actions")
        home(ctx)


@step("draft_actions")
class DraftActions(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        draft = queries.get_draft(ctx.conn, draft_id=ctx.conv.state.get("sel", -1),
                                  person_id=ctx.conv.person_id)
        if draft is None:
            return goto(ctx, "drafts", error=_("That draft no longer exists."))
        ctx.ask(join(error, _("Draft «{title}» — what now?").format(
            title=esc(draft_label(ctx, draft)))), [
            (_("Go on with it"), "resume"),
            (_("Delete it"), "delete"),
            (_("‹ Back"), "back"),
        ])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        draft_id = ctx.conv.state.get("sel", -1)
        if value == "resume":
            draft = ctx.open_draft(draft_id)
            if draft is None:
                return goto(ctx, "drafts", error=_("That draft no longer exists."))
            ctx.conv.state.pop("sel", None)
            seq = order(draft)
            return goto(ctx, draft["step"] if draft["step"] in seq else seq[0])
        if value == "delete":
            ctx.conv.state["back"] = "drafts"
            return goto(ctx, "discard")
        ctx.conv.state.pop("sel", None)
        goto(ctx, "drafts")


@step("mine")
class Mine(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        page = int(ctx.conv.state.get("page", 0))
        rows = queries.list_initiatives(ctx.conn, person_id=ctx.conv.person_id,
                                        offset=page * MINE_PAGE, limit=MINE_PAGE + 1)
        if not rows and page == 0:
            return home(ctx, error=join(
                error, _("You have not submitted any initiative yet. Type /sangkien to start.")))
        lines = [_("<b>Your initiatives</b> (page {page}):").format(page=page + 1)]
        for r in rows[:MINE_PAGE]:
            lines.append(_("<b>{code}</b> · {title}\n   {status} · {unit} · {when}").format(
                code=r["code"], title=esc(shorten(r["title"], 80)),
                status=_(STATUS_LABELS.get(r["status"], r["status"])),
                unit=esc(r["unit_name"]), when=local_datetime(r["submitted_at"], ctx.locale)))
        ctx.ask(join(error, "\n".join(lines)),
                page_options(ctx, page=page, more=len(rows) > MINE_PAGE))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if turn_page(ctx, value):
            return cls.ask(ctx)
        home(ctx)
