"""The one aiohttp application of a `sangkien run` process.

* the channels' webhook routes (`bot.channels.Route`: Telegram's at the path of
  TELEGRAM_WEBHOOK_URL, Zalo's at the path of ZALO_WEBHOOK_URL), each checking its own
  secret (handlers/webhooks.py);
* `GET /healthz`: 200 while the process's event loop answers (liveness);
* `GET /readyz`: 200 when the database answers and its schema is at the newest revision,
  503 otherwise (readiness: a load balancer sends webhooks only to a ready process);
* `GET /metrics`: the Prometheus text format (`bot.metrics`);
* `GET /media/<token>`: a chart (PNG) or report (XLSX) for Zalo, which takes photos by URL
  and no files: the token is signed and expires (`bot.media`), the file is made on request.

Any number of `--role web` processes may serve behind one address: nothing here is kept
between requests but counters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import media
from bot.channels import Route
from bot.config import Settings
from bot.metrics import CONTENT_TYPE, Metrics
from handlers.webhooks import MAX_BODY
from storage.health import schema_revision
from storage.migrate import head

log = logging.getLogger(__name__)

READY_TIMEOUT = 3.0   # seconds /readyz waits for the database before saying "not ready"
SHUTDOWN_TIMEOUT = 30.0   # seconds requests in progress (webhooks being committed) may finish

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebApp:
    """`bot.channels.WebServer` on aiohttp."""

    def __init__(self, *, routes: Sequence[Route] = (), engine: AsyncEngine | None = None,
                 metrics: Metrics | None = None, host: str = "0.0.0.0", port: int = 8080,
                 media_secret: str | None = None) -> None:
        self.engine = engine
        self._media_secret = media_secret
        self.metrics = metrics
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[self._count])
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/media/{token}", self._media)
        for route in routes:
            self.app.router.add_route(route.method, route.path, route.handler)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])   # the one chosen, for port 0
        log.info("web: listening on %s:%d (%s)", self.host, self.port,
                 ", ".join(sorted({r.canonical for r in self.app.router.resources()})))

    async def stop(self) -> None:
        """Stop listening; requests in progress finish first (up to SHUTDOWN_TIMEOUT)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ------------------------------------------------------------------ routes

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def _readyz(self, _request: web.Request) -> web.Response:
        if self.engine is None:
            return web.json_response({"ready": True})
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                revision = await schema_revision(engine=self.engine)
        except Exception as exc:
            log.warning("readyz: the database did not answer (%s)", type(exc).__name__)
            return web.json_response({"ready": False, "reason": "database unreachable"},
                                     status=503)
        if revision != head():
            return web.json_response({"ready": False, "reason": "schema not at the newest "
                                      "revision", "revision": revision, "head": head()},
                                     status=503)
        return web.json_response({"ready": True, "revision": revision})

    async def _metrics(self, _request: web.Request) -> web.Response:
        if self.metrics is None:
            raise web.HTTPNotFound()
        body = await self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def _media_key(self) -> bytes | None:
        """Media links are signed with the Zalo token (what every process shares)."""
        if self._media_secret is None:
            token = Settings.load().zalo_bot_token
            self._media_secret = token.get_secret_value() if token else ""
        return media.media_key(self._media_secret) if self._media_secret else None

    async def _media(self, request: web.Request) -> web.StreamResponse:
        key = self._media_key()
        att = media.open_token(key, request.match_info["token"]) if key else None
        if att is None or self.engine is None:
            raise web.HTTPNotFound()
        made = await media.produce(self.engine, att)
        if made is None:
            raise web.HTTPNotFound()
        disposition = "inline" if made.photo else "attachment"
        return web.Response(body=made.data, headers={
            "Content-Type": made.content_type,
            "Content-Disposition": f'{disposition}; filename="{made.name}"',
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff"})

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Requests by route (its declared path, so that stray URLs stay one series) and
        status."""
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if self.metrics is not None:
                info = request.match_info.route.resource
                route = info.canonical if info is not None else "other"
                self.metrics.http.labels(route, str(status)).inc()
