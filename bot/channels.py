"""Channels as plugins: how the core finds the adapters without importing them.

Each adapter package registers a factory under the `sangkien.channels` entry-point group
(pyproject.toml). A factory is called with the core and the settings and returns a
`Plugin`, or None when its channel is not configured (no token). `bot/` never imports
`handlers/`: it only asks the installed package's metadata which factories exist. The web
application that serves the channels' webhooks, health and metrics is found the same way
(`sangkien.web`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from bot.config import Settings
from bot.core import Core
from bot.delivery import Sender

GROUP = "sangkien.channels"
WEB_GROUP = "sangkien.web"
TERMINAL = "terminal"
log = logging.getLogger(__name__)


class Channel(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def fatal_tasks(channel: Channel) -> list[asyncio.Task[None]]:
    """A channel's background task whose end means the channel cannot go on (Telegram's
    polling ends when the token is rejected): the process should end with it."""
    task = getattr(channel, "polling", None)
    return [task] if isinstance(task, asyncio.Task) else []


class Chat(Protocol):
    """The terminal: a conversation on standard input and output."""

    async def chat(self, *, user: str | None, start: str = "") -> int: ...


@dataclass(frozen=True)
class Route:
    """An HTTP route on which a channel receives its updates (a webhook), served by the web
    application (`web_server`). `handler` is the web framework's; `bot/` only passes it on."""

    method: str
    path: str
    handler: Callable[..., Awaitable[Any]]


@dataclass
class Plugin:
    name: str
    channel: Channel | None = None      # receives updates (started by `sangkien run`)
    senders: list[Sender] = field(default_factory=list)   # deliver the outbox
    # Webhook routes: when there are any, the channel receives through the web application
    # (any number of `--role web` processes); else it polls (one process).
    routes: list[Route] = field(default_factory=list)
    # What the senders need when the channel is not started (`--role worker`): the HTTP
    # client opened, the bot checked.
    open_senders: Callable[[], Awaitable[None]] | None = None
    close_senders: Callable[[], Awaitable[None]] | None = None
    chat: Chat | None = None
    # The bot's username on the chat app, asked of the app itself (Telegram's getMe); None
    # when it cannot be asked. For deep links on QR posters.
    bot_username: Callable[[], Awaitable[str | None]] | None = None


Factory = Callable[[Core, Settings], Plugin | None]


def factories() -> dict[str, Factory]:
    """Every installed channel factory, by name."""
    return {ep.name: ep.load() for ep in entry_points(group=GROUP)}


def configured(core: Core, settings: Settings) -> list[Plugin]:
    """The channels with their settings in place (not the terminal, which is asked for)."""
    out = []
    for name, factory in sorted(factories().items()):
        if name == TERMINAL:
            continue
        plugin = factory(core, settings)
        if plugin is not None:
            out.append(plugin)
    return out


def terminal(core: Core, settings: Settings) -> Chat:
    plugin = factories()[TERMINAL](core, settings)
    assert plugin is not None and plugin.chat is not None
    return plugin.chat


class WebServer(Protocol):
    """The web application of a `sangkien run` process (handlers/web.py)."""

    port: int   # the port it listens on, once started

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def web_server(*, routes: Sequence[Route], engine: Any, metrics: Any, host: str,
               port: int) -> WebServer:
    """The web application: the channels' `routes`, /healthz, /readyz (the database of
    `engine` reachable and migrated) and /metrics (a `bot.metrics.Metrics`)."""
    [factory] = [ep.load() for ep in entry_points(group=WEB_GROUP)]
    return factory(routes=routes, engine=engine, metrics=metrics, host=host, port=port)
