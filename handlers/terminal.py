"""The terminal channel: talk to the bot as a demo worker, or replay a scripted conversation.

Options are drawn as a numbered list, answered by number or by text, as on Zalo.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import uuid
from collections.abc import Callable

from bot.core import Core
from bot.events import Inbound, Outcome
from bot.formatting import plain_blocks
from bot.i18n import gettext_for
from handlers.terminal_input import FdLines
from handlers.terminal_seats import DEFAULT_USER, Seats

CHANNEL = "terminal"
# What ends the chat: Ctrl-C, a kill, the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
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

    def __init__(self, core: Core, *, user_id: str = DEFAULT_USER, name: str = "Demo") -> None:
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

    async def run(self, lines: FdLines, write: Callable[[str], None], *,
                  prompt: str | None) -> None:
        """The conversation: each line read is answered. With no prompt (a script) each line
        is echoed first, so the output reads as a transcript."""
        while True:
            if prompt:
                write(prompt)
            line = await lines.readline()
            if line is None:
                return
            if prompt is None:
                write(f"> {line.rstrip()}\n")
            if line.strip().lower() in ("/quit", "/exit"):
                return
            if not line.strip() and prompt is not None:
                continue
            write(render(await self.send(line)) + "\n\n")


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class TerminalChat:
    """`sangkien chat` (and `sangkien run` with no channel configured): a demo worker at the
    terminal; with standard input not a terminal, a scripted conversation, echoed.

    Ctrl-C (SIGINT), SIGTERM or a closed terminal (SIGHUP) end it at once, exit code 0."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def chat(self, *, user: str | None) -> int:
        """`user`: the terminal user's id; None for the first one no other chat has open."""
        seats = Seats(self.core.engine.url.render_as_string(hide_password=False))
        try:
            user_id, alone = seats.take(user)
            interactive = sys.stdin.isatty()
            self._introduce(user_id, chosen=user is not None, alone=alone,
                            interactive=interactive)
            return await self._until_stopped(TerminalChannel(self.core, user_id=user_id),
                                             interactive)
        finally:
            seats.release()

    def _introduce(self, user: str, *, chosen: bool, alone: bool, interactive: bool) -> None:
        """Who this chat is, said plainly: at a terminal always; for a script (on standard
        error) when it is not who the script may expect."""
        _ = gettext_for(self.core.default_locale)
        said = []
        if interactive:
            said.append(_("You are {user}. Each chat open at the same time is another person "
                          "(--user chooses one). Ctrl-C or Ctrl-D ends the chat.").format(
                              user=user))
        if not alone:
            said.append(_("{user} is also open in another terminal: both share one "
                          "conversation.").format(user=user))
        elif not chosen and user != DEFAULT_USER and not interactive:
            said.append(_("{first} is open in another terminal, so this chat is {user} "
                          "(--user chooses).").format(first=DEFAULT_USER, user=user))
        if interactive and said:
            _write("\n".join(said) + "\n\n")
        elif said:
            print("\n".join(said), file=sys.stderr)

    async def _until_stopped(self, channel: TerminalChannel, interactive: bool) -> int:
        lines = FdLines(sys.stdin.fileno())
        conversation = asyncio.create_task(
            self._converse(channel, lines, interactive), name="terminal-chat")
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, conversation.cancel)
        try:
            await asyncio.wait([conversation])
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            conversation.cancel()
            await asyncio.gather(conversation, return_exceptions=True)
            lines.close()
        if conversation.cancelled():
            _write("\n")
            return 0
        return conversation.result()

    async def _converse(self, channel: TerminalChannel, lines: FdLines,
                        interactive: bool) -> int:
        if interactive:
            _write(render(await channel.send("/start")) + "\n\n")
        await channel.run(lines, _write, prompt="> " if interactive else None)
        return 0
