"""The machinery every conversation step shares: the registry, dispatch and menus.

Steps register themselves with `@step("name")` and commands with `@command(...)`; `bot/flow.py`
imports every module that does, and draws the whole conversation in one place.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from bot.conversation import Ctx
from bot.events import Inbound
from bot.formatting import esc
from storage import access
from storage.textfold import fold

MAX_MESSAGE = 4096


def join(*parts: str | None) -> str:
    return "\n\n".join(p for p in parts if p)


# ============================================================================ registries


class Step:
    """One question of the conversation."""

    name: ClassVar[str] = ""
    in_draft: ClassVar[bool] = False  # a command here asks before leaving the draft
    accepts_files: ClassVar[bool] = False

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        raise NotImplementedError

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        cls.ask(ctx, error=ctx._("Please choose one of the options."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        cls.ask(ctx)

    @classmethod
    def file(cls, ctx: Ctx, ev: Inbound) -> None:
        cls.ask(ctx, error=ctx._("I can only read text messages here."))


STEPS: dict[str, type[Step]] = {}


def step(name: str) -> Callable[[type[Step]], type[Step]]:
    def register(cls: type[Step]) -> type[Step]:
        cls.name = name
        STEPS[name] = cls
        return cls
    return register


@dataclass(frozen=True, slots=True)
class Command:
    action: str
    run: Callable[[Ctx, str], None]
    inline: bool  # runs on top of the current step (help, language, cancel)
    label: str  # msgid of the button that switches to it from the middle of a draft


COMMANDS: dict[str, str] = {}  # a typed word (no accents, no slash) → its action
ACTIONS: dict[str, Command] = {}


def command(action: str, *words: str, inline: bool = False, label: str = ""
            ) -> Callable[[Callable[[Ctx, str], None]], Callable[[Ctx, str], None]]:
    def register(run: Callable[[Ctx, str], None]) -> Callable[[Ctx, str], None]:
        ACTIONS[action] = Command(action, run, inline, label)
        for word in words:
            COMMANDS[word] = action
        return run
    return register


# ============================================================================ dispatch


def handle(ctx: Ctx, ev: Inbound) -> None:
    """Run one inbound event against the conversation in `ctx`."""
    _ = ctx._
    if ev.kind == "command":
        return on_command(ctx, ev.text, ev.args)
    current = current_step(ctx)
    if ev.kind == "file":
        return current.file(ctx, ev) if current.accepts_files else current.ask(
            ctx, error=_("I can only read text messages here."))
    if ev.kind == "unsupported":
        return current.ask(ctx, error=_("I can only read text messages here."))
    if ev.kind == "choice" and ev.text.startswith("a:"):
        # A button in an alert or notice: self-describing, re-checked by the action itself.
        return run_action(ctx, "act", ev.text)
    if ev.kind == "choice":
        value = _resolve_token(ctx, ev.text)
        if value is None:
            ctx.toast = _("That button is no longer active.")
            return None
        return current.choice(ctx, value)
    text = unicodedata.normalize("NFC", ev.text)
    if len(text) > MAX_MESSAGE:
        return current.ask(ctx, error=_(
            "That message is too long (at most {n} characters).").format(n=MAX_MESSAGE))
    if access.looks_like_code(text):
        # Invite, link and claim codes are typed where there are no deep links (Zalo).
        return run_action(ctx, "redeem", text.strip())
    value = _match_option(ctx, text)
    if value is not None:
        return current.choice(ctx, value)
    if not text.strip():
        return current.ask(ctx, error=_("That message is empty. Please type an answer."))
    return current.text(ctx, text)


def current_step(ctx: Ctx) -> type[Step]:
    return STEPS.get(ctx.conv.step) or STEPS["idle"]


def on_command(ctx: Ctx, name: str, args: str) -> None:
    _ = ctx._
    action = COMMANDS.get(fold(name).replace(" ", ""))
    current = current_step(ctx)
    if action is None:
        return current.ask(ctx, error=_(
            "I don't know the command /{name}. Type /trogiup to see what I can do."
        ).format(name=esc(name)))
    cmd = ACTIONS[action]
    if cmd.inline or not current.in_draft:
        return cmd.run(ctx, args)
    # Leaving a draft half-written is a choice, not an accident: ask first.
    ctx.conv.state["resume"] = current.name
    ctx.conv.state["cmd"] = action
    ctx.conv.state["cmd_args"] = args
    goto(ctx, "interrupt")


def run_action(ctx: Ctx, action: str, args: str = "") -> None:
    ACTIONS[action].run(ctx, args)


def _resolve_token(ctx: Ctx, token: str) -> str | None:
    """A button's "<menu id>.<index>" → the option's value, or None when stale."""
    menu = ctx.conv.state.get("menu") or {}
    menu_id, _sep, index = token.partition(".")
    if not (menu_id.isdigit() and index.isdigit()) or int(menu_id) != menu.get("id"):
        return None
    values = menu.get("v", [])
    i = int(index)
    return values[i] if i < len(values) else None


def _match_option(ctx: Ctx, text: str) -> str | None:
    """A typed answer to a numbered list: the option's number, or its label."""
    menu = ctx.conv.state.get("menu") or {}
    values, labels = menu.get("v", []), menu.get("l", [])
    if not values:
        return None
    typed = text.strip().rstrip(".)")
    if typed.isdigit() and 1 <= int(typed) <= len(values):
        return values[int(typed) - 1]
    folded = fold(text)
    for value, label in zip(values, labels, strict=False):
        if folded and folded == fold(label):
            return value
    return None


# ============================================================================ moving around

_TRANSIENT = ("editing", "pending", "uq", "up", "resume", "cmd", "cmd_args", "sel", "page",
              "back", "lang_back", "ob", "rv", "vw")


def goto(ctx: Ctx, name: str, *, error: str | None = None) -> None:
    ctx.conv.step = name
    draft = ctx.conv.draft
    if draft is not None and STEPS[name].in_draft and name not in ("edit", "discard",
                                                                    "benefit_confirm"):
        draft["step"] = name
    STEPS[name].ask(ctx, error=error)


def leave_flow(ctx: Ctx) -> None:
    """Back to the home menu; a draft stays saved and listed under /nhap."""
    for key in _TRANSIENT:
        ctx.conv.state.pop(key, None)
    ctx.conv.step = "idle"
    ctx.conv.draft_id = None


def page_options(ctx: Ctx, *, page: int, more: bool) -> list[tuple[str, str]]:
    """The buttons under a paged list: newer, older, close."""
    _ = ctx._
    options = [(_("‹ Newer"), "prev")] if page > 0 else []
    if more:
        options.append((_("Older ›"), "next"))
    options.append((_("‹ Close"), "close"))
    return options


def turn_page(ctx: Ctx, value: str) -> bool:
    """Handle "prev"/"next" of a paged list; False when the value is something else."""
    if value not in ("next", "prev"):
        return False
    page = int(ctx.conv.state.get("page", 0))
    ctx.conv.state["page"] = max(0, page + (1 if value == "next" else -1))
    return True


def home(ctx: Ctx, error: str | None = None) -> None:
    leave_flow(ctx)
    STEPS["idle"].ask(ctx, error=error)
