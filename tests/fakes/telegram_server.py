"""A fake Telegram Bot API server for end-to-end tests.

The real application talks to this server over real HTTP through python-telegram-bot
(``Bot(fake.token, base_url=fake.base_url)``, or an ``Application`` built with that base URL),
so the whole stack - request encoding, long polling, error mapping - is exercised. Every call
is recorded (``calls``), and ``on_call`` lets a test look at the world at the moment of a
call, or make the server slow.

The fake tries to answer the way Telegram does where that matters for bugs:

* parameters arrive the way PTB sends them: form fields whose non-string values
  are JSON-encoded (``chat_id=42``, ``reply_markup={"inline_keyboard": ...}``),
  while ``text="123"`` stays a string; multipart for uploads; query string and
  JSON bodies also work;
* HTML is validated with the same algorithm as Telegram's parser (tdlib
  ``parse_html``), with the same error texts, and stored as the plain text the
  user would see; text is trimmed and length-checked after parsing;
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard, and an
  edit that changes nothing fails with ``message is not modified``;
* ``getUpdates`` long-polls, confirms by ``offset`` and answers 409 to a
  superseded poll; a callback query can be answered only once.

Deliberately stricter than Telegram: with ``strict_ampersand=True`` (the default)
a bare ``&`` that does not start ``&lt;``/``&gt;``/``&amp;``/``&quot;``/``&#..;`` is
rejected, whereas real Telegram silently keeps it. An unescaped ``&`` means the
text was not escaped, and the next user input containing ``<`` *will* break.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

__all__ = ["ApiError", "FakeTelegram", "HtmlParseError", "UploadedFile", "parse_html"]

# Long polls are capped so that a forgotten poller never holds a test for long.
MAX_POLL_SECONDS = 10.0

# Parameters that are strings in the Bot API: never JSON-decode them, so that
# text="123" or caption="true" arrive as the user typed them.
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "inline_message_id",
        "language_code", "action", "url", "secret_token", "ip_address", "title",
        "description", "short_description", "name", "short_name", "question", "emoji",
        "business_connection_id", "message_effect_id", "file_id", "photo", "document",
        "audio", "video", "voice", "video_note", "animation", "sticker", "thumbnail",
        "address", "foursquare_id", "foursquare_type", "google_place_id",
        "google_place_type", "phone_number", "first_name", "last_name", "vcard",
        "custom_title", "payload", "provider_token", "currency", "start_parameter",
        "invite_link", "next_offset", "switch_pm_text", "switch_pm_parameter",
        "result_id", "query", "command", "custom_emoji_id", "web_app_query_id",
        "shipping_query_id", "pre_checkout_query_id", "error_message", "gift_id",
    }
)
# chat_id may be an int or "@channelusername".
_CHAT_ID_PARAMS = frozenset({"chat_id", "from_chat_id"})
_INT_RE = re.compile(r"-?\d+")

# Update types Telegram leaves out unless they are listed in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class UploadedFile:
    """A file part of a multipart request, as it appears in ``fake.calls``."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class _Pending:
    update: JSON
    redelivered: bool = False
    handed_out: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next((k for k in self.update if k != "update_id"), "")


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str


# --------------------------------------------------------------------------- HTML


class HtmlParseError(ValueError):
    """Telegram's "can't parse entities" reason, e.g. ``Unsupported start tag "br" ...``."""


_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre",
        "span", "tg-spoiler", "blockquote", "tg-emoji",
    }
)
_SIMPLE_ENTITY = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "span": "spoiler", "tg-spoiler": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACE = " \t\r\n\v\f\0"


