"""Zalo through a webhook: a delivery is acknowledged once it is recorded, and handled after.

As Telegram's webhook (handlers/telegram_webhook.py), through `bot.ingest.Ingest`:

* A delivery without the secret (``X-Bot-Api-Secret-Token``, checked in constant time) gets
  403: nothing is read or recorded, and refusals are logged at most once a minute.
* 200 once the event is recorded (`Ingest.accept`: milliseconds, whatever its step costs —
  Zalo wants an answer within about two seconds); it is handled right after, by this process
  or another, one chat at a time, in the chat's order, and its replies sent
  (`ZaloChannel.deliver_queued`). A redelivery (the same message id) is acknowledged and does
  nothing. 503 while stopping and 500 when the event could not be recorded: Zalo delivers it
  again.
* A chat's order is the event's ``message.date`` (milliseconds), or the time it arrived when
  it has none: Zalo numbers no updates, and its message ids are not ordered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.core import Core
from bot.events import Inbound
from bot.ingest import Deliver, Ingest
from handlers.webhooks import RefusalLog, parse_json, secret_matches

JSON = dict[str, Any]
SECRET_HEADER = "X-Bot-Api-Secret-Token"

log = logging.getLogger(__name__)


def unwrap_delivery(body: Any) -> JSON | None:
    """A webhook body with or without the ``{ok, result}`` envelope → the event."""
    if not isinstance(body, dict):
        return None
    if "event_name" not in body and isinstance(body.get("result"), dict):
        body = body["result"]
    return body if body.get("event_name") else None


def seq_of(update: JSON) -> int:
    """The event's order in its chat: when it was sent (ms), else when it arrived."""
    message = update.get("message")
    date = message.get("date") if isinstance(message, dict) else None
    if isinstance(date, int | str) and not isinstance(date, bool):
        try:
            value = int(date)
        except ValueError:
            value = -1
        if 0 < value < 2**62:
            return value
    return time.time_ns() // 1_000_000


class ZaloWebhook:
    """The webhook's route and the queue behind it: `read` turns an event into the core's
    view (None: nothing to answer), `deliver` sends an outcome, `redact` hides the token."""

    def __init__(self, core: Core, *, channel: str, secret: str,
                 read: Callable[[JSON], Inbound | None], deliver: Deliver,
                 redact: Callable[[str], str]) -> None:
        self.core = core
        self.channel = channel
        self.secret = secret
        self.read = read
        self.deliver = deliver
        self.redact = redact
        self.ingest: Ingest | None = None
        self._refusals = RefusalLog(log, "zalo webhook")
        self._stopping = True

    async def start(self) -> None:
        """Handle what waits (also what another process recorded and left), then take
        deliveries."""
        self.ingest = Ingest(self.core, {self.channel: self.deliver})
        await self.ingest.start()
        self._stopping = False

    async def stop(self) -> None:
        """Refuse new deliveries (503), finish the chats being handled and their replies."""
        self._stopping = True
        if self.ingest is not None:
            await self.ingest.stop()

    async def on_webhook(self, request: web.Request) -> web.StreamResponse:
        if not secret_matches(request.headers.get(SECRET_HEADER, ""), self.secret):
            self._refusals.note(request.remote)
            return web.Response(status=403, text="forbidden")
        body = parse_json(await request.read())
        if body is None:
            return web.Response(status=400, text="not JSON")
        update = unwrap_delivery(body)
        if update is None:
            # Nothing to answer; a 4xx would only make Zalo deliver it again.
            log.warning("zalo webhook: a delivery without an event_name was ignored")
            return web.json_response({"ok": True})
        if self._stopping or self.ingest is None:
            return web.Response(status=503, text="stopping")
        inbound = self.read(update)
        if inbound is None:
            return web.json_response({"ok": True})   # nothing the bot answers
        try:
            # Shielded: a delivery Zalo gave up on still finishes being recorded.
            fresh = await asyncio.shield(self.ingest.accept(inbound, seq=seq_of(update)))
        except Exception as exc:
            log.error("zalo webhook: event %s not recorded (%s); Zalo will deliver it again",
                      inbound.event_id, self.redact(f"{type(exc).__name__}: {exc}"))
            return web.Response(status=500, text="not recorded")
        log.debug("zalo %s %s from %s%s", update.get("event_name"), inbound.event_id,
                  inbound.user_id, "" if fresh else " (a redelivery)")
        return web.json_response({"ok": True})
