"""The terminal channel: talk to the bot as a demo worker, or replay a scripted conversation.

Options are drawn as a numbered list, answered by number or by text, as on Zalo.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable

from bot.core import Core
from bot.events import Inbound, Outcome
from bot.formatting import plain_blocks

CHANNEL = "terminal"
# "/start ABC" is a command; "/home/me/photo.jpg" (a path, for attachments) is not.
_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(@\w+)?(\s|$)")


def parse_line(line: str) -> tuple[str, str, str]:
    """A typed line → (kind, text, args): "/start ABC" is a command with an argument."""
    stripped = line.strip()
    if _COMMAND.match(stripped):
        name, _sep, args = stripped[1:].partition(" ")
        return "command", name.split("@", 1)[0].lower(), args.strip()
    return "text", line.rstrip("\r\n"), ""


def render(outcome: Outcome) -> str:
    """Replies as plain text with numbered options."""
    return "\n\n".join(plain_blocks(outcome, indent="  "))


class TerminalChannel:
    """One demo worker talking to the core through standard input and output."""

    def __init__(self, core: Core, *, user_id: str = "demo-worker", name: str = "Demo") -> None:
        self.core = core
        self.user_id = user_id
        self.name = name
        self._session = uuid.uuid4().hex[:12]
        self._seq = 0

    async def send(self, line: str) -> Outcome:
        kind, text, args = parse_line(line)
        self._seq += 1
        return await self.core.handle(Inbound(
            channel=CHANNEL, event_id=f"{self._session}-{self._seq}", user_id=self.user_id,
            chat_id=self.user_id, kind=kind, text=text, args=args, display_name=self.name))

    async def run(self, lines: AsyncIterator[str], write: Callable[[str], None],
                  *, echo: bool) -> None:
        async for line in lines:
            if echo:
                write(f"> {line.rstrip()}\n")
            if line.strip().lower() in ("/quit", "/exit"):
                return
            if not line.strip() and not echo:
                continue
            write(render(await self.send(line)) + "\n\n")


async def stdin_lines(prompt: str | None) -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    while True:
        if prompt:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line


class TerminalChat:
    """`sangkien chat` (and `sangkien run` with no channel configured): a demo worker at the
    terminal; with standard input not a terminal, a scripted conversation, echoed."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def chat(self, *, user: str) -> int:
        interactive = sys.stdin.isatty()
        channel = TerminalChannel(self.core, user_id=user)
        if interactive:
            sys.stdout.write(render(await channel.send("/start")) + "\n\n")
        await channel.run(stdin_lines("> " if interactive else None),
                          lambda s: (sys.stdout.write(s), sys.stdout.flush()),
                          echo=not interactive)
        return 0
