"""The Telegram channel: our own long polling over python-telegram-bot's public Bot API.

Updates arrive from getUpdates as plain dicts (no PTB objects are built from them), are
translated into `Inbound`s and handed to the core: different chats concurrently, one chat's
updates in update-id order. A batch is confirmed to Telegram — the next getUpdates carries
`offset = last update_id + 1` — only once every update in it is committed, so a crash loses
nothing: Telegram hands the unconfirmed updates out again and the core recognises those it
had already committed. Replies are sent after the commit, in each chat's order, while the
next batch is fetched.

Options become inline buttons whose callback data is the option's token; once a button is
used its keyboard is removed. A stale or repeated press is answered with a short notice (a
toast) and changes nothing.

The token is part of every Bot API URL: it is kept out of every log line and exception text
this module produces.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from datetime import timedelta
from functools import partial
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeDefault
from telegram.constants import MessageLimit
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.core import Core
from bot.events import Inbound, Outcome, Reply
from bot.formatting import merge_replies, split_html
from bot.i18n import N_, SUPPORTED_LOCALES, gettext_for
from bot.locks import KeyedLocks
from bot.spoken import spoken_command
from handlers.telegram_media import send_any

CHANNEL = "telegram"
log = logging.getLogger(__name__)

JSON = dict[str, Any]

# The update types the bot answers; Telegram sends no others.
ALLOWED_UPDATES = ("message", "callback_query")
# Added to a long poll's own timeout for its HTTP read time-out, as PTB's Updater does.
POLL_READ_MARGIN = 5.0

# The command menu, per language: Vietnamese names, with English aliases for English users.
MENU = (
    ("start", "start", N_("Welcome and what to do")),
    ("sangkien", "new", N_("Register a new initiative")),
    ("nhap", "drafts", N_("My drafts")),
    ("cuatoi", "mine", N_("My initiatives and their status")),
    ("hoso", "profile", N_("My profile: name, union, language")),
    ("lienket", "link", N_("Link with my other chat app")),
    ("huy", "cancel", N_("Stop (the draft is kept)")),
    ("trogiup", "help", N_("Help")),
    ("ngonngu", "language", N_("Language")),
)


class TokenRejected(RuntimeError):
    """Telegram rejected the bot token (401): nothing works until it is replaced."""


# --------------------------------------------------------------------------- reading updates


def full_name(user: JSON) -> str:
    """"First Last", as Telegram clients show a user (PTB's `User.full_name`)."""
    last = user.get("last_name")
    return f"{user['first_name']} {last}" if last else str(user["first_name"])


def to_inbound(update: JSON) -> Inbound | None:
    """The core's view of an update (a dict as getUpdates or a webhook delivers it); None for
    updates the bot does not answer. Raises KeyError/TypeError for a malformed update."""
    uid = str(update["update_id"])
    if (cq := update.get("callback_query")) is not None:
        user = cq["from"]
        message = cq.get("message")  # absent for buttons under inline-mode messages
        chat = message["chat"]["id"] if message else user["id"]
        return Inbound(CHANNEL, uid, str(user["id"]), str(chat), "choice",
                       text=cq.get("data") or "", display_name=full_name(user),
                       language_code=user.get("language_code"),
                       ref=f"{cq['id']}|{chat}|{message['message_id'] if message else ''}")
    msg = update.get("message")
    if msg is None or msg["chat"].get("type") != "private" or msg.get("from") is None:
        return None
    user, chat = msg["from"], str(msg["chat"]["id"])
    common: JSON = {"display_name": full_name(user), "language_code": user.get("language_code")}
    if photo := msg.get("photo"):
        # The largest size; the file id is all we keep (Telegram stores the file).
        return Inbound(CHANNEL, uid, str(user["id"]), chat, "file", text=msg.get("caption") or "",
                       attachment_kind="photo", attachment_id=photo[-1]["file_id"], **common)
    if (document := msg.get("document")) is not None:
        return Inbound(CHANNEL, uid, str(user["id"]), chat, "file",
                       text=document.get("file_name") or msg.get("caption") or "",
                       attachment_kind="document", attachment_id=document["file_id"], **common)
    text = msg.get("text")
    if text is None:
        return Inbound(CHANNEL, uid, str(user["id"]), chat, "unsupported", **common)
    if text.startswith("/") and len(text) > 1:
        head, _sep, args = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        return Inbound(CHANNEL, uid, str(user["id"]), chat, "command", text=name,
                       args=args.strip(), **common)
    if (spoken := spoken_command(text)) is not None:   # "tien do", "huy": a command word typed
        return Inbound(CHANNEL, uid, str(user["id"]), chat, "command", text=spoken[0],
                       args=spoken[1], **common)
    return Inbound(CHANNEL, uid, str(user["id"]), chat, "text", text=text, **common)


# --------------------------------------------------------------------------- Bot API calls


# Sent with every message: no link previews (the JSON of `LinkPreviewOptions(is_disabled=True)`).
NO_PREVIEW: JSON = {"is_disabled": True}


def keyboard(reply: Reply) -> JSON | None:
    """The reply's options as an inline keyboard, one button a row, in the Bot API's JSON
    (what `InlineKeyboardMarkup(...).to_dict()` gives); None when there are no options.

    The callback data is the option's token, unchanged (Telegram allows 1-64 bytes; tokens
    are short, see `bot.events.Option`)."""
    if not reply.options:
        return None
    return {"inline_keyboard": [[{"text": opt.label, "callback_data": opt.token}]
                                for opt in reply.options]}


def quiet_raw_call_warnings() -> None:
    """`Bot.do_api_request` warns "Please use 'Bot.sendMessage' instead of
    'Bot.do_api_request(...)'" for endpoints that have a Bot method. Using it anyway is the
    point of `api_call`, so exactly that warning is ignored, for calls made from this module.

    Installed when a channel or sender is made (not at import: test runners reset the filters
    per test). A filter, not a `catch_warnings` block per call: that would rewrite the global
    filter list on every call, and is not safe with concurrent tasks."""
    warnings.filterwarnings(
        "ignore", message=r"Please use 'Bot\.\w+' instead of 'Bot\.do_api_request",
        category=PTBUserWarning, module=re.escape(__name__) + r"\Z")


async def api_call(bot: Bot, endpoint: str, data: JSON, **timeouts: Any) -> Any:
    """Calls the Bot API method `endpoint` (e.g. "sendMessage") through PTB's public
    `Bot.do_api_request`: the answer's `result` as plain JSON, no PTB objects built from it
    (no `Message` per sendMessage, which with its keyboard objects was most of PTB's CPU
    cost per call). No `Defaults` are inserted (none are configured).

    `data` holds JSON-ready values (plain dicts for markup); None values are left out.
    Errors are PTB's, as with the Bot methods (`BadRequest`, `Forbidden`, `RetryAfter`, …),
    except that a rejected token is `TokenRejected`: once a bot is initialised,
    `do_api_request` reports Telegram's 401 (or 404, its answer to a malformed token) as
    `EndPointNotFound`, and every endpoint called here exists.
    """
    try:
        return await bot.do_api_request(endpoint, api_kwargs=data, **timeouts)
    except (EndPointNotFound, InvalidToken) as exc:
        answer = redact(str(exc.__cause__ or exc), bot.token)  # PTB's InvalidToken: "Unauthorized"
    # Raised outside the handler: nothing chained.
    raise TokenRejected(f"Telegram rejected the bot token on {endpoint} ({answer})")


async def send_reply(bot: Bot, chat_id: int | str, reply: Reply) -> None:
    """Sends a reply as HTML, split at Telegram's 4,096 characters, its options as inline
    buttons under the last part, without link previews. Telegram's errors are raised."""
    parts = split_html(reply.text, MessageLimit.MAX_TEXT_LENGTH)
    last = len(parts) - 1
    for i, part in enumerate(parts):
        await api_call(bot, "sendMessage", {
            "chat_id": chat_id, "text": part, "parse_mode": "HTML",
            "reply_markup": keyboard(reply) if i == last else None,
            "link_preview_options": NO_PREVIEW})


# Anything shaped like a bot token ("123456:AA…"), in case an error quotes a URL.
_TOKEN_SHAPE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")


def redact(text: str, token: str) -> str:
    """`text` without the token, or anything shaped like one."""
    if token:
        text = text.replace(token, "<token>")
    return _TOKEN_SHAPE.sub("<token>", text)


def retry_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked us to wait."""
    # PTB 22 warns on reading `retry_after` as an int unless PTB_TIMEDELTA is set; both
    # forms mean seconds. Rare (flood control), so a catch_warnings block is affordable.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# --------------------------------------------------------------------------- the channel


class TelegramChannel:
    """Long polling (or updates handed to `handle_update`) → core → replies."""

    def __init__(self, core: Core, *, token: str, base_url: str | None = None,
                 poll_timeout: int = 30, retry_delay: float = 0.5, max_retry_delay: float = 30.0,
                 drain_timeout: float = 30.0, request: BaseRequest | None = None,
                 get_updates_request: BaseRequest | None = None) -> None:
        """`request`/`get_updates_request`: PTB request objects for the calls and for the
        long poll (e.g. one that answers locally, for benchmarks); PTB's HTTPX by default."""
        self.core = core
        self.poll_timeout = poll_timeout
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.drain_timeout = drain_timeout
        urls: JSON = {}
        if base_url:
            base = base_url.rstrip("/")
            urls["base_url"] = base if base.endswith("/bot") else base + "/bot"
            urls["base_file_url"] = base.removesuffix("/bot") + "/file/bot"
        self.bot = Bot(token, request=request, get_updates_request=get_updates_request, **urls)
        quiet_raw_call_warnings()
        self._chat_locks = KeyedLocks()
        self._sending: dict[str, asyncio.Task[None]] = {}  # chat → its latest replies' task
        self._poller: asyncio.Task[None] | None = None
        self._interruptible = False  # the poller waits on Telegram or a back-off, nothing else
        self._stopping = False
        self._offset: int | None = None  # the next getUpdates' offset

    @property
    def polling(self) -> asyncio.Task[None] | None:
        """The polling task while it runs; it ends with `TokenRejected` when Telegram rejects
        the token (logged as critical), so a supervisor can end the process."""
        return self._poller

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, polling: bool = True) -> None:
        """Check the token (getMe), set the command menus, then start long polling.

        `polling=False` for a webhook route or a benchmark feeding `handle_update`.
        Raises `TokenRejected` for a bad token.
        """
        rejected = False
        try:
            await self.bot.initialize()
        except InvalidToken:
            rejected = True
        except BaseException:
            await self.bot.shutdown()
            raise
        if rejected:
            # PTB's message quotes the token: raised outside the handler, so that nothing is
            # chained to it.
            await self.bot.shutdown()
            raise TokenRejected("Telegram rejected the bot token (401): check TELEGRAM_BOT_TOKEN")
        await self.register_commands()
        self._stopping = False
        if polling:
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
            log.info("telegram bot @%s: long polling", self.bot.username)

    async def stop(self) -> None:
        """Stop polling (a batch being handled is finished first), send the replies already
        queued, confirm the last committed batch to Telegram, close."""
        self._stopping = True
        if self._poller is not None:
            poller, self._poller = self._poller, None
            if self._interruptible:
                poller.cancel()
            await asyncio.wait([poller])
            if not poller.cancelled():
                poller.exception()  # TokenRejected, if any, was logged when it happened
        await self._drain()
        await self._confirm()
        await self.bot.shutdown()

    async def register_commands(self) -> None:
        for locale in SUPPORTED_LOCALES:
            _ = gettext_for(locale)
            commands = [BotCommand(vi if locale == "vi" else en, _(desc)) for vi, en, desc in MENU]
            await self.bot.set_my_commands(
                commands, scope=BotCommandScopeDefault(),
                language_code=None if locale == "vi" else locale)

    async def _drain(self) -> None:
        pending = list(self._sending.values())  # each chat's last task waits for its earlier
        if not pending:
            return
        _done, late = await asyncio.wait(pending, timeout=self.drain_timeout)
        if late:
            log.warning("telegram: replies to %d chats still unsent at stop; cancelled",
                        len(late))
            for task in late:
                task.cancel()
            await asyncio.wait(late)

    async def _confirm(self) -> None:
        """Tell Telegram the last committed batch is done (PTB's Updater does the same at
        stop), so a restart does not fetch it again. Best effort: were it lost, the core
        would recognise the batch as already handled."""
        if self._offset is None:
            return
        try:
            await api_call(self.bot, "getUpdates", {
                "offset": self._offset, "limit": 1, "timeout": 0,
                "allowed_updates": ALLOWED_UPDATES})
        except (TelegramError, TokenRejected) as exc:
            log.warning("telegram: the last batch was not confirmed at stop: %s",
                        self._redact(exc))

    # ------------------------------------------------------------------ receiving

    async def _poll(self) -> None:
        """getUpdates → the core → the next getUpdates, whose offset confirms only what the
        core has committed."""
        failures = 0
        while not self._stopping:
            try:
                updates = await self._waiting(api_call(
                    self.bot, "getUpdates",
                    {"offset": self._offset, "timeout": self.poll_timeout,
                     "allowed_updates": ALLOWED_UPDATES},
                    read_timeout=self.poll_timeout + POLL_READ_MARGIN))
            except TokenRejected as exc:
                log.critical("%s: polling stopped. Set a valid TELEGRAM_BOT_TOKEN (and "
                             "TELEGRAM_BASE_URL, if set) and restart.", exc)
                raise
            except Exception as exc:  # never let one odd answer end the polling
                failures += 1
                await self._waiting(asyncio.sleep(self._poll_failed(exc, failures)))
                continue
            failures = 0
            if not updates or not isinstance(updates, list):
                continue
            if await self._handle_batch(updates):
                self._offset = max(int(u["update_id"]) for u in updates) + 1
            else:
                # Not confirmed: Telegram hands the batch out again, and the core recognises
                # the updates it did commit.
                failures += 1
                await self._waiting(asyncio.sleep(self._backoff(failures)))

    async def _waiting(self, awaitable: Any) -> Any:
        """Awaits a long poll or a back-off: the only places where `stop` may interrupt."""
        self._interruptible = True
        try:
            return await awaitable
        finally:
            self._interruptible = False

    def _backoff(self, failures: int) -> float:
        return min(self.retry_delay * 2 ** (failures - 1), self.max_retry_delay)

    def _poll_failed(self, exc: Exception, failures: int) -> float:
        """Logs a failed getUpdates; returns how long to wait before the next."""
        delay = self._backoff(failures)
        reason = self._redact(exc)
        if isinstance(exc, RetryAfter):
            delay = retry_seconds(exc)
            log.warning("telegram polling: flood control, retrying in %.0f s", delay)
        elif isinstance(exc, Conflict):
            log.error("telegram polling: 409 Conflict (%s). Another process is polling with "
                      "this bot token, or a webhook is set for it (remove it with "
                      "deleteWebhook). Retrying in %.1f s", reason, delay)
        elif isinstance(exc, TelegramError):  # network errors, time-outs, 5xx, 4xx
            log.warning("telegram polling: %s; retrying in %.1f s", reason, delay)
        else:
            log.error("telegram polling: unexpected %s; retrying in %.1f s", reason, delay)
        return delay

    async def _handle_batch(self, updates: list[JSON]) -> bool:
        """Hands a getUpdates batch to the core: chats concurrently, each chat's updates in
        update-id order. True once every update is committed (or needs nothing)."""
        chats: dict[str, list[tuple[JSON, Inbound]]] = {}
        for update in sorted(updates, key=lambda u: int(u["update_id"])):
            inbound = self.read(update)
            if inbound is not None:
                chats.setdefault(inbound.chat_id, []).append((update, inbound))
        results = await asyncio.gather(*(self._in_order(items) for items in chats.values()),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for exc in failed[:1]:
            log.error("telegram: %d of %d chats in a batch not handled (%s); the batch will "
                      "be fetched again", len(failed), len(results), self._redact(exc))
        return not failed

    async def _in_order(self, items: list[tuple[JSON, Inbound]]) -> None:
        for update, inbound in items:
            await self._commit(update, inbound)

    def read(self, update: JSON) -> Inbound | None:
        """The core's view of an update, or None (not answered, or unreadable: logged)."""
        try:
            return to_inbound(update)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("telegram update %s could not be read (%s: %s): ignored",
                        update.get("update_id"), type(exc).__name__, exc)
            return None

    async def handle_update(self, update: JSON) -> asyncio.Task[None] | None:
        """Handles one update, a dict as getUpdates or a webhook delivers it: returns once the
        core has committed it, with the task sending its replies (they follow those of the
        chat's earlier updates); None for an update the bot does not answer.

        Concurrent calls for one chat are committed in call order."""
        inbound = self.read(update)
        if inbound is None:
            return None
        return await self._commit(update, inbound)

    async def _commit(self, update: JSON, inbound: Inbound) -> asyncio.Task[None]:
        async with self._chat_locks.hold(inbound.chat_id):
            outcome = await self.core.handle(inbound)  # returns once committed
            # Queued under the lock: the chat's replies go out in commit order.
            return self._queue_replies(update, inbound, outcome)

    # ------------------------------------------------------------------ sending

    def _queue_replies(self, update: JSON, inbound: Inbound,
                       outcome: Outcome) -> asyncio.Task[None]:
        chat = inbound.chat_id
        task = asyncio.create_task(
            self._send_in_turn(self._sending.get(chat), update, inbound, outcome))
        self._sending[chat] = task
        task.add_done_callback(partial(self._sent, chat))
        return task

    async def _send_in_turn(self, previous: asyncio.Task[None] | None, update: JSON,
                            inbound: Inbound, outcome: Outcome) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # its failure is its own, logged by `_sent`
        await self.deliver(update, inbound, outcome)

    def _sent(self, chat: str, task: asyncio.Task[None]) -> None:
        if self._sending.get(chat) is task:
            del self._sending[chat]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("telegram: replies to chat %s not sent: %s", chat, self._redact(exc))

    async def deliver_queued(self, inbound: Inbound, outcome: Outcome) -> None:
        """`bot.ingest.Deliver`: the replies of an update handled from the queue (a webhook
        acknowledged it when it was recorded), with the pressed button answered as
        `deliver` answers it, from what the event kept (`Inbound.ref`)."""
        update: JSON = {}
        if inbound.ref:
            query, chat, message = inbound.ref.split("|")
            update = {"callback_query": {"id": query, **(
                {"message": {"chat": {"id": int(chat)}, "message_id": int(message)}}
                if message else {})}}
        await self.deliver(update, inbound, outcome)

    async def deliver(self, update: JSON, inbound: Inbound, outcome: Outcome) -> None:
        """Answers a button press and sends the replies; Telegram's errors are raised."""
        bot = self.bot
        if (cq := update.get("callback_query")) is not None:
            # Always answered, or the button keeps spinning; the toast, if any, is the answer.
            await self._quietly(api_call(bot, "answerCallbackQuery", {
                "callback_query_id": cq["id"], "text": outcome.toast or None}))
            message = cq.get("message")
            # A used keyboard is taken off its message (editMessageReplyMarkup without
            # reply_markup removes it). Not after a stale or repeated press: the toast has
            # told the user already, and the keyboard is usually gone (a double tap) — the
            # edit would be one more call per press, failing with "message is not modified".
            if message is not None and not outcome.toast and not outcome.duplicate:
                await self._quietly(api_call(bot, "editMessageReplyMarkup", {
                    "chat_id": message["chat"]["id"], "message_id": message["message_id"]}))
        try:
            for reply in merge_replies(outcome.replies, MessageLimit.MAX_TEXT_LENGTH):
                await send_any(bot, self.core, int(inbound.chat_id), reply, outcome.locale)
        except (Forbidden, BadRequest):
            self.core.sent(outcome)   # will never go through (blocked, refused): not kept
            raise
        self.core.sent(outcome)       # else kept: sent again on a redelivery, or by the outbox

    async def _quietly(self, awaitable: Any) -> None:
        """Best-effort calls whose failure must not stop the replies (edits, callback
        answers)."""
        try:
            await awaitable
        except BadRequest as exc:  # e.g. a query too old to answer
            log.debug("ignored: %s", self._redact(exc))
        except (TelegramError, TokenRejected) as exc:
            log.warning("telegram call failed: %s", self._redact(exc))

    def _redact(self, exc: BaseException) -> str:
        return redact(f"{type(exc).__name__}: {exc}", self.bot.token)
