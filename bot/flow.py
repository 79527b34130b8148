"""The conversation: every step and every transition, in one place.

    idle ──/sangkien──▶ title ─▶ description ─▶ benefit ─▶ benefit_confirm ─▶ unit ─▶ summary
                          ▲           ▲             ▲                          ▲        │
                          └───────────┴──── edit ◀──┴──────────────────────────┴────────┤
    summary: submit → idle (code shown) · edit → edit · keep → idle · discard → discard
    /nhap → drafts → draft_actions → (resume at the draft's step | discard)
    /cuatoi → mine (paged) · /ngonngu → language · a command mid-flow → interrupt

A step is a class with `ask` (show its prompt, optionally after an error), `text` (a typed
answer) and `choice` (a pressed or numbered option). Steps only touch `ctx`; the core loads
and saves the state around them in one transaction. See `docs/flow.md` for the diagram.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar

from bot import money
from bot.conversation import Ctx
from bot.events import Inbound
from bot.formatting import esc, local_datetime, shorten, vnd
from bot.i18n import N_, SUPPORTED_LOCALES
from storage import queries
from storage.textfold import fold

TITLE_MIN, TITLE_MAX = 10, 200
DESC_MIN, DESC_MAX = 30, 3000
MAX_MESSAGE = 4096
UNIT_PAGE = 5
MINE_PAGE = 5
DRAFTS_SHOWN = 10

# The order a new draft is walked through; editing one field returns to the summary.
DRAFT_ORDER = ("title", "description", "benefit", "unit", "summary")
# Steps that belong to writing a draft: a command there interrupts rather than switches.
IN_DRAFT = frozenset((*DRAFT_ORDER, "benefit_confirm", "edit", "discard"))

STATUS_LABELS = {
    "under_review": N_("under review"),
    "valid": N_("valid"),
    "needs_revision": N_("needs revision"),
    "invalid": N_("invalid"),
    "withdrawn": N_("withdrawn"),
}
STEP_LABELS = {
    "title": N_("title"),
    "description": N_("description"),
    "benefit": N_("benefit value"),
    "benefit_confirm": N_("benefit value"),
    "unit": N_("receiving union"),
    "summary": N_("summary"),
}
# Command words (typed without accents) and their English aliases.
COMMANDS = {
    "start": "start", "sangkien": "new", "new": "new", "nhap": "drafts", "drafts": "drafts",
    "cuatoi": "mine", "mine": "mine", "huy": "cancel", "cancel": "cancel",
    "trogiup": "help", "help": "help", "ngonngu": "language", "language": "language",
}
_MULTISPACE = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _join(*parts: str | None) -> str:
    return "\n\n".join(p for p in parts if p)


def _draft_label(ctx: Ctx, draft: dict[str, Any]) -> str:
    _ = ctx._
    return shorten(draft.get("title") or _("(untitled)"), 60)


# ============================================================================ entry point


def handle(ctx: Ctx, ev: Inbound) -> None:
    """Run one inbound event against the conversation in `ctx`."""
    _ = ctx._
    if ev.kind == "command":
        return on_command(ctx, ev.text, ev.args)
    step = STEPS.get(ctx.conv.step, Idle)
    if ev.kind == "unsupported":
        return step.ask(ctx, error=_("I can only read text messages here."))
    if ev.kind == "choice":
        value = _resolve_token(ctx, ev.text)
        if value is None:
            ctx.toast = _("That button is no longer active.")
            return None
        return step.choice(ctx, value)
    text = unicodedata.normalize("NFC", ev.text)
    if len(text) > MAX_MESSAGE:
        return step.ask(ctx, error=_("That message is too long (at most {n} characters).")
                        .format(n=MAX_MESSAGE))
    value = _match_option(ctx, text, numbers=step.numbered)
    if value is not None:
        return step.choice(ctx, value)
    if not text.strip():
        return step.ask(ctx, error=_("That message is empty. Please type an answer."))
    return step.text(ctx, text)


def _resolve_token(ctx: Ctx, token: str) -> str | None:
    """A button's "<menu id>.<index>" → the option's value, or None when stale."""
    menu = ctx.conv.state.get("menu") or {}
    menu_id, _sep, index = token.partition(".")
    if not (menu_id.isdigit() and index.isdigit()) or int(menu_id) != menu.get("id"):
        return None
    values = menu.get("v", [])
    i = int(index)
    return values[i] if i < len(values) else None


def _match_option(ctx: Ctx, text: str, *, numbers: bool) -> str | None:
    """A typed answer to a numbered list: the option's number, or its label."""
    menu = ctx.conv.state.get("menu") or {}
    values, labels = menu.get("v", []), menu.get("l", [])
    if not values:
        return None
    typed = text.strip().rstrip(".)")
    if numbers and typed.isdigit() and 1 <= int(typed) <= len(values):
        return values[int(typed) - 1]
    folded = fold(text)
    for value, label in zip(values, labels, strict=False):
        if folded and folded == fold(label):
            return value
    return None


