"""Drive the core as a channel would: send lines, read what the user saw, press options."""

from __future__ import annotations

import itertools

from bot.core import Core
from bot.events import Inbound, Outcome
from bot.formatting import html_to_plain
from handlers.terminal import parse_line

_ids = itertools.count(1)


class Chat:
    """One user talking to the core; keeps the last options shown, like a phone screen."""

    def __init__(self, core: Core, user_id: str = "u1", *, channel: str = "terminal") -> None:
        self.core = core
        self.user_id = user_id
        self.channel = channel
        self.last: Outcome | None = None
        self.options: list[tuple[str, str]] = []  # (label, token) of the newest menu

    async def event(self, kind: str, text: str = "", args: str = "",
                    event_id: str | None = None) -> Outcome:
        ev = Inbound(self.channel, event_id or f"e{next(_ids)}", self.user_id, self.user_id,
                     kind, text=text, args=args, display_name="Nguyễn Văn A")  # type: ignore[arg-type]
        out = await self.core.handle(ev)
        self.core.sent(out)   # what the user saw was sent, as a channel says after sending
        self.last = out
        for reply in out.replies:
            if reply.options:
                self.options = [(o.label, o.token) for o in reply.options]
            elif reply is out.replies[-1] and not out.duplicate:
                self.options = []
        return out

    async def say(self, text: str) -> str:
        kind, name, args = parse_line(text)   # "/tiendo X", or a command word: "tien do X"
        if kind == "command":
            return self.text_of(await self.event("command", name, args.strip()))
        return self.text_of(await self.event("text", text))

    async def press(self, label_part: str) -> str:
        """Press the option whose label contains `label_part` (case-insensitive)."""
        for label, token in self.options:
            if label_part.lower() in label.lower():
                return self.text_of(await self.event("choice", token))
        raise AssertionError(f"no option {label_part!r} among {[lbl for lbl, _ in self.options]}")

    async def onboard(self, unit: str = "BPC-PR-001") -> None:
        """A worker who came from their union's QR poster: English, the name shown."""
        await self.say(f"/start {unit}")
        await self.press("English")
        await self.press("Use")

    def labels(self) -> list[str]:
        return [label for label, _ in self.options]

    @staticmethod
    def text_of(out: Outcome) -> str:
        parts = [out.toast] if out.toast else []
        parts += [html_to_plain(r.text) for r in out.replies]
        return "\n".join(parts)
