"""The flows are data: every move a step makes is declared, every declared step can be
reached, the drawing a reader sees is current, and only the dispatcher moves a chat."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from bot.conversation import Conversation, Ctx
from bot.events import Inbound
from bot.flows import FLOWS, REGISTRY
from bot.flows.engine import (
    ANY,
    HOME,
    Dispatcher,
    Flow,
    Next,
    Registry,
    Step,
    UndeclaredTransition,
    command,
)
from bot.flows.overview import PATH, render
from bot.i18n import gettext_for

BOT = Path(__file__).resolve().parent.parent / "bot"


def test_every_declared_step_can_be_reached() -> None:
    reached = {HOME}
    frontier = [HOME, *(t for c in REGISTRY.actions.values() for t in c.opens)]
    while frontier:
        step = frontier.pop()
        reached.add(step)
        moves = REGISTRY.moves.get(step, frozenset())
        targets = set(REGISTRY.steps) if ANY in moves else moves
        frontier += [t for t in targets if t not in reached and t != ANY]
    assert set(REGISTRY.steps) - reached == set()


def test_the_drawing_is_current() -> None:
    assert PATH.read_text(encoding="utf-8") == render(REGISTRY), (
        "bot/flows/FLOWS.md is stale: run `python -m bot.flows`")


def _literal_targets(node: ast.AST) -> list[tuple[str, int]]:
    """(step name, line) of each `Next("name")`, `Next(HOME)` or `home(...)` in `node`."""
    consts = {"HOME": HOME, "INTERRUPT": "interrupt"}
    out = []
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        if call.func.id == "home":
            out.append((HOME, call.lineno))
        elif call.func.id == "Next" and call.args:
            arg = call.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.append((arg.value, call.lineno))
            elif isinstance(arg, ast.Name) and arg.id in consts:
                out.append((consts[arg.id], call.lineno))
    return out


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_each_step_moves_only_where_its_flow_declares(flow: Flow) -> None:
    """Read every step class and command of the flow's module: each literal move it names
    is declared (moves computed at run time are checked by the dispatcher itself)."""
    module = inspect.getmodule(flow.steps[0])
    tree = ast.parse(inspect.getsource(module))
    owners: dict[str, str] = {s.__name__: s.name for s in flow.steps}
    commands = {c.run.__name__: f"/{c.action}" for c in flow.commands}
    problems = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in owners:
            source = owners[node.name]
        elif isinstance(node, ast.FunctionDef) and node.name in commands:
            source = commands[node.name]
        else:
            continue
        for target, line in _literal_targets(node):
            if target not in REGISTRY.steps or not REGISTRY.allowed(source, target):
                problems.append(f"{module.__name__}:{line}: {source} → {target}")
    assert problems == []


def test_only_the_dispatcher_moves_a_chat() -> None:
    """Nothing but bot/flows/engine.py assigns a conversation's step."""
    offenders = []
    for path in BOT.rglob("*.py"):
        if path == BOT / "flows" / "engine.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else [])
            for t in targets:
                if (isinstance(t, ast.Attribute) and t.attr == "step"
                        and isinstance(t.value, ast.Attribute) and t.value.attr == "conv"):
                    offenders.append(f"{path.relative_to(BOT)}:{node.lineno}")
    assert offenders == []


# ---------------------------------------------------------------- the checks can fail


class _Ask(Step):
    name = "ask_a"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        ctx.ask("a?", [("go", "go")])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Next:
        return Next("ask_b")   # not declared below


class _AskB(_Ask):
    name = "ask_b"


class _Idle(_Ask):
    name = HOME


def _ctx(step: str) -> Ctx:
    conv = Conversation({"id": 1, "person_id": 1, "chat_id": "1", "step": step, "state": "{}",
                         "draft_id": None, "locale": "en"})
    return Ctx(conn=None, now=None, channel="terminal", conv=conv, locale="en",  # type: ignore[arg-type]
               _=gettext_for("en"))


def test_an_undeclared_move_is_refused_at_run_time() -> None:
    registry = Registry([Flow("t", (_Idle, _Ask, _AskB), {"ask_a": set()},
                              (command("a", lambda ctx, args: Next("ask_a"), opens={"ask_a"},
                                       words=("a",)),))])
    dispatcher = Dispatcher(registry)
    ctx = _ctx(HOME)
    dispatcher.handle(ctx, Inbound("terminal", "1", "u", "u", "command", text="a"))
    assert ctx.conv.step == "ask_a"
    with pytest.raises(UndeclaredTransition, match="ask_a → ask_b"):
        dispatcher.handle(ctx, Inbound("terminal", "2", "u", "u", "text", text="1"))
    assert ctx.conv.step == "ask_a"


def test_a_move_to_a_step_nobody_declared_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="undeclared steps"):
        Registry([Flow("t", (_Idle, _Ask), {"ask_a": {"nowhere"}})])