def goto(ctx: Ctx, step: str, *, error: str | None = None) -> None:
    ctx.conv.step = step
    draft = ctx.conv.draft
    if draft is not None and step in DRAFT_ORDER:
        draft["step"] = step
    STEPS[step].ask(ctx, error=error)


def advance(ctx: Ctx) -> None:
    """After a field is saved: next field, or back to the summary when editing."""
    draft = ctx.conv.draft
    assert draft is not None
    if ctx.conv.state.pop("editing", False):
        return goto(ctx, "summary")
    current = draft["step"] if draft["step"] in DRAFT_ORDER else "title"
    goto(ctx, DRAFT_ORDER[DRAFT_ORDER.index(current) + 1])


def leave_flow(ctx: Ctx) -> None:
    """Back to the home menu; the draft stays saved and listed under /nhap."""
    for key in ("editing", "pending", "uq", "up", "resume", "cmd", "sel", "page", "back"):
        ctx.conv.state.pop(key, None)
    ctx.conv.step = "idle"
    ctx.conv.draft_id = None


# ============================================================================ commands


def on_command(ctx: Ctx, name: str, args: str) -> None:
    _ = ctx._
    action = COMMANDS.get(name.lower())
    current = ctx.conv.step
    in_draft = current in IN_DRAFT
    if action is None:
        return STEPS.get(current, Idle).ask(ctx, error=_(
            "I don't know the command /{name}. Type /trogiup to see what I can do."
        ).format(name=esc(name)))
    if action == "help":
        ctx.say(help_text(ctx))
        return STEPS.get(current, Idle).ask(ctx) if current != "idle" else Idle.ask(ctx)
    if action == "language":
        ctx.conv.state["back"] = current if current in STEPS else "idle"
        return goto(ctx, "language")
    if action == "cancel":
        if in_draft or current != "idle":
            draft = ctx.conv.draft
            leave_flow(ctx)
            msg = (_("Stopped. Your draft «{title}» is saved: type /nhap to go on with it.")
                   .format(title=esc(_draft_label(ctx, draft))) if draft else _("Stopped."))
            return Idle.ask(ctx, error=msg)
        return Idle.ask(ctx, error=_("There is nothing to cancel."))
    if in_draft:
        # Switching away mid-draft is a choice, not an accident: ask first.
        ctx.conv.state["resume"] = current if current != "benefit_confirm" else "benefit"
        ctx.conv.state["cmd"] = action
        return goto(ctx, "interrupt")
    run_action(ctx, action)


def run_action(ctx: Ctx, action: str) -> None:
    leave_flow(ctx)
    if action == "start":
        ctx.say(welcome_text(ctx))
        return Idle.ask(ctx)
    if action == "new":
        ctx.new_draft()
        return goto(ctx, "title")
    if action == "drafts":
        return goto(ctx, "drafts")
    if action == "mine":
        ctx.conv.state["page"] = 0
        return goto(ctx, "mine")
    raise ValueError(action)


def welcome_text(ctx: Ctx) -> str:
    _ = ctx._
    return _(
        "<b>Welcome to Sáng kiến!</b>\n"
        "I help you register your initiatives (sáng kiến) for the union's drive, step by step: "
        "title, description, benefit value and the union that receives it. Your answers are "
        "saved at every step, so you can stop and go on later."
    )


