"""Channel harnesses for the end-to-end suite: the real adapter against a fake server.

A harness runs the whole application (engine → core → channel adapter) against a fake Bot API
server over real HTTP, and speaks for a user: send text, press an option (a button on
Telegram; the option's number elsewhere), send a sticker, and read what the user saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

    def make_channel(self, core: Core) -> Any:
        raise NotImplementedError

    async def start(self) -> None:
        await self.fake.start()
        await self._start_app()

    async def _start_app(self) -> None:
        self.engine = self.engine_factory()
        self.core = Core(self.engine, default_locale=self.locale)
        self.channel = self.make_channel(self.core)
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

    async def _await_reply(self, user: int, before: int, *, expect_reply: bool = True) -> list[str]:
        if expect_reply:
            await self.fake.wait_for_messages(user, before + 1, timeout=10)
        await self.fake.wait_idle(timeout=10, quiet=0.15)
        return self.texts(user)[before:]

    async def send(self, user: int, text: str, *, expect_reply: bool = True) -> list[str]:
        before = len(self.fake.messages(user))
        self.fake.push_text(user, text)
        return await self._await_reply(user, before, expect_reply=expect_reply)


class TelegramHarness(Harness):
    name = "telegram"

    def __init__(self, engine_factory: Callable[[], AsyncEngine], *, locale: str = "en") -> None:
        super().__init__(engine_factory, locale=locale)
        self.fake = FakeTelegram()

    def make_channel(self, core: Core) -> TelegramChannel:
        return TelegramChannel(core, token=self.fake.token, base_url=self.fake.base_url,
                               poll_timeout=1)

    async def send_unsupported(self, user: int, kind: str) -> list[str]:
        before = len(self.fake.messages(user))
        push = {"sticker": self.fake.push_sticker, "photo": self.fake.push_photo,
                "voice": self.fake.push_voice, "document": self.fake.push_document}
        if kind == "location":
            self.fake.push_location(user, 10.77, 106.70)
        else:
            push[kind](user)
        return await self._await_reply(user, before)

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
                before = len(self.fake.messages(user))
                self.fake.push_callback(user, mid, data)
                return await self._await_reply(user, before, expect_reply=expect_reply)
        raise AssertionError(f"no button {label_part!r} in {self.options(user)}")

    def stats(self) -> dict[str, Any]:
        return {"calls": len(self.fake.calls)}
