"""`FLOWS.md`: every flow drawn from its declaration (Mermaid, which GitHub renders)."""

from __future__ import annotations

from pathlib import Path

from bot.flows.engine import ANY, HOME, INTERRUPT, Registry

PATH = Path(__file__).with_name("FLOWS.md")


def render(registry: Registry) -> str:
    out = [
        "# The conversations",
        "",
        "Generated from the declarations in `bot/flows/*.py` by `python -m bot.flows`; a test",
        "fails while this file is stale. Every step may also go home (`idle`); a command",
        "(a box) runs from any step, but one typed at a step of a draft asks first",
        "(`interrupt`) — unless the draft is still empty at its first question: then it is",
        "deleted and the command runs. `*` means \"back where the user was\".",
        "",
    ]
    for flow in registry.flows:
        out += [f"## {flow.name}", "", "```mermaid", "flowchart LR"]
        for cmd in flow.commands:
            words = "/" + " /".join(cmd.words[:1]) if cmd.words else cmd.action
            for target in sorted(cmd.opens):
                out.append(f'    cmd_{cmd.action}["{words}"] --> {_node(target)}')
            if not cmd.opens:
                out.append(f'    cmd_{cmd.action}["{words}"]')
        for step in flow.steps:
            targets = sorted(registry.moves[step.name] - {HOME, INTERRUPT})
            if not targets:
                out.append(f"    {_node(step.name)}")
            for target in targets:
                out.append(f"    {_node(step.name)} --> {_node(target)}")
        out += ["```", ""]
    return "\n".join(out)


def _node(name: str) -> str:
    return "any_step((*))" if name == ANY else name