def _u16(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(text: str, pos: int) -> tuple[str | None, int]:
    """Decode an HTML entity at ``text[pos] == "&"`` the way tdlib does.

    Returns (character, position after it) or (None, pos) when tdlib would keep
    the ``&`` literally. Like tdlib, the ``;`` is optional and only lt/gt/amp/quot
    and numeric references (``&#39;``, ``&#x27;`` - lowercase x) are known.
    """
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
        else:
            while end < n and text[end].isascii() and text[end].isdigit():
                value = value * 10 + int(text[end])
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None, pos
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None, pos
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML into (plain text, entities), or raise HtmlParseError.

    A port of tdlib's ``parse_html`` (the parser behind the Bot API), including its
    error messages and byte offsets; entity offsets are in UTF-16 units.
    """
    n = len(text)

    def at(j: int) -> str:
        return text[j] if j < n else "\0"  # tdlib reads a NUL terminator

    def byte_offset(j: int) -> int:
        return len(text[:j].encode("utf-8"))

    def skip_spaces(j: int) -> int:
        while j < n and text[j] in _SPACE:
            j += 1
        return j

    out: list[str] = []
    u16 = 0
    entities: list[JSON] = []
    # (tag, attributes, utf16 offset, index in `out`)
    stack: list[tuple[str, dict[str, str], int, int]] = []
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            char, end = _decode_entity(text, i)
            if char is not None:
                out.append(char)
                u16 += _u16(char)
                i = end
                continue
            if strict_ampersand:
                raise HtmlParseError(
                    f"Unsupported HTML entity at byte offset {byte_offset(i)} "
                    "(fake Telegram is strict: escape a literal '&' as &amp;)"
                )
        if c != "<":
            out.append(c)
            u16 += _u16(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != "/":
            # A start tag: the name runs up to a space or '>'.
            while at(i) not in _SPACE and at(i) != ">":
                i += 1
            if i >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            tag = text[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise HtmlParseError(
                    f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            attrs: dict[str, str] = {}
            while at(i) != ">":
                i = skip_spaces(i)
                if at(i) == ">":
                    break
                if i >= n:
                    raise HtmlParseError(
                        f"Unclosed start tag at byte offset {byte_offset(begin)}"
                    )
                name_begin = i
                while at(i) not in _SPACE and at(i) not in "=>":
                    i += 1
                attr = text[name_begin:i]
                if not attr:
                    raise HtmlParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset '
                        f"{byte_offset(begin)}"
                    )
                i = skip_spaces(i)
                if at(i) != "=":
                    if tag == "blockquote" and attr == "expandable":
                        attrs[attr] = ""
                        continue
                    raise HtmlParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {byte_offset(begin)}'
                    )
                i = skip_spaces(i + 1)
                if i >= n:
                    raise HtmlParseError(
                        f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                    )
                if text[i] not in "'\"":
                    # A name token: letters, digits, periods, hyphens; case-insensitive.
                    token_begin = i
                    while i < n and text[i].isascii() and (text[i].isalnum() or text[i] in ".-"):
                        i += 1
                    value = text[token_begin:i].lower()
                    if at(i) not in _SPACE and at(i) != ">":
                        raise HtmlParseError(
                            "Unexpected end of name token at byte offset "
                            f"{byte_offset(token_begin)}"
                        )
                else:
                    quote = text[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and text[i] != quote:
                        if text[i] == "&":
                            char, end = _decode_entity(text, i)
                            if char is not None:
                                chars.append(char)
                                i = end
                                continue
                            if strict_ampersand:
                                raise HtmlParseError(
                                    f"Unsupported HTML entity at byte offset {byte_offset(i)} "
                                    "(fake Telegram is strict: escape a literal '&' as &amp;)"
                                )
                        chars.append(text[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise HtmlParseError(
                        f"Unclosed start tag at byte offset {byte_offset(begin)}"
                    )
                attrs[attr] = value
            i += 1  # past '>'
            if tag == "span" and attrs.get("class") != "tg-spoiler":
                raise HtmlParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
                )
            if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
                raise HtmlParseError(
                    f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                    f"{byte_offset(begin)}"
                )
            stack.append((tag, attrs, u16, len(out)))
        else:
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            while at(i) not in _SPACE and at(i) != ">":
                i += 1
            end_name = text[begin + 2 : i]
            i = skip_spaces(i)
            if at(i) != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            i += 1
            tag, attrs, start, out_index = stack.pop()
            # tdlib compares the end tag case-sensitively with the lowercased start tag.
            if end_name and end_name != tag:
                raise HtmlParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            if u16 > start:
                entity = _html_entity(tag, attrs, start, u16 - start, "".join(out[out_index:]))
                if entity is not None:
                    _add_entity(entities, entity)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        entity.pop("_language", None)  # a lone <code class=...> keeps no language
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(
    tag: str, attrs: dict[str, str], offset: int, length: int, inner: str
) -> JSON | None:
    base: JSON = {"offset": offset, "length": length}
    if tag in _SIMPLE_ENTITY:
        return {"type": _SIMPLE_ENTITY[tag], **base}
    if tag == "a":
        url = attrs.get("href") or inner
        if not url or " " in url.strip():
            return None  # tdlib drops links it cannot parse
        return {"type": "text_link", **base, "url": url.strip()}
    if tag == "code":
        lang = attrs.get("class", "")
        entity: JSON = {"type": "code", **base}
        if lang.startswith("language-"):
            entity["_language"] = lang[len("language-") :]
        return entity
    if tag == "pre":
        return {"type": "pre", **base}
    if tag == "blockquote":
        kind = "expandable_blockquote" if "expandable" in attrs else "blockquote"
        return {"type": kind, **base}
    if tag == "tg-emoji":
        return {"type": "custom_emoji", **base, "custom_emoji_id": attrs["emoji-id"]}
    return None


def _add_entity(entities: list[JSON], entity: JSON) -> None:
    """Append an entity; ``<pre><code class="language-x">`` (either nesting) becomes
    one pre entity with a language, like tdlib. Code entities carry their language
    in "_language" until then."""
    language = entity.pop("_language", None)
    if entities:
        last = entities[-1]
        same = last["offset"] == entity["offset"] and last["length"] == entity["length"]
        if same and entity["type"] == "pre" and last["type"] == "code" and last.get("_language"):
            last["type"] = "pre"
            last["language"] = last.pop("_language")
            return
        if same and entity["type"] == "code" and last["type"] == "pre" and language:
            last["language"] = language
            return
    if language:
        entity["_language"] = language
    entities.append(entity)


def _trim(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Telegram strips leading/trailing whitespace and moves the entities along."""
    stripped = text.strip(" \t\r\n\v\f")
    if stripped == text:
        return text, entities
    lead = _u16(text[: len(text) - len(text.lstrip(" \t\r\n\v\f"))])
    total = _u16(stripped)
    kept: list[JSON] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


# --------------------------------------------------------------------------- params


def _decode_param(name: str, value: Any) -> Any:
    """Turn one transport-level value back into what the caller meant.

    PTB sends strings as they are and everything else JSON-encoded, so a form
    field cannot tell "123" from 123: the parameter name decides.
    """
    if isinstance(value, UploadedFile):
        return value
    if name in _STRING_PARAMS:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # Telegram coerces numbers sent in JSON bodies
        return value
    if name in _CHAT_ID_PARAMS:
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return int(value)
        return value
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    if isinstance(decoded, dict | list | bool | int | float):
        return decoded
    return value


# --------------------------------------------------------------------------- server


class FakeTelegram:
    """An in-process Bot API server; see the module docstring.

    Use as ``async with FakeTelegram() as fake:`` or ``await fake.start()`` /
    ``await fake.close()``. Every API call is appended to ``fake.calls``.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "sangkien_test_bot",
        bot_first_name: str = "Sáng kiến (test)",
        strict_ampersand: bool = True,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.strict_ampersand = strict_ampersand
        bot_id = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

        self.calls: list[tuple[str, JSON]] = []
        self.callback_answers: list[JSON] = []
        # Update ids in the order getUpdates handed them out (a redelivery appears again).
        self.deliveries: list[int] = []
        # Exceptions raised inside the fake (answered as HTTP 500); should stay empty.
        self.server_errors: list[tuple[str, Exception]] = []

        self._users: dict[int, JSON] = {}
        self._blocked: set[int] = set()
        self._next_message_id: dict[int, int] = {}
        self._bot_messages: dict[int, dict[int, JSON]] = {}
        self._user_messages: dict[int, dict[int, JSON]] = {}
        self._deleted_user_messages: set[tuple[int, int]] = set()
        self._open_callbacks: dict[str, JSON] = {}
        self._commands: dict[tuple[str, Any, Any, str], list[JSON]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, _StoredFile] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._observers: dict[str, list[Callable[[JSON], Any]]] = {}
        self._webhook: JSON = {}

        self._queue: list[_Pending] = []
        self._history: dict[int, JSON] = {}
        self._update_ids = itertools.count(10_001)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._allowed_updates: list[str] | None = None
        self._poll_seq = 0

        self._inflight = 0
        self._last_activity = 0.0
        self._wakeup = asyncio.Event()  # long polls: new update, newer poll, or close
        self._changed = asyncio.Event()  # test-side waiters: anything happened
        self._closing = False

        self._runner: web.AppRunner | None = None
        self._port: int | None = None

        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getMe": self._api_get_me,
            "getUpdates": self._api_get_updates,
            "setWebhook": self._api_set_webhook,
            "deleteWebhook": self._api_delete_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "setMyCommands": self._api_set_my_commands,
            "getMyCommands": self._api_get_my_commands,
            "deleteMyCommands": self._api_delete_my_commands,
            "sendMessage": self._api_send_message,
            "editMessageText": self._api_edit_message_text,
            "editMessageReplyMarkup": self._api_edit_message_reply_markup,
            "editMessageCaption": self._api_edit_message_caption,
            "answerCallbackQuery": self._api_answer_callback_query,
            "sendChatAction": self._api_send_chat_action,
            "deleteMessage": self._api_delete_message,
            "deleteMessages": self._api_delete_messages,
            "sendPhoto": self._api_send_photo,
            "sendDocument": self._api_send_document,
            "getFile": self._api_get_file,
            "getChat": self._api_get_chat,
            "logOut": lambda p: True,
            "close": lambda p: True,
        }
        # Settings the fake only records.
        for name in (
            "setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton",
            "setMyDefaultAdministratorRights", "setMessageReaction", "pinChatMessage",
            "unpinChatMessage", "unpinAllChatMessages",
        ):
            self._methods[name] = lambda p: True
        # Telegram matches method names case-insensitively.
        self._by_lower = {name.lower(): name for name in self._methods}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram already started")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for verb in ("GET", "POST"):
            app.router.add_route(verb, "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client went away must not linger.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False

    async def close(self) -> None:
        """Stop the server; pending long polls are answered with [] first."""
        if self._runner is None:
            return
        self._closing = True
        self._wake_pollers()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Pass to ``Bot(base_url=...)``; PTB appends ``<token>/<method>``."""
        return f"{self._root()}/bot"

    @property
    def base_file_url(self) -> str:
        """Pass to ``Bot(base_file_url=...)`` so ``File.download_*`` hits the fake."""
        return f"{self._root()}/file/bot"

    def _root(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeTelegram not started")
        return f"http://127.0.0.1:{self._port}"

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return _error_response(exc)
        name = self._by_lower.get(method.lower())
        self.calls.append((name or method, params))
        self._touch()
        if name is None:
            return _error_response(ApiError(404, "Not Found: method not found"))

        polling = name == "getUpdates"
        if not polling:
            self._inflight += 1
        try:
            for observer in self._observers.get(name, ()):
                seen = observer(params)
                if inspect.isawaitable(seen):
                    await seen
            self._raise_injected(name)
            result = self._methods[name](params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            return _error_response(exc)
        except Exception as exc:  # a bug in the fake or a param it cannot digest
            self.server_errors.append((name, exc))
            return _error_response(
                ApiError(500, f"Internal Server Error: fake Telegram failed on {name}: {exc!r}")
            )
        finally:
            if not polling:
                self._inflight -= 1
                self._last_activity = _now()
                self._touch()
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> JSON:
        raw: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise ApiError(400, "Bad Request: can't parse JSON object") from exc
                if isinstance(body, dict):
                    raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        raw[key] = UploadedFile(
                            value.filename, value.content_type, value.file.read()
                        )
                    else:
                        raw[key] = value
        return {key: _decode_param(key, value) for key, value in raw.items()}

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        stored = self._file_paths.get(request.match_info["path"])
        if stored is None:
            return _error_response(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _raise_injected(self, name: str) -> None:
        pending = self._failures.get(name.lower())
        if not pending:
            return
        failure = pending.popleft()
        params = None
        if failure.error_code == 429 and failure.retry_after is not None:
            params = {"retry_after": failure.retry_after}
        raise ApiError(failure.error_code, failure.description, params)

    # ------------------------------------------------------------------ test-side API

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Test",
        language_code: str | None = "vi",
        username: str | None = None,
        last_name: str | None = None,
    ) -> JSON:
        """Register a user; their private chat has the same id. Returns the User dict."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        self._next_message_id.setdefault(user_id, 0)
        self._bot_messages.setdefault(user_id, {})
        self._user_messages.setdefault(user_id, {})
        return dict(user)

    def block_user(self, chat_id: int) -> None:
        """The user blocked the bot: sends to this chat answer 403."""
        self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        """The user unblocked the bot: sends reach the chat again."""
        self._blocked.discard(chat_id)

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str = "Too Many Requests: retry after 1",
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with this error.

        ``retry_after`` is sent (as ``parameters.retry_after``) only with 429,
        because PTB raises RetryAfter for *any* status carrying it.
        """
        queue = self._failures.setdefault(method.lower(), deque())
        for _ in range(times):
            queue.append(_Failure(error_code, description, retry_after))

    def on_call(self, method: str, observer: Callable[[JSON], Any]) -> None:
        """Call ``observer(params)`` (and await it, if it returns an awaitable) whenever
        ``method`` is called, before it is answered: a slow server, or a look at the world
        at the moment of the call."""
        name = self._by_lower.get(method.lower(), method)
        self._observers.setdefault(name, []).append(observer)

    def push_text(self, user_id: int, text: str) -> int:
        """The user sends ``text``; a leading /command gets a bot_command entity."""
        message = self._user_message(user_id, text=text)
        match = _BOT_COMMAND_RE.match(text)
        if match:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _u16(match.group(0))}
            ]
        return self._push({"message": message})

    def push_callback(self, user_id: int, message_id: int, data: str) -> int:
        """The user presses a button with ``data`` under the bot message ``message_id``."""
        user = self._ensure_user(user_id)
        record = self._bot_messages.get(user_id, {}).get(message_id)
        if record is None or record["deleted"]:
            raise ValueError(f"no bot message {message_id} in chat {user_id} to press a button on")
        query_id = str(4_000_000_000_000_000 + next(self._callback_ids))
        self._open_callbacks[query_id] = {
            "user_id": user_id, "message_id": message_id, "data": data,
        }
        return self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": dict(user),
                    "message": self._message_json(user_id, record),
                    "chat_instance": str(-(10**18) - user_id),
                    "data": data,
                }
            }
        )

    def push_sticker(self, user_id: int, *, emoji: str = "👍") -> int:
        file = self._new_file(b"RIFF-fake-webp", "stickers", "webp")
        sticker = {
            "file_id": file.file_id, "file_unique_id": file.file_unique_id, "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False,
            "emoji": emoji, "file_size": len(file.data),
        }
        return self._push({"message": self._user_message(user_id, sticker=sticker)})

    def push_photo(
        self, user_id: int, caption: str | None = None, *, content: bytes | None = None
    ) -> int:
        data = content if content is not None else b"\x89PNG\r\n\x1a\nfake-photo"
        extra: JSON = {"photo": self._photo_sizes(self._new_file(data, "photos", "jpg"))}
        if caption is not None:
            extra["caption"] = caption
        return self._push({"message": self._user_message(user_id, **extra)})

    def push_voice(
        self, user_id: int, *, duration: int = 3, content: bytes | None = None
    ) -> int:
        file = self._new_file(content if content is not None else b"OggS-fake", "voice", "oga")
        voice = {
            "file_id": file.file_id, "file_unique_id": file.file_unique_id,
            "duration": duration, "mime_type": "audio/ogg", "file_size": len(file.data),
        }
        return self._push({"message": self._user_message(user_id, voice=voice)})

    def push_location(self, user_id: int, lat: float, lon: float) -> int:
        location = {"latitude": lat, "longitude": lon}
        return self._push({"message": self._user_message(user_id, location=location)})

    def push_document(
        self,
        user_id: int,
        *,
        file_name: str = "tai-lieu.pdf",
        mime_type: str = "application/pdf",
        content: bytes | None = None,
        caption: str | None = None,
    ) -> int:
        file = self._new_file(content if content is not None else b"%PDF-1.4 fake", "documents",
                              file_name.rsplit(".", 1)[-1] if "." in file_name else "bin")
        document = {
            "file_id": file.file_id, "file_unique_id": file.file_unique_id,
            "file_name": file_name, "mime_type": mime_type, "file_size": len(file.data),
        }
        extra: JSON = {"document": document}
        if caption is not None:
            extra["caption"] = caption
        return self._push({"message": self._user_message(user_id, **extra)})

    def push_raw(self, update: JSON) -> int:
        """Queue an arbitrary update; ``update_id`` is assigned when missing."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        return self._enqueue(update)

    def redeliver(self, update_id: int) -> None:
        """Deliver an update again with the same id, as Telegram may after a crash."""
        if update_id not in self._history:
            raise KeyError(f"update {update_id} was never pushed")
        self._queue.append(_Pending(copy.deepcopy(self._history[update_id]), redelivered=True))
        self._queue.sort(key=lambda p: p.update_id)  # stable: original before the copy
        self._last_activity = _now()
        self._wake_pollers(conflict=False)
        self._touch()

    def take(self, update_id: int) -> JSON:
        """The pushed update, taken off the getUpdates queue: what Telegram POSTs to a
        webhook instead (a test delivers it to the route)."""
        [pending] = [p for p in self._queue if p.update_id == update_id]
        self._queue.remove(pending)
        self._touch()
        return copy.deepcopy(pending.update)

    def messages(self, chat_id: int) -> list[JSON]:
        """What the bot sent to the chat, in order, as it looks now (after edits).

        Each: message_id, text (plain, as the user sees it; the caption for media),
        html (the raw text/caption as sent), parse_mode, entities, reply_markup,
        deleted, edited, kind ("text", "photo", "document"), file_id, date, reply_to
        (the message_id replied to, or None).
        """
        return [self._public(rec) for rec in self._bot_messages.get(chat_id, {}).values()]

    def commands(
        self,
        language_code: str | None = None,
        scope_type: str = "default",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[JSON]:
        """The commands set with setMyCommands for exactly this scope and language."""
        key = (scope_type, chat_id, user_id, language_code or "")
        return copy.deepcopy(self._commands.get(key, []))

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by an ``offset``."""
        return [copy.deepcopy(p.update) for p in self._queue]

    @property
    def webhook(self) -> JSON:
        return dict(self._webhook)

    async def wait_for_messages(
        self, chat_id: int, n: int, timeout: float = 15.0  # noqa: ASYNC109
    ) -> list[JSON]:
        """Wait until the bot has sent at least ``n`` messages to the chat."""

        def check() -> list[JSON] | None:
            found = self.messages(chat_id)
            return found if len(found) >= n else None

        return await self._wait_until(
            check,
            timeout,
            lambda: f"expected >= {n} bot messages in chat {chat_id} within {timeout}s, "
            f"saw {len(self.messages(chat_id))}: {self.messages(chat_id)!r}",
        )

    async def wait_for_text(
        self, chat_id: int, fragment: str, timeout: float = 15.0  # noqa: ASYNC109
    ) -> JSON:
        """Wait until the bot has sent the chat a message containing ``fragment``."""

        def check() -> JSON | None:
            return next((m for m in self.messages(chat_id) if fragment in m.get("text", "")),
                        None)

        return await self._wait_until(
            check,
            timeout,
            lambda: f"{fragment!r} never reached chat {chat_id} within {timeout}s: "
            f"{[m.get('text') for m in self.messages(chat_id)]!r}",
        )

    async def wait_for_count(
        self, chat_id: int, fragment: str, n: int, timeout: float = 15.0  # noqa: ASYNC109
    ) -> int:
        """Wait until at least ``n`` messages to the chat contain ``fragment``."""

        def check() -> int | None:
            found = sum(fragment in m.get("text", "") for m in self.messages(chat_id))
            return found if found >= n else None

        return await self._wait_until(
            check, timeout,
            lambda: f"fewer than {n} messages with {fragment!r} in chat {chat_id} within "
                    f"{timeout}s")

    async def wait_delivered(self, update_id: int, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Wait until getUpdates has handed out the update ``update_id``."""
        await self._wait_until(
            lambda: True if update_id in self.deliveries else None,
            timeout,
            lambda: f"update {update_id} not handed out within {timeout}s",
        )

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> JSON:
        """Return the params of the first call of ``method`` (from ``calls[since:]``)
        matching ``predicate``; waits for it if it has not happened yet."""
        wanted = method.lower()

        def check() -> JSON | None:
            for name, params in self.calls[since:]:
                if name.lower() == wanted and (predicate is None or predicate(params)):
                    return params
            return None

        return await self._wait_until(
            check,
            timeout,
            lambda: f"no matching {method} call within {timeout}s; calls: "
            f"{[c for c in self.calls if c[0] != 'getUpdates']!r}",
        )

    async def wait_idle(
        self, timeout: float = 15.0, *, quiet: float = 0.05  # noqa: ASYNC109
    ) -> None:
        """Wait until every pushed update is confirmed and no API call ran for ``quiet`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = _now()
            if not self._queue and self._inflight == 0 and now - self._last_activity >= quiet:
                return
            if loop.time() >= deadline:
                raise AssertionError(
                    f"fake Telegram not idle after {timeout}s: "
                    f"{len(self._queue)} unconfirmed updates, {self._inflight} calls in flight; "
                    f"pending={self.pending_updates!r}"
                )
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ internals

    async def _wait_until(
        self,
        check: Callable[[], Any],
        timeout: float,  # noqa: ASYNC109
        describe: Callable[[], str],
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed  # grab before checking so no change is missed
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(describe())
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _wake_pollers(self, *, conflict: bool = False) -> None:
        if conflict:
            self._poll_seq += 1
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _ensure_user(self, user_id: int) -> JSON:
        if user_id not in self._users:
            self.add_user(user_id)
        return self._users[user_id]

    def _chat_json(self, chat_id: int) -> JSON:
        user = self._users[chat_id]
        chat: JSON = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        return chat

    def _new_message_id(self, chat_id: int) -> int:
        # One counter per chat for both sides, like a real private chat.
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _user_message(self, user_id: int, **content: Any) -> JSON:
        user = self._ensure_user(user_id)
        message: JSON = {
            "message_id": self._new_message_id(user_id),
            "from": dict(user),
            "chat": self._chat_json(user_id),
            "date": int(time.time()),
            **content,
        }
        self._user_messages[user_id][message["message_id"]] = message
        return message

    def _push(self, content: JSON) -> int:
        return self._enqueue({"update_id": next(self._update_ids), **content})

    def _enqueue(self, update: JSON) -> int:
        update_id = int(update["update_id"])
        self._history[update_id] = copy.deepcopy(update)
        self._queue.append(_Pending(update))
        self._queue.sort(key=lambda p: p.update_id)
        self._last_activity = _now()
        self._wake_pollers()
        self._touch()
        return update_id

    def _new_file(self, data: bytes, folder: str, ext: str) -> _StoredFile:
        n = next(self._file_ids)
        stored = _StoredFile(
            file_id=f"FAKE{folder[:3].upper()}{n:06d}AgAD",
            file_unique_id=f"AQAD{n:06d}",
            data=data,
            file_path=f"{folder}/file_{n}.{ext}",
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored
        return stored

    @staticmethod
    def _photo_sizes(file: _StoredFile) -> list[JSON]:
        # Telegram sends several sizes; the last one is the biggest.
        return [
            {"file_id": file.file_id + "s", "file_unique_id": file.file_unique_id + "s",
             "width": 90, "height": 60, "file_size": max(len(file.data) // 10, 1)},
            {"file_id": file.file_id, "file_unique_id": file.file_unique_id,
             "width": 1280, "height": 853, "file_size": len(file.data)},
        ]

    # ------------------------------------------------------------------ stored messages

    def _public(self, rec: JSON) -> JSON:
        keys = ("message_id", "text", "html", "parse_mode", "entities", "reply_markup",
                "deleted", "edited", "kind", "file_id", "date", "reply_to")
        return {key: copy.deepcopy(rec.get(key)) for key in keys}

    def _message_json(self, chat_id: int, rec: JSON, *, with_reply: bool = True) -> JSON:
        message: JSON = {
            "message_id": rec["message_id"],
            "from": dict(self.bot_user),
            "chat": self._chat_json(chat_id),
            "date": rec["date"],
        }
        if rec.get("edit_date"):
            message["edit_date"] = rec["edit_date"]
        if rec["kind"] == "text":
            message["text"] = rec["text"]
            if rec["entities"]:
                message["entities"] = copy.deepcopy(rec["entities"])
        else:
            message[rec["kind"]] = copy.deepcopy(rec["media"])
            if rec["text"]:
                message["caption"] = rec["text"]
                if rec["entities"]:
                    message["caption_entities"] = copy.deepcopy(rec["entities"])
        markup = rec.get("reply_markup")
        # Message.reply_markup only ever carries an inline keyboard.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = copy.deepcopy(markup)
        reply_to = rec.get("reply_to")
        if with_reply and reply_to is not None:
            target = self._any_message_json(chat_id, reply_to)
            if target is not None:
                message["reply_to_message"] = target
        return message

    def _any_message_json(self, chat_id: int, message_id: int) -> JSON | None:
        rec = self._bot_messages.get(chat_id, {}).get(message_id)
        if rec is not None and not rec["deleted"]:
            return self._message_json(chat_id, rec, with_reply=False)
        user_msg = self._user_messages.get(chat_id, {}).get(message_id)
        if user_msg is not None and (chat_id, message_id) not in self._deleted_user_messages:
            return copy.deepcopy(user_msg)
        return None

    def _store(self, chat_id: int, **fields: Any) -> JSON:
        rec: JSON = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "deleted": False,
            "edited": False,
            "edit_date": None,
            "media": None,
            "file_id": None,
            "reply_to": None,
            **fields,
        }
        self._bot_messages.setdefault(chat_id, {})[rec["message_id"]] = rec
        return rec

    # ------------------------------------------------------------------ validation

    def _require_chat(self, params: JSON) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) or chat_id not in self._users:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _check_blocked(self, chat_id: int) -> None:
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _formatted(
        self,
        params: JSON,
        field: str,
        entities_field: str,
        *,
        limit: int,
        empty_error: str | None,
        long_error: str,
    ) -> tuple[str, list[JSON], str, str | None]:
        """Parse text/caption like Telegram: returns (plain, entities, raw, parse_mode)."""
        raw = params.get(field)
        raw = "" if raw is None else str(raw)
        parse_mode = params.get("parse_mode") or None
        if parse_mode is None:
            given = params.get(entities_field)
            entities = copy.deepcopy(given) if isinstance(given, list) else []
            plain = raw
        elif str(parse_mode).lower() == "html":
            try:
                plain, entities = parse_html(raw, strict_ampersand=self.strict_ampersand)
            except HtmlParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        elif str(parse_mode).lower() in ("markdown", "markdownv2"):
            plain, entities = raw, []  # not parsed by the fake
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        plain, entities = _trim(plain, entities)
        if not plain and empty_error:
            raise ApiError(400, empty_error)
        if len(plain) > limit:
            raise ApiError(400, long_error)
        return plain, entities, raw, parse_mode

    @staticmethod
    def _check_markup(markup: Any) -> JSON | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise ApiError(
                    400,
                    'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup '
                    "must be an Array of Arrays",
                )
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or "text" not in button:
                        raise ApiError(400, 'Bad Request: can\'t find field "text"')
                    if not any(action in button for action in _BUTTON_ACTIONS):
                        raise ApiError(
                            400, "Bad Request: text buttons are unallowed in the inline keyboard"
                        )
                    if "callback_data" in button:
                        data = button["callback_data"]
                        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _reply_target(self, chat_id: int, params: JSON) -> int | None:
        reply = params.get("reply_parameters")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        message_id: Any = None
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
        if message_id is None:
            return None
        if self._any_message_json(chat_id, int(message_id)) is None:
            if allow_missing:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return int(message_id)

    def _find_bot_message(self, params: JSON, action: str) -> tuple[int, JSON]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")  # no inline mode here
        chat_id = self._require_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        rec = self._bot_messages.get(chat_id, {}).get(message_id)
        if rec is None or rec["deleted"]:
            if action == "edit" and message_id in self._user_messages.get(chat_id, {}):
                raise ApiError(400, "Bad Request: message can't be edited")
            raise ApiError(400, f"Bad Request: message to {action} not found")
        return chat_id, rec

    def _input_file(self, params: JSON, field: str, folder: str) -> _StoredFile:
        value = params.get(field)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        if isinstance(value, UploadedFile):
            ext = (value.filename or "file.bin").rsplit(".", 1)[-1]
            return self._new_file(value.data, folder, ext)
        value = str(value)
        if value in self._files:
            return self._files[value]
        if value.startswith(("http://", "https://")):
            return self._new_file(b"", folder, "bin")  # Telegram would download it
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # ------------------------------------------------------------------ API methods

    def _api_get_me(self, params: JSON) -> JSON:
        return dict(self.bot_user)

    async def _api_get_updates(self, params: JSON) -> list[JSON]:
        if self._webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = params.get("limit", 100)
        limit = min(max(int(limit), 1), 100) if isinstance(limit, int | float) else 100
        timeout = params.get("timeout", 0)
        timeout = min(max(float(timeout), 0.0), MAX_POLL_SECONDS) if isinstance(
            timeout, int | float) else 0.0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed] or None

        if isinstance(offset, int) and not isinstance(offset, bool):
            self._confirm(offset)
        # A newer getUpdates terminates an older one still waiting, like Telegram.
        self._wake_pollers(conflict=True)
        my_seq = self._poll_seq

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            wakeup = self._wakeup
            if self._closing:
                return []
            if my_seq != self._poll_seq:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                for pending in batch:
                    pending.handed_out = True
                if batch:
                    self.deliveries += [p.update_id for p in batch]
                    self._touch()
                return [copy.deepcopy(p.update) for p in batch]
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                pass

    def _confirm(self, offset: int) -> None:
        before = len(self._queue)
        if offset < 0:
            # Negative offset: keep only the last -offset updates.
            self._queue = self._queue[offset:]
        else:
            self._queue = [
                p for p in self._queue
                if p.update_id >= offset or (p.redelivered and not p.handed_out)
            ]
        if len(self._queue) != before:
            self._last_activity = _now()
            self._touch()

    def _deliverable(self, limit: int) -> list[_Pending]:
        allowed = self._allowed_updates
        kept: list[_Pending] = []
        for pending in self._queue:
            wanted = pending.kind in allowed if allowed else pending.kind not in _OPT_IN_UPDATES
            if wanted:
                kept.append(pending)
        if len(kept) != len(self._queue):
            # Telegram never generates updates of types the bot did not ask for.
            self._queue = kept
            self._touch()
        return kept[:limit]

    def _api_set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if params.get("drop_pending_updates"):
            self._queue.clear()
        if not url:
            self._webhook = {}
            return True
        self._webhook = {
            "url": url,
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": params.get("allowed_updates"),
            "secret_token": params.get("secret_token"),
        }
        return True

    def _api_delete_webhook(self, params: JSON) -> bool:
        self._webhook = {}
        if params.get("drop_pending_updates"):
            self._queue.clear()
            self._touch()
        return True

    def _api_get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self._webhook.get("url"):
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook.get("allowed_updates"):
                info["allowed_updates"] = self._webhook["allowed_updates"]
        return info

    @staticmethod
    def _scope_key(params: JSON) -> tuple[str, Any, Any, str]:
        scope = params.get("scope")
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return (
            str(scope.get("type", "default")),
            scope.get("chat_id"),
            scope.get("user_id"),
            str(params.get("language_code") or ""),
        )

    def _api_set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 commands")
        cleaned: list[JSON] = []
        for command in commands:
            if not isinstance(command, dict):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not _COMMAND_RE.fullmatch(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        self._commands[self._scope_key(params)] = cleaned
        return True

    def _api_get_my_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._scope_key(params), []))

    def _api_delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._scope_key(params), None)
        return True

    def _api_send_message(self, params: JSON) -> JSON:
        chat_id = self._require_chat(params)
        plain, entities, raw, parse_mode = self._formatted(
            params, "text", "entities", limit=4096,
            empty_error="Bad Request: message text is empty",
            long_error="Bad Request: message is too long",
        )
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        self._check_blocked(chat_id)
        rec = self._store(
            chat_id, kind="text", text=plain, html=raw, parse_mode=parse_mode,
            entities=entities, reply_markup=markup, reply_to=reply_to,
        )
        return self._message_json(chat_id, rec)

    def _send_media(self, params: JSON, kind: str, folder: str) -> JSON:
        chat_id = self._require_chat(params)
        stored = self._input_file(params, kind, folder)
        plain, entities, raw, parse_mode = self._formatted(
            params, "caption", "caption_entities", limit=1024, empty_error=None,
            long_error="Bad Request: message caption is too long",
        )
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        self._check_blocked(chat_id)
        if kind == "photo":
            media: Any = self._photo_sizes(stored)
        else:
            upload = params.get(kind)
            file_name = upload.filename if isinstance(upload, UploadedFile) else None
            media = {
                "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
            }
            if file_name:
                media["file_name"] = file_name
            if isinstance(upload, UploadedFile) and upload.content_type:
                media["mime_type"] = upload.content_type
        rec = self._store(
            chat_id, kind=kind, text=plain, html=raw, parse_mode=parse_mode, entities=entities,
            reply_markup=markup, reply_to=reply_to, media=media, file_id=stored.file_id,
        )
        return self._message_json(chat_id, rec)

    def _api_send_photo(self, params: JSON) -> JSON:
        return self._send_media(params, "photo", "photos")

    def _api_send_document(self, params: JSON) -> JSON:
        return self._send_media(params, "document", "documents")

    def _edited(self, chat_id: int, rec: JSON, **changes: Any) -> JSON:
        if all(rec.get(key) == value for key, value in changes.items()):
            raise ApiError(400, NOT_MODIFIED)
        rec.update(changes)
        rec["edited"] = True
        rec["edit_date"] = int(time.time())
        return self._message_json(chat_id, rec)

    def _api_edit_message_text(self, params: JSON) -> JSON:
        chat_id, rec = self._find_bot_message(params, "edit")
        if rec["kind"] != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        plain, entities, raw, parse_mode = self._formatted(
            params, "text", "entities", limit=4096,
            empty_error="Bad Request: message text is empty",
            long_error="Bad Request: message is too long",
        )
        # No reply_markup in an edit removes the inline keyboard, as on Telegram.
        markup = self._check_markup(params.get("reply_markup"))
        result = self._edited(chat_id, rec, text=plain, entities=entities, reply_markup=markup)
        rec.update(html=raw, parse_mode=parse_mode)
        return result

    def _api_edit_message_caption(self, params: JSON) -> JSON:
        chat_id, rec = self._find_bot_message(params, "edit")
        if rec["kind"] == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        plain, entities, raw, parse_mode = self._formatted(
            params, "caption", "caption_entities", limit=1024, empty_error=None,
            long_error="Bad Request: message caption is too long",
        )
        markup = self._check_markup(params.get("reply_markup"))
        result = self._edited(chat_id, rec, text=plain, entities=entities, reply_markup=markup)
        rec.update(html=raw, parse_mode=parse_mode)
        return result

    def _api_edit_message_reply_markup(self, params: JSON) -> JSON:
        chat_id, rec = self._find_bot_message(params, "edit")
        markup = self._check_markup(params.get("reply_markup"))
        return self._edited(chat_id, rec, reply_markup=markup)

    def _api_answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        query = self._open_callbacks.pop(query_id, None)
        if query is None:  # unknown, or already answered
            raise ApiError(400, QUERY_INVALID)
        self.callback_answers.append(
            {
                "callback_query_id": query_id,
                "text": params.get("text"),
                "show_alert": bool(params.get("show_alert", False)),
                "url": params.get("url"),
                "cache_time": params.get("cache_time"),
                "user_id": query["user_id"],
                "message_id": query["message_id"],
                "data": query["data"],
            }
        )
        return True

    def _api_send_chat_action(self, params: JSON) -> bool:
        chat_id = self._require_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._check_blocked(chat_id)
        return True

    def _api_delete_message(self, params: JSON) -> bool:
        chat_id = self._require_chat(params)
        message_id = params.get("message_id")
        if not self._delete_one(chat_id, message_id):
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _api_delete_messages(self, params: JSON) -> bool:
        chat_id = self._require_chat(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        for message_id in ids:
            self._delete_one(chat_id, message_id)
        return True

    def _delete_one(self, chat_id: int, message_id: Any) -> bool:
        rec = self._bot_messages.get(chat_id, {}).get(message_id)
        if rec is not None and not rec["deleted"]:
            rec["deleted"] = True
            return True
        key = (chat_id, message_id)
        if message_id in self._user_messages.get(chat_id, {}) and key not in (
            self._deleted_user_messages
        ):
            self._deleted_user_messages.add(key)
            return True
        return False

    def _api_get_file(self, params: JSON) -> JSON:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _api_get_chat(self, params: JSON) -> JSON:
        chat_id = self._require_chat(params)
        return {
            **self._chat_json(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                "premium_subscription": False, "gifts_from_channels": False,
            },
        }


def _error_response(error: ApiError) -> web.Response:
    return web.json_response(error.payload(), status=error.error_code)


def _now() -> float:
    return time.monotonic()
