"""What a channel adapter provides so the outbox can deliver messages the bot sends on its
own, and the errors it reports. Channel-neutral: adapters translate their own errors."""

from __future__ import annotations

from typing import Protocol

from bot.events import Reply


class DeliveryError(Exception):
    """A send failed; whether and when to retry is said by the subclass."""


class RetryLater(DeliveryError):
    """The channel asked us to slow down (Telegram 429, Zalo quota): wait `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g} s")
        self.seconds = seconds


class Unreachable(DeliveryError):
    """The user blocked the bot or the chat is gone: do not retry."""


class Transient(DeliveryError):
    """A network drop or a server error: retry with backoff."""


class Sender(Protocol):
    """Sends one message to one chat; raises a `DeliveryError` subclass on failure."""

    channel: str

    async def deliver(self, chat_id: str, reply: Reply, locale: str) -> None: ...
