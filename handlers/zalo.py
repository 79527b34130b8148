"""The Zalo channel, through the Zalo Bot API (bot-api.zaloplatforms.com), with our own client.

The Bot API is shaped like Telegram's (``POST <base>/bot<TOKEN>/<method>`` with a JSON body,
answers ``{ok, result, description, error_code}``), but poorer, and each difference shapes
this adapter:

* ``getUpdates`` hands out ONE update per call and has no offset: nothing is confirmed, so
  the core's event ids (the Zalo ``message_id``) are what recognises a repeat. An empty long
  poll is answered as error 408 — as HTTP 200 with ``ok: false`` or as HTTP 408.
* Errors may come with HTTP 200 (a bad token is ``{"ok": false, "error_code": 401}`` with
  HTTP 200), so ``ok`` and ``error_code`` decide, never the HTTP status alone.
* Webhook deliveries carry ``X-Bot-Api-Secret-Token``; their body comes with or without the
  ``{ok, result}`` envelope.
* No buttons, no command menu, no message edits: options are a numbered list, answered by
  number or by typing the label (the core resolves both), and commands are typed as words,
  with or without the slash.
* Texts are 1–2,000 characters.

Webhook mode: the route (`routes`) is served by the web application (handlers/web.py),
which listens before `start` sets the webhook. A delivery is acknowledged once the event is
recorded, and handled right after, in its chat's order, by this process or another
(handlers/zalo_webhook.py, `bot.ingest`). The token is part of every URL: it is kept out of
every log line and exception this module produces.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import unicodedata
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bot import media
from bot.channels import Route
from bot.core import Core
from bot.delivery import DeliveryError, RetryLater, Transient, Unreachable
from bot.events import Inbound, Outcome, Reply
from bot.formatting import plain_blocks, split_message
from bot.locks import KeyedLocks
from bot.spoken import spoken_command
from handlers.zalo_api import (
    DEFAULT_BASE_URL,
    REQUEST_TIMEOUT,
    ZaloApiError,
    ZaloBotApi,
    ZaloTokenError,
)
from handlers.zalo_media import plan
from handlers.zalo_webhook import ZaloWebhook
from storage.textfold import fold

CHANNEL = "zalo"
MAX_TEXT = 2000  # sendMessage accepts 1–2,000 characters
MAX_ID = 64  # the width of our event-id and account-id columns
QUOTA_WAIT = 30.0  # seconds to wait after a 429 in the outbox

log = logging.getLogger(__name__)

JSON = dict[str, Any]


# --------------------------------------------------------------------------- translation


def _short_id(value: str) -> str:
    """An id that fits our columns: kept as is when it does, else a stable digest."""
    if len(value) <= MAX_ID:
        return value
    return "h:" + hashlib.sha256(value.encode()).hexdigest()[: MAX_ID - 2]


def event_id_of(update: JSON) -> str:
    """The message_id (a redelivery carries the same); else a digest of the whole event."""
    message = update.get("message")
    message_id = message.get("message_id") if isinstance(message, dict) else None
    if message_id not in (None, ""):
        return _short_id(str(message_id))
    raw = json.dumps(update, sort_keys=True, ensure_ascii=False, default=str)
    return "h:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def parse_command(text: str) -> tuple[str, str] | None:
    """(command, argument) when the text is a command, typed with or without the slash.

    "/anything" is a command (an unknown one gets the core's "I don't know the command");
    without the slash, what `bot.spoken` reads as one ("Huỷ", "tien do DTP-YT", "start CODE").
    """
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        head, _sep, args = stripped[1:].partition(" ")
        name = fold(head.split("@", 1)[0]).replace(" ", "")
        return (name, args.strip()) if name else None
    return spoken_command(stripped)


def to_inbound(update: JSON) -> Inbound | None:
    """The core's view of a Zalo event; None for events the bot does not answer."""
    event = str(update.get("event_name") or "")
    message = update.get("message")
    if not isinstance(message, dict):
        # message.unsupported.received may come with no message at all: nobody to answer.
        log.debug("zalo %s without a message: ignored", event or "event")
        return None
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    user_id = str(sender.get("id") or "")
    if not user_id or sender.get("is_bot"):
        log.debug("zalo %s without a human sender: ignored", event)
        return None
    if str(chat.get("chat_type") or "PRIVATE").upper() != "PRIVATE":
        # The flow is a private conversation; groups are not for registering initiatives.
        log.debug("zalo %s in a group chat: ignored", event)
        return None
    common: JSON = {
        "display_name": str(sender.get("display_name") or sender.get("name") or ""),
        "language_code": None,  # Zalo does not tell; the core's default applies
    }
    eid, uid = event_id_of(update), _short_id(user_id)
    chat_id = str(chat.get("id") or user_id)
    if event == "message.text.received":
        text = message.get("text")
        text = text if isinstance(text, str) else ""
        command = parse_command(text)
        if command is not None:
            return Inbound(CHANNEL, eid, uid, chat_id, "command", text=command[0],
                           args=command[1], **common)
        return Inbound(CHANNEL, eid, uid, chat_id, "text", text=text, **common)
    # Images (photo or photo_url), stickers, voice, links and anything newer: explained.
    return Inbound(CHANNEL, eid, uid, chat_id, "unsupported", **common)


# --------------------------------------------------------------------------- rendering


def render(outcome: Outcome) -> list[str]:
    """The texts to send, in order: each reply as plain text with its options numbered,
    split under the 2,000-character limit at line or word boundaries."""
    parts: list[str] = []
    for block in plain_blocks(outcome, limit=MAX_TEXT):
        # NFC first: decomposed Vietnamese would count up to three characters per letter.
        parts += split_message(unicodedata.normalize("NFC", block), MAX_TEXT)
    return [p for p in parts if p.strip()]  # Zalo refuses an empty text


# --------------------------------------------------------------------------- the channel


class ZaloChannel:
    """Long polling or a webhook → core → replies, for one Zalo bot; also the outbox's
    ``bot.delivery.Sender`` for Zalo."""

    channel = CHANNEL

    def __init__(
        self,
        core: Core,
        *,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        poll_timeout: int = 30,
        send_attempts: int = 5,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        drain_timeout: float = 30.0,
        public_base_url: str | None = None,
    ) -> None:
        self.core = core
        # Charts and reports go as links served by the web application at this address
        # (`/media/<token>`, signed with a key derived from the token); without it, text alone.
        self.public_base_url = public_base_url or None
        self.media_key = media.media_key(token)
        self.api = ZaloBotApi(token, base_url or DEFAULT_BASE_URL)
        self.webhook_url = webhook_url or None
        self.webhook_secret = webhook_secret or None
        if bool(self.webhook_url) != bool(self.webhook_secret):
            log.warning("zalo: a webhook needs both ZALO_WEBHOOK_URL and ZALO_WEBHOOK_SECRET; "
                        "using long polling")
        if self.webhook_mode:
            assert self.webhook_secret is not None
            if not 8 <= len(self.webhook_secret) <= 256:
                raise ValueError("the Zalo webhook secret must be 8–256 characters long")
        self.poll_timeout = poll_timeout
        self.send_attempts = max(1, send_attempts)
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.drain_timeout = drain_timeout
        self.bot_info: JSON = {}
        self._chat_locks = KeyedLocks()
        self.webhook: ZaloWebhook | None = None
        if self.webhook_mode:
            assert self.webhook_secret is not None
            self.webhook = ZaloWebhook(core, channel=CHANNEL, secret=self.webhook_secret,
                                       read=self.read, deliver=self.deliver_queued,
                                       redact=self.api.redact)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url and self.webhook_secret)

    @property
    def webhook_path(self) -> str:
        return urlsplit(self.webhook_url or "").path or "/"

    def routes(self) -> list[Route]:
        """The webhook's route (the path of its URL), in webhook mode."""
        if self.webhook is None:
            return []
        return [Route("POST", self.webhook_path, self.webhook.on_webhook)]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Check the token, then set the webhook (its route must be served already) or start
        polling.

        Raises ZaloTokenError ("Zalo rejected the bot token (401)") for a bad token.
        """
        self._stopping = False
        await self.api.open()
        try:
            me = await self._call_retrying("getMe")
            self.bot_info = me if isinstance(me, dict) else {}
            name = (self.bot_info.get("account_name") or self.bot_info.get("display_name")
                    or self.bot_info.get("name") or "?")
            if self.webhook is not None:
                await self.webhook.start()   # also what another process recorded and left
                await self._call_retrying("setWebhook", {"url": self.webhook_url,
                                                         "secret_token": self.webhook_secret})
                log.info("zalo bot %s: webhook at %s", name, self.webhook_path)
            else:
                # Zalo hands out nothing to polling while a webhook is set.
                await self._call_retrying("deleteWebhook")
                self._poller = asyncio.create_task(self._poll_loop(), name="zalo-poll")
                log.info("zalo bot %s: long polling", name)
        except BaseException:
            if self.webhook is not None:
                await self.webhook.stop()
            await self.api.close()
            raise

    async def stop(self) -> None:
        """Stop taking events, finish the ones taken (their replies included), close."""
        self._stopping = True
        if self._poller is not None:
            poller, self._poller = self._poller, None
            poller.cancel()
            try:
                await poller
            except asyncio.CancelledError:
                pass
        if self.webhook is not None:
            await self.webhook.stop()
        await self._drain()
        await self.api.close()

    async def _drain(self) -> None:
        deadline = time.monotonic() + self.drain_timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("zalo: %d tasks still running at stop; cancelled", len(self._tasks))
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                return
            # Handling tasks start sending tasks: loop until nothing is left.
            await asyncio.wait(list(self._tasks), timeout=remaining)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)  # a reference, or the task may be collected mid-flight
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("zalo task %s failed: %s", task.get_name(), self.api.redact(repr(exc)))

    # ------------------------------------------------------------------ receiving

    async def _poll_loop(self) -> None:
        """getUpdates forever: 408 is an empty poll; any other failure backs off and retries."""
        delay = 0.0
        while not self._stopping:
            started = time.monotonic()
            try:
                update = await self.api.call(
                    "getUpdates", {"timeout": str(self.poll_timeout)},
                    time_limit=self.poll_timeout + REQUEST_TIMEOUT)
            except ZaloApiError as exc:
                if exc.code == 408:
                    delay = 0.0
                    # An empty poll that came back at once (e.g. a webhook set elsewhere)
                    # must not turn into a busy loop.
                    if time.monotonic() - started < min(1.0, self.poll_timeout / 2):
                        await asyncio.sleep(0.5)
                    continue
                delay = min(max(delay * 2, self.retry_delay), self.max_retry_delay)
                if isinstance(exc, ZaloTokenError):
                    log.error("Zalo rejected the bot token (401) while polling; "
                              "retrying in %.1f s", delay)
                else:
                    log.warning("zalo polling: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            except Exception as exc:  # never let one odd answer end the polling
                delay = min(max(delay * 2, self.retry_delay), self.max_retry_delay)
                log.error("zalo polling: unexpected %s; retrying in %.1f s",
                          self.api.redact(repr(exc)), delay)
                await asyncio.sleep(delay)
                continue
            delay = 0.0
            for item in update if isinstance(update, list) else [update]:
                if isinstance(item, dict) and item:
                    self._receive(item)

    def read(self, update: JSON) -> Inbound | None:
        """The core's view of an event; None for one the bot does not answer (or cannot read)."""
        try:
            return to_inbound(update)
        except Exception as exc:
            log.warning("zalo: could not read a %s event: %r", update.get("event_name"), exc)
            return None

    def _receive(self, update: JSON) -> asyncio.Task[Outcome | None] | None:
        inbound = self.read(update)
        if inbound is None:
            return None
        log.debug("zalo %s %s from %s", update.get("event_name"), inbound.event_id,
                  inbound.user_id)
        return self._dispatch(inbound)

    def _dispatch(self, inbound: Inbound) -> asyncio.Task[Outcome | None]:
        """Handle one event now; its replies go out after those of earlier events of the chat.

        The sending task is created first, synchronously, so it queues for the chat's lock
        in arrival order — whatever order the handling tasks finish in.
        """
        ready: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._spawn(self._send_when_ready(inbound, ready), f"zalo-send-{inbound.event_id}")
        return self._spawn(self._handle(inbound, ready), f"zalo-handle-{inbound.event_id}")

    async def _handle(self, inbound: Inbound,
                      ready: asyncio.Future[Outcome]) -> Outcome | None:
        try:
            outcome = await self.core.handle(inbound)  # returns once committed
        except BaseException as exc:
            if not ready.done():
                ready.cancel()
            if isinstance(exc, Exception):
                log.error("zalo event %s not handled: %r", inbound.event_id, exc)
                return None
            raise
        ready.set_result(outcome)
        return outcome

    # ------------------------------------------------------------------ sending

    async def _send_when_ready(self, inbound: Inbound, ready: asyncio.Future[Outcome]) -> None:
        async with self._chat_locks.hold(inbound.chat_id):
            try:
                outcome = await ready
            except asyncio.CancelledError:
                if ready.cancelled():
                    return  # the event was not handled: nothing to say
                raise
            await self._send_outcome(inbound, outcome)

    async def deliver_queued(self, inbound: Inbound, outcome: Outcome) -> None:
        """`bot.ingest.Deliver`: the replies of an event handled from the webhook's queue
        (the queue hands a chat's outcomes over in order, one chat at a time)."""
        await self._send_outcome(inbound, outcome)

    async def _send_outcome(self, inbound: Inbound, outcome: Outcome) -> None:
        if outcome.duplicate:
            return
        for kind, part, caption in plan(outcome, render=render, key=self.media_key,
                                        public_base_url=self.public_base_url):
            sent = (await self.send_text(inbound.chat_id, part) if kind == "text" else
                    await self.send_photo(inbound.chat_id, part, caption))
            if not sent:
                return  # the rest would read out of context; kept, they go later
        self.core.sent(outcome)

    async def send_photo(self, chat_id: str, url: str, caption: str) -> bool:
        """A photo by URL (Zalo fetches it), retrying as `send_text` does."""
        try:
            await self._call_retrying("sendPhoto", {"chat_id": chat_id, "photo": url,
                                                    "caption": caption})
            return True
        except ZaloApiError as exc:
            log.error("zalo: a photo to chat %s was not sent: %s", chat_id, exc)
        return False

    async def deliver(self, chat_id: str, reply: Reply, locale: str) -> None:
        """``Sender``: one message the bot sends on its own. No retries here — the outbox
        retries, told how by the DeliveryError raised. A reply longer than one Zalo message
        may then repeat its first parts; better than losing the rest. A reply's chart or
        report (recovered through the outbox) goes as for a reply (`zalo_media.plan`)."""
        for kind, part, caption in plan(Outcome([reply], locale=locale), render=render,
                                        key=self.media_key,
                                        public_base_url=self.public_base_url):
            failure: DeliveryError | None = None
            try:
                await self.api.call(*(("sendMessage", {"chat_id": chat_id, "text": part})
                                      if kind == "text" else
                                      ("sendPhoto", {"chat_id": chat_id, "photo": part,
                                                     "caption": caption})))
            except ZaloApiError as exc:
                failure = delivery_error(exc)
            if failure is not None:
                raise failure  # outside the except block: no chained traceback

    async def send_text(self, chat_id: str, text: str) -> bool:
        """Send one text (≤ 2,000 characters), retrying quota and server errors."""
        try:
            await self._call_retrying("sendMessage", {"chat_id": chat_id, "text": text})
            return True
        except ZaloTokenError:
            log.error("Zalo rejected the bot token (401): a reply to chat %s was not sent",
                      chat_id)
        except ZaloApiError as exc:
            log.error("zalo: a reply to chat %s was not sent: %s", chat_id, exc)
        return False

    async def _call_retrying(self, method: str, payload: JSON | None = None) -> Any:
        """A call with exponential back-off on 429, 5xx and lost connections (a 429's
        retry_after, when Zalo sends one, is the wait).

        A lost connection may hide a message that did arrive; sending it twice is the lesser
        harm than losing it.
        """
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = exc.retry_after if isinstance(exc, ZaloApiError) else None
            return min(after or self.retry_delay * 2 ** (state.attempt_number - 1),
                       self.max_retry_delay)

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            code = exc.code if isinstance(exc, ZaloApiError) else None
            log.warning("zalo %s: %s; attempt %d of %d in %.1f s", method,
                        code if code is not None else "network error", state.attempt_number + 1,
                        self.send_attempts, state.upcoming_sleep)

        async for attempt in AsyncRetrying(
                retry=retry_if_exception(lambda e: isinstance(e, ZaloApiError) and e.retryable),
                stop=stop_after_attempt(self.send_attempts), wait=wait,
                before_sleep=log_retry, reraise=True):
            with attempt:
                return await self.api.call(method, payload)
        raise AssertionError("unreachable")


def delivery_error(exc: ZaloApiError) -> DeliveryError:
    """A Bot API failure in the outbox's terms."""
    if exc.code == 429:
        # Zalo publishes no quota and sends no retry_after: wait a while, not a moment.
        return RetryLater(exc.retry_after or QUOTA_WAIT)
    if exc.code in (400, 404):
        # A chat that does not exist, or never wrote to the bot: retrying cannot help.
        return Unreachable(str(exc))
    # Network, 5xx, 401 (a token being fixed) and 403 (a server error in Zalo's own table).
    return Transient(str(exc))
