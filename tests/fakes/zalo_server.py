"""A fake Zalo Bot API server for end-to-end tests.

The real adapter (``handlers.zalo.ZaloChannel``) talks to it over real HTTP
(``base_url=fake.base_url``), in either of Zalo's two modes:

* long polling: ``getUpdates`` hands out ONE update per call (no offset, nothing to confirm);
  an empty poll waits up to ``timeout`` seconds, then answers error 408 — as HTTP 200 with
  ``{"ok": false, "error_code": 408}`` or as HTTP 408 (``empty_poll``);
* webhook: once ``setWebhook`` is called, user messages are POSTed to the bot's URL with the
  ``X-Bot-Api-Secret-Token`` header, in either envelope shape (``envelope``); polling then
  hands out nothing, as on Zalo.

Like Zalo: every answer is ``{ok, result}`` or ``{ok: false, error_code, description}``;
a wrong token is answered ``401`` inside an HTTP 200; ``sendMessage`` wants a text of
1–2,000 characters for a chat that has written to the bot; ``sendChatAction`` knows only
``typing``; ``setWebhook`` wants a ``secret_token`` of 8–256 characters. User and chat ids
are 20-digit hex strings and ``date`` is in milliseconds; tests name users by any int or str
and the fake maps it (``fake.user_id(7001)``).

Failures can be injected per method (``fail_next``): a quota (429), an HTML error page
(500/502), an ``ok: false`` inside HTTP 200, or a dropped connection.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

JSON = dict[str, Any]
UserRef = int | str

__all__ = ["FakeZalo", "ZaloFakeError"]

MAX_POLL_SECONDS = 10.0  # a forgotten poller never holds a test for long
MAX_TEXT = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"
HTML_ERROR_PAGE = ("<html><head><title>502 Bad Gateway</title></head><body><center>"
                   "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")


class ZaloFakeError(Exception):
    """An error answer: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, error_code: int, description: str, *, http_status: int = 200) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.http_status = http_status

    def response(self) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": self.error_code, "description": self.description},
            status=self.http_status)


@dataclass
class _Failure:
    http_status: int
    error_code: int | None
    html: bool
    drop: bool


@dataclass
class Delivery:
    """One webhook POST the fake made: what it sent and what the bot answered."""

    event: JSON
    status: int  # the bot's HTTP status; 0 when the connection failed
    seconds: float  # how long the bot took to answer


def _hex_id(ref: UserRef, salt: str = "user") -> str:
    return hashlib.sha1(f"{salt}:{ref}".encode()).hexdigest()[:20]


