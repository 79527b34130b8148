"""The machinery every flow shares: steps, commands, declared transitions, and the dispatcher.

A flow (one module of `bot/flows/`) declares, as data, its steps, the steps each one may move
to, and the commands that open it. A step parses the user's answer, calls a service, renders,
and names the next step by returning `Next(name)`; only the dispatcher changes the
conversation's step, and it refuses (raises `UndeclaredTransition`) a move its flows do not
declare. `bot/flows/FLOWS.md` draws every flow from these tables.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from bot.conversation import Ctx
from bot.events import Inbound
from bot.formatting import esc, number
from bot.inputs import parse_id
from storage.textfold import fold

MAX_MESSAGE = 4096
HOME = "idle"
INTERRUPT = "interrupt"   # a command typed at a draft step asks first (unless nothing is in it)
ANY = "*"          # a transition target: any step (returning where the user was)
MAX_HOPS = 8       # moves in one event: more is a loop between steps


class UndeclaredTransition(RuntimeError):
    """A step moved somewhere its flow does not declare: a bug, shown as such."""


@dataclass(frozen=True, slots=True)
class Next:
    """A step's answer to the dispatcher: go to `step` and ask its question (`error` first)."""

    step: str
    error: str | None = None


def home(error: str | None = None) -> Next:
    """Back to the home menu; a draft stays saved and listed under /nhap."""
    return Next(HOME, error)


def leave_flow(ctx: Ctx) -> None:
    """Forget the flow in progress; a draft stays saved and listed under /nhap."""
    ctx.state.leave_flow()
    ctx.conv.draft_id = None


def join(*parts: str | None) -> str:
    return "\n\n".join(p for p in parts if p)


Result = Next | None


class Step:
    """One question of a conversation. The methods return the next step, or None to stay
    (having answered, e.g. by asking again with an error)."""

    name: ClassVar[str] = ""
    in_draft: ClassVar[bool] = False    # a command here asks before leaving the draft
    resumable: ClassVar[bool] = False   # the draft remembers it: /nhap goes on from here
    accepts_files: ClassVar[bool] = False
    # Typed answers. A step that takes free text (a title, a name, a search) matches only an
    # option's number or whole label; any other step also takes a unique prefix or the
    # distinctive words of a label ("an toan" for the safety field). Everywhere, a yes or
    # no word ("có", "khong", "ok", "no"…) picks the option valued `yes_value` /
    # `no_value` when the menu has it — and never becomes a value itself.
    free_text: ClassVar[bool] = False
    # A question of the profile: a command typed here runs, and the user is told that the
    # rest of the profile will be asked later (before a first submission).
    in_profile: ClassVar[bool] = False
    yes_value: ClassVar[str] = "yes"
    no_value: ClassVar[str] = "no"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        raise NotImplementedError

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        return cls.ask(ctx, error=ctx._("Please choose one of the options."))

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        return cls.ask(ctx)

    @classmethod
    def file(cls, ctx: Ctx, ev: Inbound) -> Result:
        return cls.ask(ctx, error=ctx._("I can only read text messages here."))


CommandRun = Callable[[Ctx, str], Result]


@dataclass(frozen=True, slots=True)
class Command:
    """Something a user starts from anywhere: typed (`/sangkien`), or an internal action
    (a code typed, a deep link, an alert's button) with no words."""

    action: str
    run: CommandRun
    opens: frozenset[str]         # the steps it may move to
    words: tuple[str, ...] = ()   # typed without accents or slash; the first is the name
    inline: bool = False          # runs on top of the current step (help, language, cancel)
    label: str = ""               # msgid of the button that switches to it mid-draft


def command(action: str, run: CommandRun, *, opens: Iterable[str] = (),
            words: Iterable[str] = (), inline: bool = False, label: str = "") -> Command:
    return Command(action, run, frozenset(opens), tuple(words), inline, label)


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[type[Step], ...]
    transitions: Mapping[str, Iterable[str]]   # step → the steps it may move to
    commands: tuple[Command, ...] = ()

    def moves(self, step: str) -> frozenset[str]:
        return frozenset(self.transitions.get(step, ()))


# ============================================================================ registry


