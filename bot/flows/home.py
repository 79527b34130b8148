"""Home: the idle menu, /start, /trogiup, /huy, and the question asked when a command
arrives in the middle of a draft."""

from __future__ import annotations

from bot.conversation import Ctx
from bot.flows.engine import (
    ANY,
    HOME,
    INTERRUPT,
    Flow,
    Next,
    Result,
    Step,
    action_label,
    ask_again,
    command,
    home,
    join,
    run,
)
from bot.flows.onboarding import typed_code, welcome_text
from bot.flows.submission import draft_label
from bot.formatting import esc
from bot.i18n import N_
from bot.labels import STEP_LABELS
from storage import access
from storage.textfold import fold

TRANSITIONS = {
    HOME: set(),            # its options run commands
    INTERRUPT: {ANY},     # go on: back to the step the command interrupted
}

HOME_OPTIONS = (
    ("new", N_("New initiative")),
    ("drafts", N_("My drafts")),
    ("mine", N_("My initiatives")),
    ("profile", N_("My profile")),
    ("help", N_("Help")),
)
ROLE_OPTIONS = {
    "support": (("pending", N_("To review")), ("behalf", N_("Register for a worker")),
                ("progress", N_("Progress"))),
    "chair": (("pending", N_("To review")), ("behalf", N_("Register for a worker")),
              ("invite", N_("Support team")), ("progress", N_("Progress")),
              ("campaigns", N_("Campaigns"))),
}


class Idle(Step):
    name = HOME

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        options = [(_(label), action) for action, label in HOME_OPTIONS]
        roles = (access.roles_held(ctx.conn, person_id=ctx.conv.person_id)
                 if ctx.conv.may_hold_roles else set())
        for role in ("chair", "support"):
            for action, label in ROLE_OPTIONS[role] if role in roles else ():
                if action not in {a for _l, a in options}:
                    options.insert(-1, (_(label), action))
        ctx.ask(join(error, _("What would you like to do?")), options)
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        # A command word typed as it is said, with its spaces ("sang kien", "ban nhap"): at
        # home no answer is waited for, so it is that command.
        action = ctx.dispatcher.registry.words.get(fold(text).replace(" ", ""))
        if action is not None:
            return run(ctx, action)
        return typed_code(ctx, text) or cls.ask(
            ctx, error=ctx._("To register an initiative, type /sangkien."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        return run(ctx, value)


# What /trogiup lists: (action, what to type after the command, what it does).
HELP_WORKER = (
    ("new", "", N_("register a new initiative")),
    ("drafts", "", N_("your drafts: go on with one, or delete it")),
    ("mine", "", N_("your submitted initiatives, their status and the reviewers' reasons")),
    ("view", " SK-000123", N_("an initiative's details and history")),
    ("edit_returned", " SK-000123", N_("edit an initiative returned for revision, then send "
                                       "it again")),
    ("profile", "", N_("your profile: name, grassroots union, language")),
    ("link", "", N_("link this account with your other chat app")),
    ("cancel", "", N_("stop what you are doing (your draft is kept)")),
    ("language", "", N_("language: Tiếng Việt / English")),
    ("campaigns_off", "", N_("stop campaign messages (/batthongbao: on again)")),
    ("help", "", N_("this help")),
)
HELP_REVIEWER = (
    ("pending", "", N_("initiatives waiting for review in your unions")),
    ("behalf", "", N_("register an initiative for a worker who does not use the bot")),
    ("alerts", "", N_("alerts: each one at once, or a daily summary at 17:00")),
    ("progress", " [DTP-YT] [GD1]", N_("progress of a union in a phase: targets, shortfall, "
                                       "pace, the unions below it lagging first, a chart")),
    ("ranking", " [DTP-YT]", N_("ranking of the unions below, or of your emulation cluster; "
                                "top authors")),
    ("report", " [DTP-YT] [GD1]", N_("the progress report as an Excel file")),
)
HELP_CHAIR = (("invite", "", N_("invite your union's support team, or remove a member")),
              ("campaigns", "", N_("campaigns: reminders and leaderboards, scheduled")))


def help_text(ctx: Ctx) -> str:
    """The commands in the user's language: Vietnamese words, or their English aliases."""
    _ = ctx._
    actions = ctx.dispatcher.registry.actions

    def lines(table: tuple[tuple[str, str, str], ...]) -> list[str]:
        out = []
        for action, arg, what in table:
            words = actions[action].words
            word = words[1] if ctx.locale == "en" and len(words) > 1 else words[0]
            out.append(f"/{word}{arg} — {_(what)}")
        return out

    text = [_("<b>Commands</b>"), *lines(HELP_WORKER),
            _("On Zalo, type the command word without the slash, e.g. «{word}».").format(
                word=actions["new"].words[1 if ctx.locale == "en" else 0])]
    roles = access.roles_held(ctx.conn, person_id=ctx.conv.person_id)
    if roles:
        text += ["", _("<b>For support teams and chairs</b>"), *lines(HELP_REVIEWER)]
        if "chair" in roles:
            text += lines(HELP_CHAIR)
    return "\n".join(text)


def start(ctx: Ctx, args: str = "") -> Result:
    if args.strip():
        return run(ctx, "deeplink", args.strip())
    ctx.say(welcome_text(ctx))
    if not ctx.person()["onboarded"]:
        return run(ctx, "onboard")
    return home()


def show_help(ctx: Ctx, _args: str = "") -> Result:
    ctx.say(help_text(ctx))
    return ask_again(ctx)


def cancel(ctx: Ctx, _args: str = "") -> Result:
    _ = ctx._
    if ctx.conv.step == HOME:
        return home(_("There is nothing to cancel."))
    # Cancelled before anything was typed: nothing to keep, no «(untitled)» under /nhap.
    ctx.drop_empty_draft()
    draft = ctx.conv.draft
    return home(_("Stopped. Your draft «{title}» is saved: type /nhap to go on with it.")
                .format(title=esc(draft_label(ctx, draft.title))) if draft else _("Stopped."))


class Interrupt(Step):
    """A command typed in the middle of a draft: go on, or switch (the draft is kept)."""

    name = INTERRUPT

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        resume = ctx.state.resume_step or "title"
        draft = ctx.conv.draft
        label = action_label(ctx, ctx.state.switch_command or "start")
        text = _("You are in the middle of an initiative (step: {step}). It is saved as a "
                 "draft. Go on with it, or switch?").format(
            step=_(STEP_LABELS.get(resume, resume)))
        if draft:
            text += f"\n«{esc(draft_label(ctx, draft.title))}»"
        ctx.ask(join(error, text), [
            (_("Go on with it"), "resume"),
            (_(label) if label else _("Home"), "switch"),
        ])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        state = ctx.state
        resume, state.resume_step = state.resume_step or "title", None
        action, state.switch_command = state.switch_command or "start", None
        args, state.switch_args = state.switch_args, ""
        if value == "switch" or ctx.conv.draft is None:
            return run(ctx, action, args)
        if resume == "benefit_confirm":
            resume = "benefit"
        return Next(resume if resume in ctx.dispatcher.registry.steps else "summary")


FLOW = Flow(
    name="home",
    steps=(Idle, Interrupt),
    transitions=TRANSITIONS,
    commands=(
        command("start", start, words=("start", "batdau"), label=N_("Home")),
        command("help", show_help, words=("trogiup", "help"), inline=True),
        command("cancel", cancel, words=("huy", "cancel"), inline=True),
    ),
)