class FakeZalo:
    """An in-process Zalo Bot API server; see the module docstring.

    ``await fake.start()`` / ``await fake.close()`` (or ``async with``). Every API call is
    appended to ``fake.calls`` as ``(method, params)``.
    """

    def __init__(
        self,
        token: str = "1234567890123456789:FakeZaloTokenSecretPart",
        *,
        empty_poll: Literal["http200", "http408"] = "http200",
        envelope: Literal["wrapped", "bare"] = "wrapped",
        require_https: bool = False,
        poll_cap: float = MAX_POLL_SECONDS,
    ) -> None:
        self.token = token
        self.poll_cap = poll_cap  # the longest an empty poll waits, whatever it asked for
        self.empty_poll = empty_poll
        self.envelope = envelope
        self.require_https = require_https
        self.bot_info: JSON = {"id": _hex_id("bot", "bot"), "account_name": "bot.sangkien",
                               "account_type": "BASIC", "can_join_groups": False}
        self.calls: list[tuple[str, JSON]] = []
        self.deliveries: list[Delivery] = []
        self.server_errors: list[tuple[str, Exception]] = []  # bugs in the fake: stay empty

        self._users: dict[str, JSON] = {}  # hex id → from
        self._refs: dict[str, UserRef] = {}  # hex id → the test's name for the user
        self._sent: dict[str, list[JSON]] = {}  # chat id → what the bot sent
        self._history: dict[str, JSON] = {}  # message_id → event, for redeliver
        self._queue: deque[JSON] = deque()
        self._failures: dict[str, deque[_Failure]] = {}
        self._webhook: JSON = {}
        self._message_ids = itertools.count(1)

        self._deliveries_inflight: set[asyncio.Task[int]] = set()
        self._inflight = 0
        self._last_activity = 0.0
        self._wakeup = asyncio.Event()  # pollers: a new update, or close
        self._changed = asyncio.Event()  # test-side waiters: anything happened
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._client: aiohttp.ClientSession | None = None

        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getMe": lambda p: dict(self.bot_info),
            "getUpdates": self._api_get_updates,
            "setWebhook": self._api_set_webhook,
            "deleteWebhook": self._api_delete_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "sendMessage": self._api_send_message,
            "sendPhoto": self._api_send_photo,
            "sendChatAction": self._api_send_chat_action,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        if self._runner is not None:
            raise RuntimeError("FakeZalo already started")
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False
        self._client = aiohttp.ClientSession()

    async def close(self) -> None:
        """Stop: pending long polls are answered (408) and webhook deliveries awaited."""
        if self._runner is None:
            return
        self._closing = True
        self._wakeup.set()
        if self._deliveries_inflight:
            await asyncio.gather(*self._deliveries_inflight, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeZalo:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Pass as the adapter's ``base_url``; it appends ``/bot<token>/<method>``."""
        if self._port is None:
            raise RuntimeError("FakeZalo not started")
        return f"http://127.0.0.1:{self._port}"

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params: JSON = dict(request.query)
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return ZaloFakeError(400, "Bad Request").response()
            if isinstance(body, dict):
                params.update(body)
        if request.match_info["token"] != self.token:
            # Zalo answers a bad token inside an HTTP 200.
            return ZaloFakeError(401, "Unauthorized").response()
        self.calls.append((method, copy.deepcopy(params)))
        self._touch()
        handler = self._methods.get(method)
        if handler is None:
            return ZaloFakeError(404, "Not Found").response()
        polling = method == "getUpdates"
        if not polling:
            self._inflight += 1
        try:
            failure = self._take_failure(method)
            if failure is not None:
                return self._failure_response(request, failure)
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except ZaloFakeError as exc:
            return exc.response()
        except Exception as exc:  # a bug in the fake
            self.server_errors.append((method, exc))
            return ZaloFakeError(500, f"fake Zalo failed on {method}: {exc!r}",
                                 http_status=500).response()
        finally:
            if not polling:
                self._inflight -= 1
                self._last_activity = time.monotonic()
                self._touch()
        return web.json_response({"ok": True, "result": result})

    def _take_failure(self, method: str) -> _Failure | None:
        pending = self._failures.get(method)
        return pending.popleft() if pending else None

    @staticmethod
    def _failure_response(request: web.Request, failure: _Failure) -> web.Response:
        if failure.drop:
            # The connection dies without an answer, as behind a flaky NAT.
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the bot
        if failure.html:
            # A proxy's error page, not the Bot API's JSON.
            return web.Response(status=failure.http_status, text=HTML_ERROR_PAGE,
                                content_type="text/html")
        code = failure.error_code or failure.http_status
        description = {429: "Too Many Requests", 500: "Internal Server Error",
                       502: "Bad Gateway", 408: "Request timeout", 401: "Unauthorized",
                       }.get(code, "Error")
        return ZaloFakeError(code, description, http_status=failure.http_status).response()

    # ------------------------------------------------------------------ API methods

    async def _api_get_updates(self, params: JSON) -> JSON:
        raw = params.get("timeout", 0)
        try:
            timeout = min(max(float(raw), 0.0), self.poll_cap)
        except (TypeError, ValueError):
            timeout = 0.0
        deadline = time.monotonic() + timeout
        while True:
            # While a webhook is set, polling hands out nothing.
            if self._queue and not self._webhook.get("url") and not self._closing:
                update = self._queue.popleft()
                self._last_activity = time.monotonic()
                self._touch()
                return update
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing:
                raise ZaloFakeError(408, "Request timeout",
                                    http_status=408 if self.empty_poll == "http408" else 200)
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                pass

    def _api_set_webhook(self, params: JSON) -> JSON:
        url = params.get("url")
        secret = params.get("secret_token")
        if not isinstance(url, str) or not url:
            raise ZaloFakeError(400, "url is required")
        if self.require_https and not url.startswith("https://"):
            raise ZaloFakeError(400, "url must be HTTPS")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise ZaloFakeError(400, "secret_token must be 8-256 characters")
        self._webhook = {"url": url, "secret_token": secret, "updated_at": _ms()}
        # Whatever waited for a poller now goes to the webhook.
        while self._queue:
            self._post(self._queue.popleft())
        return {"url": url, "updated_at": self._webhook["updated_at"]}

    def _api_delete_webhook(self, params: JSON) -> JSON:
        self._webhook = {}
        return {"url": "", "updated_at": _ms()}

    def _api_get_webhook_info(self, params: JSON) -> JSON:
        return {"url": self._webhook.get("url", ""),
                "updated_at": self._webhook.get("updated_at", 0)}

    def _chat(self, params: JSON) -> str:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise ZaloFakeError(400, "chat_id is required")
        if chat_id not in self._users:
            # A bot can only answer someone who has written to it.
            raise ZaloFakeError(400, "chat not found")
        return chat_id

    def _store(self, chat_id: str, **fields: Any) -> JSON:
        record = {"message_id": f"b{next(self._message_ids):019x}", "date": _ms(), **fields}
        self._sent.setdefault(chat_id, []).append(record)
        return {"message_id": record["message_id"], "date": record["date"]}

    def _api_send_message(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            size = len(text) if isinstance(text, str) else "no"
            raise ZaloFakeError(400, f"text must be 1-{MAX_TEXT} characters (got {size})")
        return self._store(chat_id, kind="text", text=text)

    def _api_send_photo(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ZaloFakeError(400, "photo must be an image URL")
        caption = params.get("caption") or ""
        if not isinstance(caption, str) or len(caption) > MAX_TEXT:
            raise ZaloFakeError(400, f"caption must be at most {MAX_TEXT} characters")
        return self._store(chat_id, kind="photo", text=caption, photo=photo)

    def _api_send_chat_action(self, params: JSON) -> bool:
        self._chat(params)
        if params.get("action") != "typing":  # upload_photo is "coming soon" on Zalo
            raise ZaloFakeError(400, "action not supported")
        return True

    # ------------------------------------------------------------------ the user's side

    def user_id(self, ref: UserRef) -> str:
        """The Zalo id (20 hex digits) of the test's user ``ref``; a hex id maps to itself."""
        if isinstance(ref, str) and ref in self._users:
            return ref
        return _hex_id(ref)

    def add_user(self, ref: UserRef, *, display_name: str = "Nguyễn Văn A") -> str:
        uid = self.user_id(ref)
        self._users.setdefault(uid, {"id": uid, "display_name": display_name, "is_bot": False})
        self._refs.setdefault(uid, ref)
        return uid

    def _message(self, ref: UserRef, **fields: Any) -> JSON:
        uid = self.add_user(ref)
        return {
            "from": dict(self._users[uid]),
            "chat": {"id": uid, "chat_type": "PRIVATE"},
            "message_id": f"{next(self._message_ids):020x}",
            "date": _ms(),
            **fields,
        }

    def push_event(self, event: JSON) -> str:
        """Send any event as Zalo would (queued for a poller, or POSTed to the webhook).
        Returns its message_id ("" when it has none)."""
        event = copy.deepcopy(event)
        message = event.get("message")
        message_id = str(message.get("message_id", "")) if isinstance(message, dict) else ""
        if message_id:
            self._history[message_id] = copy.deepcopy(event)
        self._last_activity = time.monotonic()
        if self._webhook.get("url"):
            self._post(event)
        else:
            self._queue.append(event)
            self._wakeup.set()
        self._touch()
        return message_id

    def push_text(self, ref: UserRef, text: str) -> str:
        return self.push_event({"event_name": "message.text.received",
                                "message": self._message(ref, text=text)})

    def push_image(self, ref: UserRef, *, field: Literal["photo", "photo_url"] = "photo",
                   caption: str | None = None) -> str:
        fields: JSON = {field: "https://photo-stal.zdn.vn/fake/anh.jpg"}
        if caption is not None:
            fields["caption"] = caption
        return self.push_event({"event_name": "message.image.received",
                                "message": self._message(ref, **fields)})

    def push_sticker(self, ref: UserRef) -> str:
        return self.push_event({"event_name": "message.sticker.received",
                                "message": self._message(ref, sticker="fake-sticker-id",
                                                         url="https://zalo.me/s/fake")})

    def push_voice(self, ref: UserRef) -> str:
        # Zalo's docs list message.voice.received besides the four the adapter names.
        return self.push_event({"event_name": "message.voice.received",
                                "message": self._message(ref, url="https://zalo.me/v/fake.aac")})

    def push_unsupported(self, ref: UserRef | None, *, with_message: bool = True) -> str:
        """A location, file, contact card…: ``message.unsupported.received``; some come with
        no message at all (``ref`` may then be None)."""
        event: JSON = {"event_name": "message.unsupported.received"}
        if with_message:
            assert ref is not None
            event["message"] = self._message(ref)
        return self.push_event(event)

    def redeliver(self, message_id: str) -> None:
        """Deliver an event again, unchanged, as Zalo may when an answer was lost."""
        if message_id not in self._history:
            raise KeyError(f"message {message_id} was never pushed")
        self.push_event(self._history[message_id])

    # ------------------------------------------------------------------ webhook deliveries

    def wrap(self, event: JSON, envelope: str | None = None) -> JSON:
        if (envelope or self.envelope) == "wrapped":
            return {"ok": True, "result": event}
        return event

    def _post(self, event: JSON) -> None:
        task = asyncio.get_running_loop().create_task(self.deliver(event))
        self._deliveries_inflight.add(task)
        task.add_done_callback(self._deliveries_inflight.discard)

    async def deliver(self, event: JSON, *, secret: str | None = None,
                      envelope: Literal["wrapped", "bare"] | None = None,
                      url: str | None = None) -> int:
        """POST one event to the webhook (with the secret given to setWebhook unless
        ``secret`` says otherwise; "" sends no header). Returns the bot's HTTP status."""
        target = url or self._webhook.get("url")
        if not target:
            raise RuntimeError("no webhook set")
        if self._client is None:
            raise RuntimeError("FakeZalo not started")
        secret = self._webhook.get("secret_token", "") if secret is None else secret
        headers = {SECRET_HEADER: secret} if secret else {}
        message = event.get("message")
        if isinstance(message, dict) and message.get("message_id"):
            self._history.setdefault(str(message["message_id"]), copy.deepcopy(event))
        self._inflight += 1
        started = time.monotonic()
        status = 0
        try:
            async with self._client.post(target, json=self.wrap(event, envelope),
                                         headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=10)) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        finally:
            self._inflight -= 1
            self.deliveries.append(Delivery(event, status, time.monotonic() - started))
            self._last_activity = time.monotonic()
            self._touch()
        return status

    # ------------------------------------------------------------------ failures

    def fail_next(self, method: str, status: int = 429, *, error_code: int | None = None,
                  html: bool = False, drop: bool = False, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``status`` is the HTTP status; the JSON body carries ``error_code`` (default: the
        status), so ``fail_next(m, 200, error_code=429)`` is a quota inside an HTTP 200.
        ``html=True`` answers an HTML error page instead of JSON; ``drop=True`` closes the
        connection without an answer.
        """
        queue = self._failures.setdefault(method, deque())
        for _ in range(times):
            queue.append(_Failure(status, error_code, html, drop))

    # ------------------------------------------------------------------ test-side reads

    def messages(self, ref: UserRef) -> list[JSON]:
        """What the bot sent to the user's chat, in order: message_id, date, kind, text."""
        return copy.deepcopy(self._sent.get(self.user_id(ref), []))

    def calls_to(self, method: str) -> list[JSON]:
        return [params for name, params in self.calls if name == method]

    @property
    def webhook(self) -> JSON:
        return dict(self._webhook)

    @property
    def pending_updates(self) -> list[JSON]:
        return copy.deepcopy(list(self._queue))

    def _touch(self) -> None:
        self._changed.set()

    async def _wait_until(self, predicate: Callable[[], bool],
                          timeout: float,  # noqa: ASYNC109
                          what: Callable[[], str]) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(what())
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    async def wait_for_messages(self, ref: UserRef, count: int, *,
                                timeout: float = 15.0) -> list[JSON]:  # noqa: ASYNC109
        """Wait until the bot has sent at least ``count`` messages to the user."""
        await self._wait_until(
            lambda: len(self._sent.get(self.user_id(ref), [])) >= count, timeout,
            lambda: f"expected {count} messages to {ref}, got "
                    f"{[m['text'][:60] for m in self.messages(ref)]}")
        return self.messages(ref)

    async def wait_for_call(self, method: str, predicate: Callable[[JSON], bool] | None = None,
                            *, timeout: float = 15.0) -> JSON:  # noqa: ASYNC109
        """Wait for a call of ``method`` (matching ``predicate``); returns its params."""
        def found() -> JSON | None:
            return next((p for p in self.calls_to(method) if predicate is None or predicate(p)),
                        None)
        await self._wait_until(lambda: found() is not None, timeout,
                               lambda: f"no matching {method} call")
        result = found()
        assert result is not None
        return result

    async def wait_for_calls(self, method: str, n: int, *,
                             timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Wait until ``method`` has been called at least ``n`` times."""
        await self._wait_until(lambda: len(self.calls_to(method)) >= n, timeout,
                               lambda: f"{method} called {len(self.calls_to(method))} times")

    async def wait_idle(self, *, timeout: float = 15.0,  # noqa: ASYNC109
                        quiet: float = 0.15) -> None:
        """Wait until nothing is queued or in flight and no call came for ``quiet`` s
        (an idle long poll does not count)."""
        def idle() -> bool:
            return (not self._queue and self._inflight == 0 and not self._deliveries_inflight
                    and time.monotonic() - self._last_activity >= quiet)
        await self._wait_until(idle, timeout, lambda: "the bot never went quiet")


def _ms() -> int:
    return int(time.time() * 1000)
