"""Delivers outbox messages on Telegram: `bot.delivery.Sender` for python-telegram-bot.

A message is drawn like a reply in `handlers.telegram`: HTML, split at 4,096 characters, the
options as inline buttons under the last part. Telegram's errors are translated into the
outbox's vocabulary, with messages that never carry the bot token.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.delivery import DeliveryError, RetryLater, Transient, Unreachable
from bot.events import Reply
from handlers.telegram import (
    CHANNEL,
    TokenRejected,
    quiet_raw_call_warnings,
    redact,
    retry_seconds,
    send_reply,
)
from handlers.telegram_media import send_attachment


class TelegramSender:
    """Sends one outbox message to one Telegram chat through `bot` (e.g. `channel.bot`,
    already initialised). Raises the `bot.delivery` errors; see `translate`."""

    channel = CHANNEL

    def __init__(self, bot: Bot, engine: AsyncEngine | None = None) -> None:
        self.bot = bot
        self.engine = engine    # where a reply's chart or report is made from
        quiet_raw_call_warnings()

    async def deliver(self, chat_id: str, reply: Reply, locale: str) -> None:
        # The outbox text was written in the recipient's language; `locale` is for the words
        # added when a reply's file cannot be made.
        target: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        try:
            if reply.attachment is not None:
                # a reply recovered through the outbox with its chart or report: made now
                # from the database (`bot.media.produce`), sent as a photo or a document
                await send_attachment(self.bot, self.engine, target, reply, locale)
                return
            # Raw sendMessage calls, as for replies (the returned messages are not needed).
            await send_reply(self.bot, target, reply)
        except (TelegramError, TokenRejected) as exc:
            raise self.translate(exc) from exc

    def translate(self, exc: TelegramError | TokenRejected) -> DeliveryError:
        """Telegram's error → what the outbox should do about it."""
        message = redact(f"{type(exc).__name__}: {exc}", self.bot.token)
        if isinstance(exc, RetryAfter):
            return RetryLater(retry_seconds(exc))
        if isinstance(exc, Forbidden):  # blocked by the user, or the user deleted the account
            return Unreachable(message)
        # BadRequest subclasses NetworkError in PTB: test it first.
        if isinstance(exc, BadRequest):
            if "chat not found" in exc.message.lower():
                return Unreachable(message)
            return DeliveryError(message)  # our request is wrong: retrying will not help
        # NetworkError (TimedOut; HTTP 5xx arrive as this too), Conflict, a rejected token
        # (being fixed), …: nothing wrong with the message, so it is worth another try later.
        return Transient(message)