class Registry:
    """Every flow's steps, commands and transitions, checked when built."""

    def __init__(self, flows: Iterable[Flow]) -> None:
        self.flows = tuple(flows)
        self.steps: dict[str, type[Step]] = {}
        self.actions: dict[str, Command] = {}
        self.words: dict[str, str] = {}          # a typed word → its action
        self.moves: dict[str, frozenset[str]] = {}
        self.flow_of: dict[str, str] = {}
        for flow in self.flows:
            for step in flow.steps:
                if step.name in self.steps:
                    raise ValueError(f"step {step.name} declared twice")
                self.steps[step.name] = step
                self.flow_of[step.name] = flow.name
                self.moves[step.name] = flow.moves(step.name) | (
                    {INTERRUPT} if step.in_draft else set())
            for name in flow.transitions:
                if name not in {s.name for s in flow.steps}:
                    raise ValueError(f"{flow.name}: transitions of {name}, not one of its steps")
            for cmd in flow.commands:
                if cmd.action in self.actions:
                    raise ValueError(f"command {cmd.action} declared twice")
                self.actions[cmd.action] = cmd
                for word in cmd.words:
                    self.words[word] = cmd.action
        for source, targets in [*self.moves.items(),
                                *((f"/{a}", c.opens) for a, c in self.actions.items())]:
            unknown = set(targets) - set(self.steps) - {ANY}
            if unknown:
                raise ValueError(f"{source} moves to undeclared steps {sorted(unknown)}")

    def allowed(self, source: str, target: str) -> bool:
        """May `source` (a step, or "/action" while a command runs) move to `target`?"""
        if target in (source, HOME):
            return True
        if source.startswith("/"):
            cmd = self.actions.get(source[1:])
            return cmd is not None and (target in cmd.opens or ANY in cmd.opens)
        moves = self.moves.get(source, frozenset())
        return target in moves or ANY in moves


# ============================================================================ dispatch


