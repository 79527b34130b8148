"""The channel factories registered as `sangkien.channels` entry points (pyproject.toml):
each builds its adapter from the settings, or returns None when it is not configured."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.channels import Channel, Plugin, Route
from bot.config import Settings
from bot.core import Core

if TYPE_CHECKING:
    from telegram import Bot

log = logging.getLogger(__name__)


def telegram(core: Core, settings: Settings) -> Plugin | None:
    if not settings.telegram_bot_token:
        return None
    from handlers.telegram import TelegramChannel
    from handlers.telegram_sender import TelegramSender

    tg = TelegramChannel(core, token=settings.telegram_bot_token.get_secret_value(),
                         base_url=settings.telegram_base_url)
    channel: Channel = tg
    routes: list[Route] = []
    if settings.telegram_webhook_url:
        from handlers.telegram_webhook import TelegramWebhook

        channel = hook = TelegramWebhook(
            tg, url=settings.telegram_webhook_url,
            secret=(settings.telegram_webhook_secret.get_secret_value()
                    if settings.telegram_webhook_secret else None))
        routes = hook.routes()

    async def bot_username() -> str | None:
        return await telegram_username(tg.bot)

    return Plugin("telegram", channel=channel, senders=[TelegramSender(tg.bot, core.engine)],
                  routes=routes,
                  open_senders=tg.bot.initialize, close_senders=tg.bot.shutdown,
                  bot_username=bot_username)


async def telegram_username(bot: Bot) -> str | None:
    """The bot's username, from Telegram (getMe), for a one-off command: the bot is
    initialised for the call and shut down again. None, and why logged, when Telegram cannot
    be asked."""
    from telegram.error import TelegramError

    from handlers.telegram import redact

    try:
        await bot.initialize()
        return bot.username
    except TelegramError as exc:
        log.warning("telegram: the bot's username could not be asked: %s",
                    redact(f"{type(exc).__name__}: {exc}", bot.token))
        return None
    finally:
        await bot.shutdown()


def zalo(core: Core, settings: Settings) -> Plugin | None:
    if not settings.zalo_bot_token:
        return None
    from handlers.zalo import ZaloChannel

    zl = ZaloChannel(
        core, token=settings.zalo_bot_token.get_secret_value(),
        base_url=settings.zalo_base_url, webhook_url=settings.zalo_webhook_url,
        webhook_secret=(settings.zalo_webhook_secret.get_secret_value()
                        if settings.zalo_webhook_secret else None),
        public_base_url=settings.public_base_url)
    # The Zalo channel sends its outbox itself.
    return Plugin("zalo", channel=zl, senders=[zl], routes=zl.routes(),
                  open_senders=zl.api.open, close_senders=zl.api.close)


def terminal(core: Core, settings: Settings) -> Plugin:
    from handlers.terminal import TerminalChat

    return Plugin("terminal", chat=TerminalChat(core))
