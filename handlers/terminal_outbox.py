"""What the bot sends on its own (alerts, decisions, digests) to a terminal user, delivered
into that user's open chat as it comes, drawn like a reply.

Each chat runs its own outbox worker, which takes only its own user's rows: the rows of other
terminal users (another window, or a user whose chat is closed) are handed back in the claim's
own transaction, to be taken by their chat when it is open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.events import Reply
from bot.outbox import OutboxWorker
from storage import outbox as outbox_store

CHANNEL = "terminal"


class TerminalSender:
    """`bot.delivery.Sender` for the terminal: hands each message to `show`, which prints
    it into the chat drawn like a reply."""

    channel = CHANNEL

    def __init__(self, show: Callable[[Reply, str], Awaitable[None]]) -> None:
        self.show = show

    async def deliver(self, chat_id: str, reply: Reply, locale: str) -> None:
        await self.show(reply, locale)


class ChatOutbox(OutboxWorker):
    """The outbox worker of one terminal chat: delivers `chat_id`'s rows only.

    No pacing (nothing to protect on a terminal); a large batch, because the rows of other
    terminal users are claimed too before they are handed back."""

    def __init__(self, engine: AsyncEngine, sender: TerminalSender, *, chat_id: str) -> None:
        super().__init__(engine, [sender], poll_interval=1.0, batch=500, global_rate=1000.0,
                         per_chat_interval=0.0)
        self.chat_id = chat_id

    def _claim(self, conn: Connection, channels: list[str]) -> list[dict[str, Any]]:
        rows = super()._claim(conn, channels)
        outbox_store.release(conn, ids=[r["id"] for r in rows if r["chat_id"] != self.chat_id])
        return [r for r in rows if r["chat_id"] == self.chat_id]

    async def drain(self) -> None:
        """Deliver what is due now (a script's end: its messages are shown before it exits)."""
        while await self.run_once():
            pass