class Dispatcher:
    """Runs one inbound event against the conversation in a `Ctx`."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def handle(self, ctx: Ctx, ev: Inbound) -> None:
        ctx.dispatcher = self
        self.follow(ctx, self.route(ctx, ev))

    def current(self, ctx: Ctx) -> type[Step]:
        return self.registry.steps.get(ctx.conv.step) or self.registry.steps[HOME]

    def route(self, ctx: Ctx, ev: Inbound) -> Result:
        _ = ctx._
        current = self.current(ctx)
        ctx.in_control = current.name
        if ev.kind == "command":
            return self.on_command(ctx, ev.text, ev.args)
        if ev.kind == "file":
            return current.file(ctx, ev) if current.accepts_files else current.ask(
                ctx, error=_("I can only read text messages here."))
        if ev.kind == "unsupported":
            return current.ask(ctx, error=_("I can only read text messages here."))
        if ev.kind == "choice" and ev.text.startswith("a:"):
            # A button in an alert or notice: self-describing, re-checked by the action itself.
            return self.run(ctx, "act", ev.text)
        if ev.kind == "choice":
            value = resolve_token(ctx, ev.text)
            if value is None:
                ctx.toast = _("That button is no longer active.")
                return None
            return current.choice(ctx, value)
        text = unicodedata.normalize("NFC", ev.text)
        if len(text) > MAX_MESSAGE:
            return current.ask(ctx, error=_(
                "That message is too long (at most {n} characters).").format(
                n=number(MAX_MESSAGE, ctx.locale)))
        value = match_option(ctx, text, current)
        if value is not None:
            return current.choice(ctx, value)
        if not text.strip():
            return current.ask(ctx, error=_("That message is empty. Please type an answer."))
        return current.text(ctx, text)

    def on_command(self, ctx: Ctx, name: str, args: str) -> Result:
        _ = ctx._
        action = self.registry.words.get(fold(name).replace(" ", ""))
        words = args.split()
        for n in (1, 2):   # a command word typed in parts: "/tien do", "/bang xep hang"
            if action is None and len(words) >= n:
                action = self.registry.words.get(fold(name + "".join(words[:n])))
                args = " ".join(words[n:]) if action else args
        current = self.current(ctx)
        if action is None:
            return current.ask(ctx, error=_(
                "I don't know the command /{name}. Type /trogiup to see what I can do."
            ).format(name=esc(name)))
        cmd = self.registry.actions[action]
        if current.in_profile and not cmd.inline and action != "start":
            ctx.say(ctx._("Your profile is not finished yet: I will ask for the rest before "
                          "your first initiative is sent."))
        if cmd.inline or not current.in_draft:
            return self.run(ctx, action, args)
        draft = ctx.conv.draft
        if draft is not None and current.name == draft.order[0] and ctx.drop_empty_draft():
            # At the first question with nothing written yet: nothing to ask about. The empty
            # draft is deleted (as /huy does) and the command runs from home.
            self.enter(ctx, HOME)
            return self.run(ctx, action, args)
        # Leaving a draft half-written is a choice, not an accident: ask first.
        ctx.state.resume_step = current.name
        ctx.state.switch_command = action
        ctx.state.switch_args = args
        return Next(INTERRUPT)

    def run(self, ctx: Ctx, action: str, args: str = "") -> Result:
        """Run a command: while it runs, it is what may move the conversation."""
        ctx.in_control = f"/{action}"
        return self.registry.actions[action].run(ctx, args)

    def follow(self, ctx: Ctx, result: Result) -> None:
        """Apply the moves a step asked for, each checked against the declared ones."""
        for _hop in range(MAX_HOPS):
            if result is None:
                return
            target = result.step
            if target not in self.registry.steps:
                raise UndeclaredTransition(f"{ctx.in_control} → {target}: no such step")
            if not self.registry.allowed(ctx.in_control, target):
                raise UndeclaredTransition(f"{ctx.in_control} → {target} is not declared")
            self.enter(ctx, target)
            result = self.registry.steps[target].ask(ctx, error=result.error)
        raise UndeclaredTransition(f"more than {MAX_HOPS} moves in one event, at {target}")

    def enter(self, ctx: Ctx, target: str) -> None:
        ctx.in_control = target
        ctx.conv.step = target
        step = self.registry.steps[target]
        if target == HOME:
            leave_flow(ctx)
        elif step.resumable and not ctx.state.editing and ctx.conv.draft is not None:
            ctx.conv.draft.step = target


def resolve_token(ctx: Ctx, token: str) -> str | None:
    """A button's "<menu id>.<index>" → the option's value, or None when stale."""
    menu = ctx.state.menu
    menu_id, _sep, index = token.partition(".")
    if parse_id(menu_id) != menu.id or not index.isascii() or not index.isdigit():
        return None
    i = int(index[:4])
    return menu.values[i] if i < len(menu.values) else None


YES_WORDS = frozenset({"co", "dung", "ok", "okay", "oke", "yes", "y", "vang", "uh", "u", "um",
                       "duoc", "dong y", "chinh xac", "phai", "roi", "co a", "dung roi",
                       "yes please", "sure", "yep", "yeah"})
NO_WORDS = frozenset({"khong", "ko", "k", "kg", "khg", "no", "n", "sai", "chua", "khong co",
                      "khong phai", "chua co", "not yet", "nope", "none", "khong a"})
_LOOSE_MAX = 40   # a typed choice is short; longer text is an answer in its own right


def yes_no(text: str) -> bool | None:
    """True for a yes word, False for a no word (any language, accents optional)."""
    folded = fold(text)
    return True if folded in YES_WORDS else False if folded in NO_WORDS else None


def match_option(ctx: Ctx, text: str, step: type[Step] | None = None) -> str | None:
    """A typed answer to the options on screen: its number, its label, a yes/no word for
    the step's yes/no option, or (at a step without free text) a unique prefix or the
    distinctive words of one label. None: the text is not a choice."""
    menu = ctx.state.menu
    if not menu.values:
        return None
    number = parse_id(text.strip().rstrip(".)"))
    if number is not None and number <= len(menu.values):
        return menu.values[number - 1]
    folded = fold(text)
    if not folded:
        return None
    labels = [fold(label) for label in menu.labels]
    for value, label in zip(menu.values, labels, strict=False):
        if folded == label:
            return value
    answer = yes_no(text)
    if answer is not None and step is not None:
        wanted = step.yes_value if answer else step.no_value
        return wanted if wanted in menu.values else None
    if step is None or step.free_text or len(folded) > _LOOSE_MAX:
        return None
    found = {v for v, label in zip(menu.values, labels, strict=False)
             if label.startswith(folded)}
    if len(found) != 1 and len(folded) >= 2:
        typed = folded.split()
        found = {v for v, label in zip(menu.values, labels, strict=False)
                 if all(any(w.startswith(t) for w in label.split()) for t in typed)}
    return found.pop() if len(found) == 1 else None


# ============================================================================ for steps


def run(ctx: Ctx, action: str, args: str = "") -> Result:
    """Run another command from a step (a menu's choice, a deep link's payload)."""
    return ctx.dispatcher.run(ctx, action, args)


def current_step(ctx: Ctx) -> type[Step]:
    return ctx.dispatcher.current(ctx)


def ask_again(ctx: Ctx) -> Result:
    """Ask the current step's question again (after help, say), as that step."""
    step = current_step(ctx)
    ctx.in_control = step.name
    return step.ask(ctx)


def action_label(ctx: Ctx, action: str) -> str:
    """The msgid of the button that switches to `action` mid-draft ("" if none)."""
    cmd = ctx.dispatcher.registry.actions.get(action)
    return cmd.label if cmd else ""
