"""Telegram through a webhook (TELEGRAM_WEBHOOK_URL) instead of long polling.

A `TelegramChannel` started without polling, its updates arriving through the route
`on_webhook`, which the web application (handlers/web.py) serves at the URL's path:

* `start` sets the webhook — the URL, the secret Telegram sends back with every delivery,
  the update types wanted — once the route is served. Every web process sets the same at its
  start; none removes it at its stop, as the others still serve it.
* A delivery without the secret (checked in constant time) gets 403: nothing is read or
  recorded, and refusals are logged at most once a minute.
* 200 once the update is recorded (`bot.ingest.Ingest.accept`: milliseconds, whatever its
  step costs); it is handled right after — by this process or another, one chat at a time,
  in update-id order — and its replies sent. 503 while stopping and 500 when it could not be
  recorded: Telegram then delivers it again, and the core recognises what it had already.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import urlsplit

from aiohttp import web

from bot.channels import Route
from bot.ingest import Ingest
from handlers.telegram import ALLOWED_UPDATES, CHANNEL, TelegramChannel, api_call, redact
from handlers.webhooks import RefusalLog, parse_json, secret_matches

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What Telegram accepts as a webhook's secret_token.
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}")

log = logging.getLogger(__name__)


class TelegramWebhook:
    """`bot.channels.Channel`: `channel` fed by the webhook at `url`."""

    def __init__(self, channel: TelegramChannel, *, url: str, secret: str | None) -> None:
        if not (secret and _SECRET_SHAPE.fullmatch(secret)):
            raise ValueError("a Telegram webhook needs TELEGRAM_WEBHOOK_SECRET: 1–256 "
                             "characters among A–Z, a–z, 0–9, _ and -")
        self.channel = channel
        self.url = url
        self.secret = secret
        self.ingest = Ingest(channel.core, {CHANNEL: channel.deliver_queued})
        self.path = urlsplit(url).path or "/"
        self._refusals = RefusalLog(log, "telegram webhook")
        self._stopping = False

    def routes(self) -> list[Route]:
        return [Route("POST", self.path, self.on_webhook)]

    async def start(self) -> None:
        """Check the token and set the command menus (the channel's start, without
        polling), then set the webhook: the route must be served already."""
        self._stopping = False
        await self.channel.start(polling=False)
        bot = self.channel.bot
        try:
            await self.ingest.start()   # also what another process recorded and left
            await api_call(bot, "setWebhook", {"url": self.url, "secret_token": self.secret,
                                               "allowed_updates": ALLOWED_UPDATES})
        except BaseException:
            await self.ingest.stop()
            await self.channel.stop()
            raise
        log.info("telegram bot @%s: webhook at %s", bot.username, self.path)

    async def stop(self) -> None:
        """Refuse new deliveries (503: Telegram gives them to another process or later),
        send the replies already queued, close."""
        self._stopping = True
        await self.ingest.stop()
        await self.channel.stop()

    async def on_webhook(self, request: web.Request) -> web.Response:
        if not secret_matches(request.headers.get(SECRET_HEADER, ""), self.secret):
            self._refusals.note(request.remote)
            return web.Response(status=403, text="forbidden")
        update = parse_json(await request.read())
        if not isinstance(update, dict):
            return web.Response(status=400, text="not a JSON object")
        if self._stopping:
            return web.Response(status=503, text="stopping")
        inbound = self.channel.read(update)
        if inbound is None:
            return web.Response(text="ok")   # nothing the bot answers
        try:
            # Shielded: a delivery Telegram gave up on still finishes being recorded.
            await asyncio.shield(self.ingest.accept(inbound, seq=int(update["update_id"])))
        except Exception as exc:
            log.error("telegram webhook: update %s not recorded (%s); Telegram will deliver "
                      "it again", update.get("update_id"),
                      redact(f"{type(exc).__name__}: {exc}", self.channel.bot.token))
            return web.Response(status=500, text="not recorded")
        return web.Response(text="ok")
