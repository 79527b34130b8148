"""The web application (handlers/web.py) in one process: Telegram's webhook route against the
fake Bot API over real HTTP, /healthz, /readyz and /metrics. (Real `sangkien run --role web`
processes: tests/test_processes.py.)"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import Plugin, Route
from bot.config import Settings
from bot.core import Core
from bot.delivery import Transient
from bot.events import Reply
from bot.metrics import Metrics
from bot.outbox import OutboxWorker
from bot.run import http_address, serve
from handlers.telegram import ALLOWED_UPDATES, TelegramChannel
from handlers.telegram_webhook import SECRET_HEADER, TelegramWebhook
from handlers.web import WebApp
from storage import migrate
from storage import outbox as outbox_store
from storage.engine import utcnow
from storage.models import account_t, inbound_event_t
from tests.fakes.telegram_server import FakeTelegram
from tests.test_zalo import count

USER = 7001
SECRET = "webhook-Secret_123"
WEBHOOK_URL = "https://bot.example.org/telegram/webhook"


class Rig:
    """The core, Telegram in webhook mode and the web application on one database, with the
    fake Bot API behind; `post` delivers an update as Telegram would."""

    def __init__(self, engine: AsyncEngine, fake: FakeTelegram) -> None:
        self.engine, self.fake = engine, fake
        self.core = Core(engine, default_locale="en")
        self.metrics = Metrics(engine=engine, channels=["telegram"], backlog_ttl=0)
        self.metrics.instrument_core(self.core)
        self.channel = TelegramWebhook(
            TelegramChannel(self.core, token=fake.token, base_url=fake.base_url),
            url=WEBHOOK_URL, secret=SECRET)
        self.web = WebApp(routes=self.channel.routes(), engine=engine, metrics=self.metrics,
                          host="127.0.0.1", port=0)
        self.http = aiohttp.ClientSession()

    async def start(self) -> None:
        await self.web.start()
        await self.channel.start()

    async def stop(self) -> None:
        await self.http.close()
        await self.web.stop()
        await self.channel.stop()
        await self.core.aclose()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web.port}{path}"

    def update(self, text: str, user: int = USER) -> dict[str, Any]:
        """What Telegram would deliver for `text` typed by `user`."""
        return self.fake.take(self.fake.push_text(user, text))

    async def post(self, body: Any, *, secret: str | None = SECRET, raw: bytes | None = None
                   ) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with self.http.post(self.url("/telegram/webhook"), json=None if raw else body,
                                  data=raw, headers=headers) as response:
            return response.status

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url(path)) as response:
            return response.status, await response.text()


@pytest.fixture
async def rig(db: AsyncEngine) -> AsyncIterator[Rig]:
    async with FakeTelegram() as fake:
        r = Rig(db, fake)
        await r.start()
        try:
            yield r
        finally:
            await r.stop()


async def test_the_webhook_is_set_at_start_with_its_secret_and_update_types(rig: Rig) -> None:
    assert rig.fake.webhook == {"url": WEBHOOK_URL, "secret_token": SECRET,
                                "allowed_updates": list(ALLOWED_UPDATES), "max_connections": 40}
    assert "getUpdates" not in [name for name, _params in rig.fake.calls]


async def test_an_update_through_the_webhook_is_committed_then_answered(rig: Rig) -> None:
    update = rig.update("/sangkien")
    assert await rig.post(update) == 200
    # Acknowledged means committed.
    assert await count(rig, inbound_event_t) == 1
    [reply] = await rig.fake.wait_for_messages(USER, 1)
    assert "Step 1 of 9" in reply["text"]
    # A redelivery is acknowledged and changes nothing.
    assert await rig.post(update) == 200
    await rig.fake.wait_idle(quiet=0.2)
    assert len(rig.fake.messages(USER)) == 1


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_recorded(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    update = rig.update("/start")
    with caplog.at_level(logging.WARNING, logger="handlers.telegram_webhook"):
        assert await rig.post(update, secret="not-the-secret") == 403
        assert await rig.post(update, secret=None) == 403
        assert await rig.post(update, secret=SECRET[:-1]) == 403
        assert await rig.post(update, secret=SECRET + "x") == 403
    assert await count(rig, inbound_event_t) == 0 and await count(rig, account_t) == 0
    assert rig.fake.messages(USER) == []
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert caplog.records[0].name == "handlers.telegram_webhook"
    assert len(refusals) == 1   # one line a minute, however many requests
    # Not JSON, or not an update: refused with 400, nothing recorded either.
    assert await rig.post(None, raw=b"{not json") == 400
    assert await rig.post(None, raw=b"[1, 2]") == 400
    assert await rig.post({"update_id": "x"}) == 200   # unreadable: acknowledged, ignored
    assert await count(rig, inbound_event_t) == 0
    # The same update with the secret is taken: its id was never recorded.
    assert await rig.post(update) == 200
    await rig.fake.wait_for_messages(USER, 1)


async def test_healthz_and_readyz(rig: Rig) -> None:
    assert await rig.get("/healthz") == (200, '{"alive": true}')
    status, body = await rig.get("/readyz")
    assert status == 200 and migrate.head() in body


async def test_readyz_says_not_ready_until_the_schema_is_migrated(
        empty_db: AsyncEngine) -> None:
    web = WebApp(engine=empty_db, host="127.0.0.1", port=0)
    await web.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{web.port}/readyz"
            async with http.get(url) as response:
                assert response.status == 503
                assert (await response.json())["revision"] is None
            await migrate.upgrade(engine=empty_db)
            async with http.get(url) as response:
                assert response.status == 200
                assert await response.json() == {"ready": True, "revision": migrate.head()}
    finally:
        await web.stop()


async def test_readyz_says_not_ready_when_the_database_is_unreachable() -> None:
    from storage.engine import make_engine

    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    web = WebApp(engine=engine, host="127.0.0.1", port=0)
    await web.start()
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{web.port}/readyz") as response:
            assert response.status == 503
            assert (await response.json())["reason"] == "database unreachable"
    finally:
        await web.stop()
        await engine.dispose()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if m and (m.group(1) or "") == wanted:
            return float(m.group(2))
    return None


class FlakySender:
    """An outbox sender for a fake channel: the first send fails, the rest go through."""

    channel = "telegram"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, chat_id: str, reply: Reply, locale: str) -> None:
        if not self.sent:
            self.sent.append("failed")
            raise Transient("network")
        self.sent.append(chat_id)


async def test_metrics_move(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    async def scrape() -> str:
        status, body = await rig.get("/metrics")
        assert status == 200
        return body

    before = await scrape()
    assert sample(before, "sangkien_updates_total", channel="telegram", kind="command",
                  outcome="handled") is None
    assert sample(before, "sangkien_outbox_backlog", channel="telegram", state="due") == 0
    await rig.post(rig.update("/start"))
    await rig.post(rig.update("/trogiup"))
    update = rig.update("/sangkien")
    await rig.post(update)
    await rig.post(update)   # a redelivery
    await rig.post(update, secret="wrong")
    # Two outbox rows, one due now and one for later, and a sender that fails once.
    async with rig.engine.begin() as conn:
        for chat, later in (("1", 0), ("2", 3600)):
            await conn.run_sync(lambda c, chat=chat, later=later: outbox_store.enqueue(
                c, channel="telegram", chat_id=chat, account_id=None, kind="notice",
                locale="en", text="hi", options=[], now=utcnow(),
                not_before=utcnow() + timedelta(seconds=later)))
    # Acknowledged once recorded, handled right after: the counters catch up.
    for _ in range(300):
        after = await scrape()
        if sample(after, "sangkien_updates_total", channel="telegram", kind="command",
                  outcome="handled") == 3:
            break
        await asyncio.sleep(0.05)
    assert sample(after, "sangkien_updates_recorded_total", channel="telegram") == 3
    assert sample(after, "sangkien_updates_total", channel="telegram", kind="command",
                  outcome="duplicate") == 1
    assert sample(after, "sangkien_step_seconds_count", channel="telegram") == 3
    assert sample(after, "sangkien_outbox_backlog", channel="telegram", state="due") == 1
    assert sample(after, "sangkien_outbox_backlog", channel="telegram", state="scheduled") == 1
    assert sample(after, "sangkien_http_requests_total", route="/telegram/webhook",
                  status="200") == 4
    assert sample(after, "sangkien_http_requests_total", route="/telegram/webhook",
                  status="403") == 1
    # The outbox: sends counted per channel and result, and the worker's own counters.
    sender = FlakySender()
    worker = OutboxWorker(rig.engine, rig.metrics.count_sends([sender]),
                          retry_delay=lambda _n: 0.0)
    rig.metrics.watch_outbox(worker.stats)
    await worker.run_once()
    await worker.run_once()
    logging.getLogger("bot.core").addHandler(handler := rig.metrics.log_handler())
    try:
        logging.getLogger("bot.core").error("event telegram/1 failed")
    finally:
        logging.getLogger("bot.core").removeHandler(handler)
    after = await scrape()
    assert sender.sent == ["failed", "1"]
    assert sample(after, "sangkien_outbox_deliveries_total", channel="telegram",
                  result="transient") == 1
    assert sample(after, "sangkien_outbox_deliveries_total", channel="telegram",
                  result="sent") == 1
    assert sample(after, "sangkien_outbox_results_total", result="sent") == 1
    assert sample(after, "sangkien_outbox_backlog", channel="telegram", state="due") == 0
    assert sample(after, "sangkien_log_errors_total", logger="bot.core") == 1


async def test_the_webhook_needs_a_secret_telegram_accepts(
        db_factory: Callable[[], AsyncEngine]) -> None:
    engine = db_factory()
    core = Core(engine)
    try:
        channel = TelegramChannel(core, token="1:x")
        for secret in (None, "", "has space", "é", "x" * 257):
            with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
                TelegramWebhook(channel, url=WEBHOOK_URL, secret=secret)
        [route] = TelegramWebhook(channel, url=WEBHOOK_URL, secret="x" * 256).routes()
        assert route.path == "/telegram/webhook"
    finally:
        await core.aclose()
        await engine.dispose()


class Polling:
    async def start(self) -> None:
        raise AssertionError("a web process must not start a polling channel")

    async def stop(self) -> None:
        pass


async def test_a_web_process_refuses_a_channel_that_polls(
        mem_core: Core, caplog: pytest.LogCaptureFixture) -> None:
    plugin = Plugin("telegram", channel=Polling())
    assert await serve(mem_core, Settings(), [plugin], role="web") == 1
    assert "webhooks only" in caplog.text and "TELEGRAM_WEBHOOK_URL" in caplog.text


def test_where_each_role_listens() -> None:
    hook = Plugin("telegram", channel=Polling(), routes=[Route("POST", "/h", _no_handler)])
    polls = Plugin("telegram", channel=Polling())
    plain = Settings()
    assert http_address(plain, "web", [hook], None, None) == ("0.0.0.0", 8080)
    assert http_address(plain, "web", [hook], "127.0.0.1", 0) == ("127.0.0.1", 0)
    assert http_address(plain, "all", [hook], None, None) == ("0.0.0.0", 8080)
    assert http_address(plain, "all", [polls], None, None) is None   # as before: no port
    assert http_address(Settings(web_port=9000), "all", [polls], None, None) == ("0.0.0.0", 9000)
    assert http_address(plain, "worker", [hook], None, None) is None
    assert http_address(Settings(worker_port=9101), "worker", [], None, None) == \
        ("0.0.0.0", 9101)
    assert http_address(plain, "worker", [], None, 9102) == ("0.0.0.0", 9102)
    # The older Zalo names still choose the address, unless the new ones are set.
    old = Settings(zalo_listen_host="127.0.0.1", zalo_listen_port=8443)
    assert http_address(old, "web", [hook], None, None) == ("127.0.0.1", 8443)
    both = Settings(zalo_listen_port=8443, web_host="10.0.0.5", web_port=8081)
    assert http_address(both, "web", [hook], None, None) == ("10.0.0.5", 8081)


async def _no_handler(_request: object) -> None:
    pass
