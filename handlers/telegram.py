"""The Telegram channel, through python-telegram-bot.

Every update is translated into an `Inbound` and handed to the core; the replies are sent only
after the core has committed. Options become inline buttons whose callback data is the
option's token; once a button is used its keyboard is removed, and a stale or repeated press
is answered with a short notice and changes nothing.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeDefault, Update
from telegram.constants import MessageLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

from bot.core import Core
from bot.events import Inbound, Outcome, Reply
from bot.formatting import merge_replies, split_message
from bot.i18n import N_, SUPPORTED_LOCALES, gettext_for
from bot.locks import KeyedLocks

CHANNEL = "telegram"
log = logging.getLogger(__name__)

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


def to_inbound(update: Update) -> Inbound | None:
    """The core's view of an update; None for updates the bot does not answer."""
    uid = str(update.update_id)
    if (cq := update.callback_query) is not None:
        chat = cq.message.chat.id if cq.message else cq.from_user.id
        return Inbound(CHANNEL, uid, str(cq.from_user.id), str(chat), "choice",
                       text=cq.data or "", display_name=cq.from_user.full_name,
                       language_code=cq.from_user.language_code)
    msg = update.message
    if msg is None or msg.chat.type != "private" or msg.from_user is None:
        return None
    user, chat = msg.from_user, str(msg.chat.id)
    common: dict[str, Any] = {"display_name": user.full_name, "language_code": user.language_code}
    if msg.photo:
        # The largest size; the file id is all we keep (Telegram stores the file).
        return Inbound(CHANNEL, uid, str(user.id), chat, "file", text=msg.caption or "",
                       attachment_kind="photo", attachment_id=msg.photo[-1].file_id, **common)
    if msg.document is not None:
        return Inbound(CHANNEL, uid, str(user.id), chat, "file",
                       text=msg.document.file_name or msg.caption or "",
                       attachment_kind="document", attachment_id=msg.document.file_id, **common)
    if msg.text is None:
        return Inbound(CHANNEL, uid, str(user.id), chat, "unsupported", **common)
    text = msg.text
    if text.startswith("/") and len(text) > 1:
        head, _sep, args = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        return Inbound(CHANNEL, uid, str(user.id), chat, "command", text=name,
                       args=args.strip(), **common)
    return Inbound(CHANNEL, uid, str(user.id), chat, "text", text=text, **common)


# Sent with every message: no link previews (the JSON of `LinkPreviewOptions(is_disabled=True)`).
NO_PREVIEW: dict[str, Any] = {"is_disabled": True}


def keyboard(reply: Reply) -> dict[str, Any] | None:
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


async def api_call(bot: Bot, endpoint: str, data: dict[str, Any]) -> Any:
    """Calls the Bot API method `endpoint` (e.g. "sendMessage") through PTB's public
    `Bot.do_api_request`: the answer's `result` as plain JSON, no PTB objects built from it
    (no `Message` per sendMessage, which with its keyboard objects was most of PTB's CPU
    cost per call). No `Defaults` are inserted (none are configured).

    `data` holds JSON-ready values (plain dicts for markup); None values are left out.
    Errors are PTB's, as with the Bot methods (`BadRequest`, `Forbidden`, `RetryAfter`, …).
    """
    return await bot.do_api_request(endpoint, api_kwargs=data)


class TelegramChannel:
    """Long polling (or any update source) → core → replies."""

    def __init__(self, core: Core, *, token: str, base_url: str | None = None,
                 concurrent_updates: int = 64, poll_timeout: int = 30,
                 request: BaseRequest | None = None) -> None:
        self.core = core
        self.poll_timeout = poll_timeout
        builder = Application.builder().token(token).concurrent_updates(concurrent_updates)
        if request is not None:  # e.g. a request object that answers locally (benchmarks)
            builder = builder.request(request)
        if base_url:
            base = base_url.rstrip("/")
            builder = builder.base_url(base if base.endswith("/bot") else base + "/bot")
            builder = builder.base_file_url(base.removesuffix("/bot") + "/file/bot")
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.app.add_handler(TypeHandler(Update, self.on_update))
        self.app.add_error_handler(self.on_error)
        self._chat_locks = KeyedLocks()
        quiet_raw_call_warnings()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.app.initialize()
        await self.register_commands()
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            poll_interval=0.0, timeout=self.poll_timeout,
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def register_commands(self) -> None:
        for locale in SUPPORTED_LOCALES:
            _ = gettext_for(locale)
            commands = [BotCommand(vi if locale == "vi" else en, _(desc)) for vi, en, desc in MENU]
            await self.app.bot.set_my_commands(
                commands, scope=BotCommandScopeDefault(),
                language_code=None if locale == "vi" else locale)

    # ------------------------------------------------------------------ updates

    async def on_update(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        inbound = to_inbound(update)
        if inbound is None:
            return
        # Replies of one chat go out in order even when its updates are processed concurrently.
        async with self._chat_locks.hold(inbound.chat_id):
            outcome = await self.core.handle(inbound)
            await self.deliver(update, inbound, outcome)

    async def deliver(self, update: Update, inbound: Inbound, outcome: Outcome) -> None:
        bot = self.app.bot
        if (cq := update.callback_query) is not None:
            await _quietly(api_call(bot, "answerCallbackQuery",
                                    {"callback_query_id": cq.id, "text": outcome.toast or None}))
            if not outcome.duplicate and cq.message is not None:
                # The keyboard has done its job (or is stale): take it off the message
                # (editMessageReplyMarkup without reply_markup removes it).
                await _quietly(api_call(bot, "editMessageReplyMarkup", {
                    "chat_id": cq.message.chat.id, "message_id": cq.message.message_id}))
        for reply in merge_replies(outcome.replies, MessageLimit.MAX_TEXT_LENGTH):
            await send_reply(bot, int(inbound.chat_id), reply)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        uid = update.update_id if isinstance(update, Update) else "-"
        log.error("telegram update %s: %s", uid, context.error, exc_info=context.error)


async def send_reply(bot: Bot, chat_id: int | str, reply: Reply) -> None:
    """Sends a reply as HTML, split at Telegram's 4,096 characters, its options as inline
    buttons under the last part, without link previews. Telegram's errors are raised."""
    parts = split_message(reply.text, MessageLimit.MAX_TEXT_LENGTH)
    last = len(parts) - 1
    for i, part in enumerate(parts):
        await api_call(bot, "sendMessage", {
            "chat_id": chat_id, "text": part, "parse_mode": "HTML",
            "reply_markup": keyboard(reply) if i == last else None,
            "link_preview_options": NO_PREVIEW})


async def _quietly(awaitable: Any) -> None:
    """Best-effort calls whose failure must not stop the replies (edits, callback answers)."""
    try:
        await awaitable
    except BadRequest as exc:
        log.debug("ignored: %s", exc)
    except TelegramError as exc:
        log.warning("telegram call failed: %s", exc)
