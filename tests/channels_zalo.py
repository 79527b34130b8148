"""The Zalo harness for the end-to-end suite: the real Zalo adapter against the fake Zalo.

Same interface as ``tests.channels.TelegramHarness``. Zalo has no buttons: options arrive as a
numbered list at the end of a message, so ``options``/``labels`` parse that list and
``press`` answers by typing the option's number, as a worker would.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from bot.formatting import HINT
from bot.i18n import SUPPORTED_LOCALES, gettext_for
from handlers.web import WebApp
from handlers.zalo import ZaloChannel
from tests.channels import Harness
from tests.fakes.zalo_server import FakeZalo

# The hint that closes every numbered list, in each language.
HINTS = frozenset(gettext_for(locale)(HINT) for locale in SUPPORTED_LOCALES)
_OPTION = re.compile(r"^(\d+)\. (.+)$")
WEBHOOK_SECRET = "harness-webhook-secret"


def numbered_options(text: str) -> list[tuple[int, str]]:
    """(number, label) of the list that ends ``text``: the lines numbered 1…n just above the
    hint. A numbered line elsewhere (a user's own "1. …" in a summary) is not an option."""
    lines = text.split("\n")
    if not lines or lines[-1] not in HINTS:
        return []
    found: list[tuple[int, str]] = []
    for line in reversed(lines[:-1]):
        match = _OPTION.match(line)
        if match is None:
            break
        found.append((int(match.group(1)), match.group(2)))
    found.reverse()
    numbers = [n for n, _label in found]
    # Keep the longest tail that counts 1, 2, … n.
    while found and numbers != list(range(1, len(found) + 1)):
        found, numbers = found[1:], numbers[1:]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ZaloHarness(Harness):
    name = "zalo"

    def __init__(self, engine_factory: Callable[[], AsyncEngine], *, locale: str = "en",
                 mode: Literal["polling", "webhook"] = "polling", **fake_options: Any) -> None:
        super().__init__(engine_factory, locale=locale)
        self.mode = mode
        self.fake = FakeZalo(**fake_options)
        self.port = free_port() if mode == "webhook" else 0
        self.web: WebApp | None = None

    async def start_channel(self) -> None:
        """In webhook mode, the channel's route served by the web application, as
        `sangkien run` serves it: listening before the channel sets its webhook."""
        if self.mode == "webhook":
            self.web = WebApp(routes=self.channel.routes(), engine=self.engine,
                              host="127.0.0.1", port=self.port)
            await self.web.start()
        await self.channel.start()

    async def _stop_app(self) -> None:
        if self.web is not None:
            web, self.web = self.web, None
            await web.stop()
        await super()._stop_app()

    def make_channel(self, core: Core) -> ZaloChannel:
        webhook: dict[str, Any] = {}
        if self.mode == "webhook":
            webhook = {"webhook_url": f"http://127.0.0.1:{self.port}/zalo/webhook",
                       "webhook_secret": WEBHOOK_SECRET}
        channel = ZaloChannel(core, token=self.fake.token, base_url=self.fake.base_url,
                              poll_timeout=1, retry_delay=0.05, max_retry_delay=0.5, **webhook)
        # Each event's replies go out in its own sending task (polling) or are handed over
        # by the webhook's queue: its end is the step's end.
        channel._send_when_ready = self._count_when_done(  # type: ignore[method-assign]
            channel._send_when_ready)
        if channel.webhook is not None:
            channel.webhook.deliver = self._count_when_done(channel.webhook.deliver)
        return channel

    async def send_unsupported(self, user: int, kind: str) -> list[str]:
        """Telegram's kinds mapped to the closest Zalo events."""
        push = {"sticker": self.fake.push_sticker, "photo": self.fake.push_image,
                "voice": self.fake.push_voice}
        # location, document, contact…: Zalo says "unsupported"
        return await self._push(user, lambda: push.get(kind, self.fake.push_unsupported)(user))

    def options(self, user: int) -> list[tuple[str, str, int]]:
        """(message id, label, number) of the numbered list in the newest message that has
        one; on Zalo only the newest list can be answered."""
        for message in reversed(self.fake.messages(user)):
            found = numbered_options(message["text"])
            if found:
                return [(message["message_id"], label, n) for n, label in found]
        return []

    def labels(self, user: int) -> list[str]:
        return [label for _mid, label, _n in self.options(user)]

    async def press(self, user: int, label_part: str, *, expect_reply: bool = True) -> list[str]:
        """Answer the newest list by typing the option's number, as the list's hint says; every
        step, text steps included, reads a typed option number as that option (bot/steps.py
        ``_match_option``; test_flow and test_zalo check it). An exact label wins over a
        partial one ("Valid" is inside "Invalid")."""
        options = self.options(user)
        exact = [o for o in options if o[1].lower() == label_part.lower()]
        for _mid, label, number in exact or options:
            if label_part.lower() in label.lower():
                return await self.send(user, str(number), expect_reply=expect_reply)
        raise AssertionError(f"no option {label_part!r} in {self.labels(user)}")

    def stats(self) -> dict[str, Any]:
        return {"calls": len(self.fake.calls)}
