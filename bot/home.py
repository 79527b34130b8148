"""Home: the idle menu, /start, /trogiup, /huy, and the question asked when a command
arrives in the middle of a draft."""

from __future__ import annotations

from bot.conversation import Ctx
from bot.formatting import esc
from bot.i18n import N_
from bot.steps import ACTIONS, STEPS, Step, command, current_step, goto, home, join, run_action
from bot.steps import step as register_step
from storage import access

HOME_OPTIONS = (
    ("new", N_("New initiative")),
    ("drafts", N_("My drafts")),
    ("mine", N_("My initiatives")),
    ("profile", N_("My profile")),
    ("help", N_("Help")),
)
ROLE_OPTIONS = {
    "support": (("pending", N_("To review")), ("behalf", N_("Register for a worker"))),
    "chair": (("pending", N_("To review")), ("behalf", N_("Register for a worker")),
              ("invite", N_("Support team"))),
}


@register_step("idle")
class Idle(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        options = [(_(label), action) for action, label in HOME_OPTIONS]
        roles = access.roles_held(ctx.conn, person_id=ctx.conv.person_id)
        for role in ("chair", "support"):
            for action, label in ROLE_OPTIONS[role] if role in roles else ():
                if action not in {a for _l, a in options}:
                    options.insert(-1, (_(label), action))
        ctx.ask(join(error, _("What would you like to do?")), options)

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        cls.ask(ctx, error=ctx._("To register an initiative, type /sangkien."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        run_action(ctx, value)


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
    roles = access.roles_held(ctx.conn, person_id=ctx.conv.person_id)
    reviewer = ""
    if roles:
        reviewer = "\n\n" + _(
            "<b>For support teams and chairs</b>\n"
            "/choduyet — initiatives waiting for review in your unions\n"
            "/xem SK-000123 — an initiative's details and history\n"
            "/khaiho — register an initiative for a worker who does not use the bot\n"
            "/thongbao — alerts: each one at once, or a daily summary at 17:00")
        if "chair" in roles:
            reviewer += "\n" + _("/moi — invite your union's support team, or remove a member")
    return _(
        "<b>Commands</b>\n"
        "/sangkien — register a new initiative\n"
        "/nhap — your drafts: go on with one, or delete it\n"
        "/cuatoi — your submitted initiatives and their status\n"
        "/hoso — your profile: name, grassroots union, language\n"
        "/lienket — link this account with your other chat app\n"
        "/huy — stop what you are doing (your draft is kept)\n"
        "/ngonngu — language: Tiếng Việt / English\n"
        "/trogiup — this help\n"
        "On Zalo, type the command word without the slash, e.g. «sangkien»."
    ) + reviewer


@command("start", "start", "batdau", label=N_("Home"))
def start(ctx: Ctx, args: str = "") -> None:
    if args.strip():
        return run_action(ctx, "deeplink", args.strip())
    person = ctx.person()
    ctx.say(welcome_text(ctx))
    if not person["onboarded"]:
        return run_action(ctx, "onboard")
    home(ctx)


@command("help", "trogiup", "help", inline=True)
def show_help(ctx: Ctx, _args: str = "") -> None:
    ctx.say(help_text(ctx))
    current_step(ctx).ask(ctx)


@command("cancel", "huy", "cancel", inline=True)
def cancel(ctx: Ctx, _args: str = "") -> None:
    _ = ctx._
    if ctx.conv.step == "idle":
        return home(ctx, error=_("There is nothing to cancel."))
    draft = ctx.conv.draft
    from bot.submission import draft_label

    msg = (_("Stopped. Your draft «{title}» is saved: type /nhap to go on with it.")
           .format(title=esc(draft_label(ctx, draft))) if draft else _("Stopped."))
    home(ctx, error=msg)


@register_step("interrupt")
class Interrupt(Step):
    """A command typed in the middle of a draft: go on, or switch (the draft is kept)."""

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        from bot.submission import STEP_LABELS, draft_label

        resume = ctx.conv.state.get("resume", "title")
        draft = ctx.conv.draft
        cmd = ACTIONS.get(ctx.conv.state.get("cmd", "start"))
        text = _("You are in the middle of an initiative (step: {step}). It is saved as a "
                 "draft. Go on with it, or switch?").format(
            step=_(STEP_LABELS.get(resume, resume)))
        if draft:
            text += f"\n«{esc(draft_label(ctx, draft))}»"
        ctx.ask(join(error, text), [
            (_("Go on with it"), "resume"),
            (_(cmd.label) if cmd and cmd.label else _("Home"), "switch"),
        ])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        resume = ctx.conv.state.pop("resume", "title")
        cmd = ctx.conv.state.pop("cmd", "start")
        args = ctx.conv.state.pop("cmd_args", "")
        if value == "switch" or ctx.conv.draft is None:
            return run_action(ctx, cmd, args)
        if resume == "benefit_confirm":
            resume = "benefit"
        goto(ctx, resume if resume in STEPS else "summary")