def help_text(ctx: Ctx) -> str:
    _ = ctx._
    return _(
        "<b>Commands</b>\n"
        "/sangkien — register a new initiative\n"
        "/nhap — your drafts: go on with one, or delete it\n"
        "/cuatoi — your submitted initiatives and their status\n"
        "/huy — stop what you are doing (your draft is kept)\n"
        "/ngonngu — language: Tiếng Việt / English\n"
        "/trogiup — this help\n"
        "On Zalo, type the command word without the slash, e.g. «sangkien»."
    )


# ============================================================================ steps


class Step:
    numbered: ClassVar[bool] = True  # does a typed number pick an option here?

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        raise NotImplementedError

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        cls.ask(ctx, error=ctx._("Please choose one of the options."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        cls.ask(ctx)


class Idle(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(_join(error, _("What would you like to do?")), [
            (_("New initiative"), "new"),
            (_("My drafts"), "drafts"),
            (_("My initiatives"), "mine"),
            (_("Help"), "help"),
        ])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        cls.ask(ctx, error=ctx._("To register an initiative, type /sangkien."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "help":
            ctx.say(help_text(ctx))
            return cls.ask(ctx)
        run_action(ctx, value)


def _keep_option(ctx: Ctx) -> list[tuple[str, str]]:
    return [(ctx._("Keep as it is"), "keep")] if ctx.conv.state.get("editing") else []


class Title(Step):
    numbered = False

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(_join(error, _(
            "<b>Step 1 of 4 · Title</b>\n"
            "What is your initiative called? ({min}–{max} characters)"
        ).format(min=TITLE_MIN, max=TITLE_MAX)), _keep_option(ctx))

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        _ = ctx._
        title = _MULTISPACE.sub(" ", " ".join(text.split())).strip()
        if not TITLE_MIN <= len(title) <= TITLE_MAX:
            return cls.ask(ctx, error=_(
                "The title must be {min}–{max} characters long; yours has {n}."
            ).format(min=TITLE_MIN, max=TITLE_MAX, n=len(title)))
        ctx.conv.draft["title"] = title
        ctx.say(_("Title saved: <b>{title}</b>").format(title=esc(title)))
        advance(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "keep":
            return advance(ctx)
        cls.ask(ctx)


class Description(Step):
    numbered = False

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(_join(error, _(
            "<b>Step 2 of 4 · Description</b>\n"
            "Describe your initiative: the problem, what you changed, and where it is applied "
            "({min}–{max} characters)."
        ).format(min=DESC_MIN, max=ctx_number(ctx, DESC_MAX))), _keep_option(ctx))

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        _ = ctx._
        lines = [_MULTISPACE.sub(" ", line).strip() for line in text.strip().splitlines()]
        desc = _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()
        if not DESC_MIN <= len(desc) <= DESC_MAX:
            return cls.ask(ctx, error=_(
                "The description must be {min}–{max} characters long; yours has {n}."
            ).format(min=DESC_MIN, max=ctx_number(ctx, DESC_MAX), n=ctx_number(ctx, len(desc))))
        ctx.conv.draft["description"] = desc
        ctx.say(_("Description saved ({n} characters).").format(n=ctx_number(ctx, len(desc))))
        advance(ctx)

    choice = Title.choice


def ctx_number(ctx: Ctx, n: int) -> str:
    from bot.formatting import number

    return number(n, ctx.locale)


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


class Benefit(Step):
    numbered = False  # here a typed number is an amount, not an option

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(_join(error, _(
            "<b>Step 3 of 4 · Benefit value</b>\n"
            "About how much money does the initiative gain or save (VND)? For example: "
            "200 triệu, 1,5 tỷ, 500k, 15.000.000. If it cannot be put in money, say so."
        )), [(_("Not quantifiable"), "none"), *_keep_option(ctx)])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        _ = ctx._
        parsed = money.parse_benefit(text)
        if isinstance(parsed, money.BenefitError):
            examples = ", ".join(f"«{e}»" for e in money.format_examples())
            return cls.ask(ctx, error=_join(
                _(_BENEFIT_ERRORS[parsed.reason]),
                _("You can type for example: {examples}.").format(examples=examples)))
        if isinstance(parsed, money.BenefitNotQuantifiable):
            ctx.conv.state["pending"] = {"vnd": None, "known": False}
        else:
            ctx.conv.state["pending"] = {"vnd": parsed.vnd, "known": True}
        ctx.conv.step = "benefit_confirm"
        BenefitConfirm.ask(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "none":
            ctx.conv.draft["benefit_vnd"], ctx.conv.draft["benefit_known"] = None, False
            return advance(ctx)
        if value == "keep":
            return advance(ctx)
        cls.ask(ctx)


class BenefitConfirm(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        pending = ctx.conv.state.get("pending")
        if not pending:
            return goto(ctx, "benefit", error=error)
        shown = benefit_text(ctx, pending["vnd"], pending["known"])
        ctx.ask(_join(error, _("Benefit value: <b>{value}</b>. Is that right?").format(
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
            ctx.conv.step = "benefit"
            return advance(ctx)
        goto(ctx, "benefit")


class Unit(Step):
    """Search for the receiving union by part of its name; pick from a paged list."""

    numbered = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        query = ctx.conv.state.get("uq")
        if query and not error:
            return cls.show_results(ctx)
        ctx.conv.state.pop("uq", None)
        ctx.ask(_join(error, _(
            "<b>Step 4 of 4 · Receiving union</b>\n"
            "Which union is your direct superior union (công đoàn cấp trên trực tiếp)? "
            "Type part of its name, accents optional — for example «phu rieng» or "
            "«y te dong thap»."
        )), _keep_option(ctx) if ctx.conv.draft.get("unit_id") else [])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        ctx.conv.state["uq"] = shorten(" ".join(text.split()), 100)
        ctx.conv.state["up"] = 0
        cls.show_results(ctx)

    @classmethod
    def show_results(cls, ctx: Ctx) -> None:
        _ = ctx._
        query = ctx.conv.state["uq"]
        page = int(ctx.conv.state.get("up", 0))
        # The receiver is a superior union (district, sector, zone…), never a grassroots one.
        hits, truncated = queries.search_units(ctx.conn, query, grassroots=False)
        exact = (queries.unit_by_code(ctx.conn, query, grassroots=False)
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
        shown = hits[start:start + UNIT_PAGE]
        if not shown:
            ctx.conv.state["up"] = page = 0
            start, shown = 0, hits[:UNIT_PAGE]
        options = [(shorten(h.name + (f" · {h.parent_name}" if h.parent_name else ""), 64),
                    f"u:{h.id}") for h in shown]
        if start + UNIT_PAGE < len(hits):
            options.append((_("More results ›"), "more"))
        options.append((_("Search again"), "again"))
        header = _("Results for «{query}» ({first}–{last} of {total}{more}):").format(
            query=esc(query), first=start + 1, last=start + len(shown), total=len(hits),
            more="+" if truncated else "")
        hint = _("Pick the union, or type other words to search again.")
        ctx.ask(_join(header, hint), options)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        if value == "more":
            ctx.conv.state["up"] = int(ctx.conv.state.get("up", 0)) + 1
            return cls.show_results(ctx)
        if value == "again":
            ctx.conv.state.pop("uq", None)
            return cls.ask(ctx)
        if value == "keep":
            return advance(ctx)
        if value.startswith("u:"):
            unit = queries.units_by_ids(ctx.conn, [int(value[2:])]).get(int(value[2:]))
            if unit is None:
                return cls.ask(ctx, error=_("That union is no longer in the directory."))
            ctx.conv.draft["unit_id"] = unit.id
            ctx.conv.state.pop("uq", None)
            ctx.conv.state.pop("up", None)
            ctx.say(_("Receiving union: <b>{name}</b>").format(name=esc(unit.name)))
            return advance(ctx)
        cls.ask(ctx)


def _missing_step(draft: dict[str, Any]) -> str | None:
    if not draft.get("title"):
        return "title"
    if not draft.get("description"):
        return "description"
    if draft.get("benefit_known") is None:
        return "benefit"
    if not draft.get("unit_id"):
        return "unit"
    return None


class Summary(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        d = ctx.conv.draft
        unit = queries.units_by_ids(ctx.conn, [d["unit_id"]]).get(d["unit_id"]) \
            if d.get("unit_id") else None
        missing = _("(not given yet)")
        unit_text = (esc(unit.name) + (f" ({esc(unit.parent_name)})" if unit.parent_name else "")
                     if unit else missing)
        body = _(
            "<b>Your initiative</b>\n"
            "<b>Title:</b> {title}\n"
            "<b>Description:</b> {description}\n"
            "<b>Benefit value:</b> {benefit}\n"
            "<b>Receiving union:</b> {unit}"
        ).format(
            title=esc(d.get("title") or missing),
            description=esc(shorten(d["description"], 1500)) if d.get("description") else missing,
            benefit=esc(benefit_text(ctx, d.get("benefit_vnd"), d.get("benefit_known"))),
            unit=unit_text,
        )
        ctx.ask(_join(error, body, _("Submit it?")), [
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
            missing = _missing_step(draft)
            if missing:
                return goto(ctx, missing, error=_("One more thing is needed before submitting."))
            code = queries.submit_initiative(ctx.conn, draft=draft, channel=ctx.channel,
                                             now=ctx.now)
            ctx.conv.forget_draft(draft["id"])
            leave_flow(ctx)
            ctx.say(_(
                "✅ Submitted! Your initiative's code is <b>{code}</b>.\n"
                "Status: {status} · {when}\n"
                "You can follow it with /cuatoi."
            ).format(code=code, status=_(STATUS_LABELS["under_review"]),
                     when=local_datetime(ctx.now, ctx.locale)))
            return Idle.ask(ctx)
        if value == "edit":
            return goto(ctx, "edit")
        if value == "keep":
            leave_flow(ctx)
            return Idle.ask(ctx, error=_("Draft saved. Type /nhap whenever you want to go on."))
        if value == "discard":
            ctx.conv.state["sel"] = draft["id"]
            ctx.conv.state["back"] = "summary"
            return goto(ctx, "discard")
        cls.ask(ctx)


class Edit(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(_join(error, _("Which field do you want to change?")), [
            (_("Title"), "title"),
            (_("Description"), "description"),
            (_("Benefit value"), "benefit"),
            (_("Receiving union"), "unit"),
            (_("‹ Back to the summary"), "back"),
        ])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value in ("title", "description", "benefit", "unit"):
            ctx.conv.state["editing"] = True
            ctx.conv.step = value
            return STEPS[value].ask(ctx)
        goto(ctx, "summary")


class Discard(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(_join(error, _("Delete this draft for good?")),
                [(_("Yes, delete it"), "yes"), (_("No, keep it"), "no")])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        draft_id = ctx.conv.state.pop("sel", None)
        back = ctx.conv.state.pop("back", "drafts")
        if value == "yes" and draft_id is not None:
            queries.delete_draft(ctx.conn, draft_id=draft_id, person_id=ctx.conv.person_id)
            ctx.conv.forget_draft(draft_id)
            if ctx.conv.draft_id == draft_id:
                ctx.conv.draft_id = None
            leave_flow(ctx)
            return Idle.ask(ctx, error=_("Draft deleted."))
        if back == "summary" and ctx.conv.draft is not None:
            return goto(ctx, "summary")
        goto(ctx, "drafts")


class Drafts(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        drafts = queries.list_drafts(ctx.conn, person_id=ctx.conv.person_id, limit=DRAFTS_SHOWN)
        if not drafts:
            ctx.conv.step = "idle"
            return Idle.ask(ctx, error=_join(error, _("You have no drafts.")))
        options = [(
            _("{title} · at: {step} · {when}").format(
                title=_draft_label(ctx, d), step=_(STEP_LABELS.get(d["step"], d["step"])),
                when=local_datetime(d["updated_at"], ctx.locale)),
            f"d:{d['id']}") for d in drafts]
        options.append((_("‹ Close"), "close"))
        ctx.ask(_join(error, _("<b>Your drafts</b> (most recent first). Pick one:")), options)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value.startswith("d:"):
            ctx.conv.state["sel"] = int(value[2:])
            return goto(ctx, "draft_actions")
        leave_flow(ctx)
        Idle.ask(ctx)


class DraftActions(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        draft = queries.get_draft(ctx.conn, draft_id=ctx.conv.state.get("sel", -1),
                                  person_id=ctx.conv.person_id)
        if draft is None:
            return goto(ctx, "drafts", error=_("That draft no longer exists."))
        ctx.ask(_join(error, _("Draft «{title}» — what now?").format(
            title=esc(_draft_label(ctx, draft)))), [
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
            step = draft["step"] if draft["step"] in DRAFT_ORDER else "title"
            return goto(ctx, step)
        if value == "delete":
            ctx.conv.state["back"] = "drafts"
            return goto(ctx, "discard")
        ctx.conv.state.pop("sel", None)
        goto(ctx, "drafts")


class Mine(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        page = int(ctx.conv.state.get("page", 0))
        rows = queries.list_initiatives(ctx.conn, person_id=ctx.conv.person_id,
                                        offset=page * MINE_PAGE, limit=MINE_PAGE + 1)
        if not rows and page == 0:
            ctx.conv.step = "idle"
            return Idle.ask(ctx, error=_join(
                error, _("You have not submitted any initiative yet. Type /sangkien to start.")))
        lines = [_("<b>Your initiatives</b> (page {page}):").format(page=page + 1)]
        for r in rows[:MINE_PAGE]:
            lines.append(_("<b>{code}</b> · {title}\n   {status} · {unit} · {when}").format(
                code=r["code"], title=esc(shorten(r["title"], 80)),
                status=_(STATUS_LABELS.get(r["status"], r["status"])),
                unit=esc(r["unit_name"]), when=local_datetime(r["submitted_at"], ctx.locale)))
        options = []
        if page > 0:
            options.append((_("‹ Newer"), "prev"))
        if len(rows) > MINE_PAGE:
            options.append((_("Older ›"), "next"))
        options.append((_("‹ Close"), "close"))
        ctx.ask(_join(error, "\n".join(lines)), options)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        page = int(ctx.conv.state.get("page", 0))
        if value in ("next", "prev"):
            ctx.conv.state["page"] = max(0, page + (1 if value == "next" else -1))
            return cls.ask(ctx)
        leave_flow(ctx)
        Idle.ask(ctx)


LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


class Language(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(_join(error, _("Choose your language:")),
                [(LANGUAGE_NAMES[code], f"l:{code}") for code in SUPPORTED_LOCALES])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value.startswith("l:") and value[2:] in SUPPORTED_LOCALES:
            ctx.set_locale(value[2:])
        back = ctx.conv.state.pop("back", "idle")
        ctx.say(ctx._("Language: {name}").format(name=LANGUAGE_NAMES[ctx.locale]))
        if back in ("idle", "language") or back not in STEPS:
            ctx.conv.step = "idle"
            return Idle.ask(ctx)
        ctx.conv.step = back
        STEPS[back].ask(ctx)


class Interrupt(Step):
    """A command typed in the middle of a draft: go on, or switch (the draft is kept)."""

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        resume = ctx.conv.state.get("resume", "title")
        draft = ctx.conv.draft
        labels = {"start": _("Home"), "new": _("New initiative"), "drafts": _("My drafts"),
                  "mine": _("My initiatives")}
        ctx.ask(_join(error, _(
            "You are in the middle of an initiative (step: {step}). It is saved as a draft. "
            "Go on with it, or switch?"
        ).format(step=_(STEP_LABELS.get(resume, resume)))) + (
            f"\n«{esc(_draft_label(ctx, draft))}»" if draft else ""), [
            (_("Go on with it"), "resume"),
            (labels.get(ctx.conv.state.get("cmd", "start"), _("Home")), "switch"),
        ])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        resume = ctx.conv.state.pop("resume", "title")
        cmd = ctx.conv.state.pop("cmd", "start")
        if value == "switch" or ctx.conv.draft is None:
            return run_action(ctx, cmd)
        goto(ctx, resume)


STEPS: dict[str, type[Step]] = {
    "idle": Idle,
    "title": Title,
    "description": Description,
    "benefit": Benefit,
    "benefit_confirm": BenefitConfirm,
    "unit": Unit,
    "summary": Summary,
    "edit": Edit,
    "discard": Discard,
    "drafts": Drafts,
    "draft_actions": DraftActions,
    "mine": Mine,
    "language": Language,
    "interrupt": Interrupt,
}
