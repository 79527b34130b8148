"""Channel harnesses for the end-to-end suite: the real adapter against a fake server.

A harness runs the whole application (engine → core → channel adapter) against a fake Bot API
server over real HTTP, and speaks for a user: send text, press an option (a button on
Telegram; the option's number elsewhere), send a sticker, and read what the user saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from handlers.telegram import TelegramChannel
from tests.fakes.telegram_server import FakeTelegram


class Harness:
    """What every channel's harness shares: the application's life cycle on one database, and
    sending text and reading the replies through the fake. Subclasses set `fake` and build
    their channel in `make_channel`."""

    fake: Any

    def __init__(self, engine_factory: Callable[[], AsyncEngine], *, locale: str = "en") -> None:
        self.engine_factory = engine_factory
        self.locale = locale
        self.engine: AsyncEngine | None = None
        self.core: Core | None = None
        self.channel: Any = None
        # Inbound events the channel has finished with, replies sent: a step is over when
        # this moves, however long the pauses between its API calls on a loaded machine.
        self.handled = 0
        self._handled_changed = asyncio.Event()

    def make_channel(self, core: Core) -> Any:
        raise NotImplementedError

    def _count_when_done(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """Wraps the channel's last step for one inbound event so that it counts."""

        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            finally:
                self.handled += 1
                self._handled_changed.set()
                self._handled_changed = asyncio.Event()

        return counted

    async def _wait_handled(self, target: int, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                while self.handled < target:
                    await self._handled_changed.wait()
        except TimeoutError:
            raise AssertionError(f"the channel finished {self.handled} events within "
                                 f"{timeout}s, expected {target}") from None

    async def start(self) -> None:
        await self.fake.start()
        await self._start_app()

    async def _start_app(self) -> None:
        self.engine = self.engine_factory()
        self.core = Core(self.engine, default_locale=self.locale)
        self.channel = self.make_channel(self.core)
        await self.start_channel()

    async def start_channel(self) -> None:
        await self.channel.start()

    async def _stop_app(self) -> None:
        assert self.channel and self.core and self.engine
        await self.channel.stop()
        await self.core.aclose()
        await self.engine.dispose()

    async def restart(self) -> None:
        """Shut the application down completely and build it again on the same database."""
        await self._stop_app()
        await self._start_app()

    async def stop(self) -> None:
        await self._stop_app()
        await self.fake.close()

    # ---- the user's side
    def texts(self, user: int) -> list[str]:
        return [m["text"] for m in self.fake.messages(user)]

    async def _push(self, user: int, push: Callable[[], Any], *,
                    expect_reply: bool = True) -> list[str]:
        """Push one inbound event and return the messages it made the bot send the user."""
        before, handled = len(self.fake.messages(user)), self.handled
        push()
        await self._wait_handled(handled + 1)
        if expect_reply:
            await self.fake.wait_for_messages(user, before + 1, timeout=10)
        return self.texts(user)[before:]

    async def onboard(self, user: int, unit: str = "BPC-PR-001") -> None:
        """A worker who came from their union's QR poster: English, the name shown."""
        await self.send(user, f"/start {unit}")
        await self.press(user, "English")
        await self.press(user, "Use")

    async def send(self, user: int, text: str, *, expect_reply: bool = True) -> list[str]:
        return await self._push(user, lambda: self.fake.push_text(user, text),
                                expect_reply=expect_reply)


H = TypeVar("H", bound=Harness)


@asynccontextmanager
async def running(harness: H) -> AsyncIterator[H]:
    """The harness started (fake server and application), stopped afterwards."""
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


class TelegramHarness(Harness):
    name = "telegram"

    def __init__(self, engine_factory: Callable[[], AsyncEngine], *, locale: str = "en") -> None:
        super().__init__(engine_factory, locale=locale)
        self.fake = FakeTelegram()

    def make_channel(self, core: Core) -> TelegramChannel:
        channel = TelegramChannel(core, token=self.fake.token, base_url=self.fake.base_url,
                                  poll_timeout=1)
        channel.deliver = self._count_when_done(channel.deliver)  # type: ignore[method-assign]
        return channel

    async def send_unsupported(self, user: int, kind: str) -> list[str]:
        push = {"sticker": self.fake.push_sticker, "photo": self.fake.push_photo,
                "voice": self.fake.push_voice, "document": self.fake.push_document}
        if kind == "location":
            return await self._push(user, lambda: self.fake.push_location(user, 10.77, 106.70))
        return await self._push(user, lambda: push[kind](user))

    def options(self, user: int) -> list[tuple[int, str, str]]:
        """(message id, label, callback data) of the buttons still on screen, newest last."""
        out = []
        for m in self.fake.messages(user):
            for row in (m.get("reply_markup") or {}).get("inline_keyboard", []):
                out += [(m["message_id"], b["text"], b["callback_data"]) for b in row]
        return out

    def labels(self, user: int) -> list[str]:
        opts = self.options(user)
        newest = opts[-1][0] if opts else None
        return [label for mid, label, _data in opts if mid == newest]

    async def press(self, user: int, label_part: str, *, expect_reply: bool = True) -> list[str]:
        options = list(reversed(self.options(user)))
        exact = [o for o in options if o[1].lower() == label_part.lower()]
        for mid, label, data in exact or options:
            if label_part.lower() in label.lower():
                return await self._push(user, partial(self.fake.push_callback, user, mid, data),
                                        expect_reply=expect_reply)
        raise AssertionError(f"no button {label_part!r} in {self.options(user)}")

    def stats(self) -> dict[str, Any]:
        return {"calls": len(self.fake.calls)}
