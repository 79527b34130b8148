"""The terminal channel: talk to the bot as a demo worker, or replay a scripted conversation.

Options are drawn as a numbered list, answered by number or by text, as on Zalo; an option
that stands for a command (in an alert) is shown with the command to type. What the bot sends
on its own to this user (alerts, decisions) is printed into the conversation as it comes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import signal
import sys
import uuid
from pathlib import Path
from typing import Protocol

from bot import media
from bot.config import home
from bot.core import Core
from bot.events import Inbound, Outcome, Reply
from bot.formatting import esc, plain_blocks
from bot.i18n import gettext_for
from bot.spoken import spoken_command
from handlers.terminal_input import FdLines, LineEditor
from handlers.terminal_outbox import CHANNEL, ChatOutbox, TerminalSender
from handlers.terminal_seats import DEFAULT_USER, Seats

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
    if (spoken := spoken_command(stripped)) is not None:   # "tien do", "huy": a command word
        return "command", spoken[0], spoken[1]
    return "text", line.rstrip("\r\n"), ""


def render(outcome: Outcome) -> str:
    """Replies as plain text with numbered options."""
    return "\n\n".join(plain_blocks(outcome, indent="  "))


def sangkien_command() -> str:
    """How to call `sangkien` from here, in another terminal too: `.venv/bin/sangkien` in a
    checkout (./scripts/run puts it on its own PATH only), else its name."""
    script = Path(sys.executable).parent / "sangkien"
    try:
        return str(script.relative_to(Path.cwd())) if script.is_file() else "sangkien"
    except ValueError:
        return "sangkien" if shutil.which("sangkien") else str(script)


def files_folder(core: Core) -> Path:
    """Where the terminal puts charts and reports: `exports/` beside the SQLite database,
    else in the bot's home folder."""
    url = core.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / "exports"
    return home() / "exports"


async def save_attachments(core: Core, outcome: Outcome) -> Outcome:
    """Charts and reports written to files: each such reply then says where its file is."""
    if not any(r.attachment for r in outcome.replies):
        return outcome
    replies = []
    for reply in outcome.replies:
        if reply.attachment is not None:
            made = await media.produce(core.engine, reply.attachment)
            if made is None:
                said = media.not_produced_text(outcome.locale)
            else:
                folder = files_folder(core)
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / made.name
                await asyncio.to_thread(path.write_bytes, made.data)
                said = esc(media.saved_text(str(path), outcome.locale))
            reply = dataclasses.replace(reply, text=f"{reply.text}\n{said}", attachment=None)
        replies.append(reply)
    return dataclasses.replace(outcome, replies=replies)


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
        outcome = await self.core.handle(Inbound(
            channel=CHANNEL, event_id=f"{self._session}-{self._seq}", user_id=self.user_id,
            chat_id=self.user_id, kind=kind, text=text, args=args, display_name=self.name))
        self.core.sent(outcome)   # printed by the caller at once, in this process
        return outcome

    async def run(self, lines: Lines, screen: Screen, turn: asyncio.Lock, *,
                  echo: bool) -> None:
        """Each line read is answered, holding `turn` so that nothing else is printed in
        between. `echo` (a script): each line is shown first, the output reads as a
        transcript; empty lines are sent too."""
        while (line := await lines.readline()) is not None:
            if line.strip().lower() in ("/quit", "/exit"):
                return
            if not line.strip() and not echo:
                continue
            async with turn:
                if echo:
                    screen.say(f"> {line.rstrip()}")
                outcome = await save_attachments(self.core, await self.send(line))
                screen.say(render(outcome) + "\n")


class Lines(Protocol):
    async def readline(self) -> str | None: ...
    def close(self) -> None: ...


class Screen(Protocol):
    def say(self, text: str) -> None: ...


class Transcript:
    """Standard output for a script: each thing said, in turn."""

    def say(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


class TerminalChat:
    """`sangkien chat` (and `sangkien run` with no channel configured): a demo worker at the
    terminal; with standard input not a terminal, a scripted conversation, echoed.

    Ctrl-C (SIGINT), SIGTERM or a closed terminal (SIGHUP) end it at once, exit code 0."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.start = ""

    async def chat(self, *, user: str | None, start: str = "") -> int:
        """`user`: the terminal user's id; None for the first one no other chat has open.
        `start`: what the chat's /start carries (an invite code: `sangkien chat --as chair`)."""
        self.start = start
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
        if interactive and not self.start:
            said.append(_("To try a chair's side (progress /tiendo, ranking /bangxephang, "
                          "report /baocao): {command} chat --as chair --unit {unit}").format(
                              command=sangkien_command(), unit="BPC-PR"))
        if interactive and said:
            print("\n".join(said) + "\n")
        elif said:
            print("\n".join(said), file=sys.stderr)

    async def _until_stopped(self, channel: TerminalChannel, interactive: bool) -> int:
        """The conversation, with the outbox delivered into it, until the input ends or a
        stop signal comes."""
        if interactive and sys.stdout.isatty():
            editor = LineEditor(sys.stdin.fileno(), sys.stdout)
            lines: Lines = editor
            screen: Screen = editor
        else:
            lines, screen = FdLines(sys.stdin.fileno()), Transcript()
        turn = asyncio.Lock()

        async def show(reply: Reply, locale: str) -> None:
            # a reply recovered through the outbox may carry a chart or report: written
            # to a file, as a reply's is
            out = await save_attachments(self.core, Outcome(replies=[reply], locale=locale))
            async with turn:
                screen.say(render(out) + "\n")

        outbox = ChatOutbox(self.core.engine, TerminalSender(show), chat_id=channel.user_id)
        conversation = asyncio.create_task(
            self._converse(channel, lines, screen, turn, outbox, interactive),
            name="terminal-chat")
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
            await outbox.stop(timeout=5)
            self.core.on_enqueued = None
            lines.close()
        return 0 if conversation.cancelled() else conversation.result()

    async def _converse(self, channel: TerminalChannel, lines: Lines, screen: Screen,
                        turn: asyncio.Lock, outbox: ChatOutbox, interactive: bool) -> int:
        if interactive or self.start:
            first = f"/start {self.start}" if self.start else "/start"
            if not interactive:
                screen.say(f"> {first}")
            screen.say(render(await channel.send(first)) + "\n")
        # After the welcome: messages that waited while this chat was closed come next.
        self.core.on_enqueued = outbox.wake
        await outbox.start()
        await channel.run(lines, screen, turn, echo=not interactive)
        if not interactive:
            await outbox.drain()
        return 0
