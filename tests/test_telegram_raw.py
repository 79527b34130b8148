"""Raw Bot API calls (`handlers.telegram.api_call`) send what PTB's Bot methods would send,
and raw update dicts read as PTB's `Update` objects would.

Offline: a recording `BaseRequest` answers every call, so no server is needed.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.request import BaseRequest, RequestData

from bot.events import Inbound, Option, Outcome, Reply
from bot.formatting import html_to_plain, split_html
from handlers.telegram import TelegramChannel, TokenRejected, api_call, keyboard, to_inbound
from tests.fakes.telegram_server import FakeTelegram

CHAT = 7
OPTIONS = (Option("Một", "m.0"), Option("Hai & <b>", "a:x:12"))


class Recorder(BaseRequest):
    """Answers like Telegram; `fail` maps an endpoint to an error answer (code, description)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, tuple[int, str]] = {}

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *_args: Any, **_kwargs: Any) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        # What goes on the wire, JSON values decoded: compared by meaning, not key order.
        params = {k: json.loads(v) if v[:1] in "{[" else v
                  for k, v in (request_data.json_parameters if request_data else {}).items()}
        if endpoint != "getMe":
            self.calls.append((endpoint, params))
        if endpoint in self.fail:
            code, description = self.fail[endpoint]
            return code, json.dumps({"ok": False, "error_code": code,
                                     "description": description}).encode()
        result: Any = True
        if endpoint == "getMe":
            result = {"id": 1, "is_bot": True, "first_name": "B", "username": "b_bot"}
        elif endpoint in ("sendMessage", "editMessageReplyMarkup"):
            result = {"message_id": 5, "date": 0, "chat": {"id": CHAT, "type": "private"},
                      "text": params.get("text", "…")}
        return 200, json.dumps({"ok": True, "result": result}).encode()


class NoCore:
    """No core behind these sends: nothing kept, nothing to forget once sent."""

    def sent(self, outcome: Outcome) -> None:
        pass


@pytest.fixture
async def channel() -> Any:
    ch = TelegramChannel(NoCore(), token="123:ABC", request=Recorder())  # type: ignore[arg-type]
    await ch.bot.initialize()
    yield ch
    await ch.bot.shutdown()


def recorder(ch: TelegramChannel) -> Recorder:
    request = ch.bot.request
    assert isinstance(request, Recorder)
    return request


def press() -> dict[str, Any]:
    return {"update_id": 1, "callback_query": {
        "id": "cq1", "from": {"id": CHAT, "is_bot": False, "first_name": "U"},
        "chat_instance": "c", "data": "m.0",
        "message": {"message_id": 3, "date": 0, "chat": {"id": CHAT, "type": "private"},
                    "text": "t"}}}


INBOUND = Inbound("telegram", "1", str(CHAT), str(CHAT), "choice", text="m.0")


def ptb_reading(update: Update) -> Inbound | None:
    """The reference: how the channel read PTB's `Update` objects before it read dicts (and
    what a pressed button needs to be answered later, `ref`)."""
    uid = str(update.update_id)
    if (cq := update.callback_query) is not None:
        chat = cq.message.chat.id if cq.message else cq.from_user.id
        return Inbound("telegram", uid, str(cq.from_user.id), str(chat), "choice",
                       text=cq.data or "", display_name=cq.from_user.full_name,
                       language_code=cq.from_user.language_code,
                       ref=f"{cq.id}|{chat}|{cq.message.message_id if cq.message else ''}")
    msg = update.message
    if msg is None or msg.chat.type != "private" or msg.from_user is None:
        return None
    user, chat = msg.from_user, str(msg.chat.id)
    common: dict[str, Any] = {"display_name": user.full_name,
                              "language_code": user.language_code}
    if msg.photo:
        return Inbound("telegram", uid, str(user.id), chat, "file", text=msg.caption or "",
                       attachment_kind="photo", attachment_id=msg.photo[-1].file_id, **common)
    if msg.document is not None:
        return Inbound("telegram", uid, str(user.id), chat, "file",
                       text=msg.document.file_name or msg.caption or "",
                       attachment_kind="document", attachment_id=msg.document.file_id, **common)
    if msg.text is None:
        return Inbound("telegram", uid, str(user.id), chat, "unsupported", **common)
    if msg.text.startswith("/") and len(msg.text) > 1:
        head, _sep, args = msg.text[1:].partition(" ")
        return Inbound("telegram", uid, str(user.id), chat, "command",
                       text=head.split("@", 1)[0].lower(), args=args.strip(), **common)
    return Inbound("telegram", uid, str(user.id), chat, "text", text=msg.text, **common)


def test_updates_read_as_ptbs_objects_would() -> None:
    fake = FakeTelegram()
    fake.add_user(CHAT, first_name="Lan", last_name="Nguyễn Thị", language_code="en")
    fake.add_user(8, first_name="Minh", language_code=None)
    for user in (CHAT, 8):
        for body in ("xin chào", "/Start@sangkien_test_bot  MOI-ABC 1", "/", "/huy", "123"):
            fake.push_text(user, body)
        fake.push_photo(user, caption="ảnh")
        fake.push_photo(user)
        fake.push_document(user, file_name="de-xuat.docx", caption="c")
        fake.push_sticker(user)
        fake.push_voice(user)
        fake.push_location(user, 10.7, 106.7)
    sender = {"id": CHAT, "is_bot": False, "first_name": "Lan", "last_name": "Nguyễn Thị"}
    in_chat = {"message_id": 3, "date": 1, "chat": {"id": -100, "type": "group"}, "text": "t"}
    fake.push_raw({"callback_query": {"id": "q1", "from": sender, "chat_instance": "c",
                                      "data": "7.1", "message": in_chat}})
    fake.push_raw({"callback_query": {"id": "q2", "from": sender, "chat_instance": "c",
                                      "inline_message_id": "im"}})  # no message, no data
    fake.push_raw({"message": {**in_chat, "from": sender}})  # a group: not answered
    fake.push_raw({"message": {"message_id": 4, "date": 1, "text": "x",
                               "chat": {"id": -100, "type": "channel"}}})  # no sender
    updates = fake.pending_updates
    assert len(updates) == 26
    read = [to_inbound(update) for update in updates]
    for update, inbound in zip(updates, read, strict=True):
        assert inbound == ptb_reading(Update.de_json(update, None)), update
    assert [i.kind if i else None for i in read].count(None) == 2
    assert {i.kind for i in read if i} == {"text", "command", "file", "unsupported", "choice"}


def test_keyboard_is_the_json_of_ptb_markup() -> None:
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(o.label, callback_data=o.token)] for o in OPTIONS])
    assert keyboard(Reply("x", OPTIONS)) == markup.to_dict()
    assert keyboard(Reply("x")) is None


async def test_deliver_sends_what_the_bot_methods_send(channel: TelegramChannel) -> None:
    rec, bot = recorder(channel), channel.bot
    long = Reply("<b>a</b> " + "x" * 5000, OPTIONS)
    await channel.deliver(press(), INBOUND, Outcome(replies=[long, Reply("plain")]))
    raw, rec.calls = rec.calls, []

    # The same calls through PTB's methods, as the channel made them before.
    cq = Update.de_json(press(), bot).callback_query
    assert cq is not None and cq.message is not None
    await cq.answer()
    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=cq.message.message_id,
                                        reply_markup=None)
    parts = split_html(long.text, MessageLimit.MAX_TEXT_LENGTH)
    assert len(parts) > 1
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(o.label, callback_data=o.token)] for o in OPTIONS])
    for part, last in [(p, i == len(parts) - 1) for i, p in enumerate(parts)] + [
            ("plain", False)]:
        await bot.send_message(
            chat_id=CHAT, text=part, parse_mode=ParseMode.HTML,
            reply_markup=markup if last else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True))

    assert [c[0] for c in raw] == ["answerCallbackQuery", "editMessageReplyMarkup"] + [
        "sendMessage"] * (len(parts) + 1)
    assert "reply_markup" not in raw[1][1]  # no markup: Telegram removes the keyboard
    assert raw == rec.calls


async def test_a_stale_press_is_answered_with_its_notice_only(channel: TelegramChannel) -> None:
    """The core answers a stale or repeated press with a toast and nothing else: one call.
    The keyboard is left alone — usually it is gone already (a double tap), and the toast
    has said that the button does nothing."""
    rec, bot = recorder(channel), channel.bot
    await channel.deliver(press(), INBOUND, Outcome(toast="No longer active"))
    raw, rec.calls = rec.calls, []
    cq = Update.de_json(press(), bot).callback_query
    assert cq is not None
    await cq.answer("No longer active")
    assert [c[0] for c in raw] == ["answerCallbackQuery"] and raw == rec.calls

    # A redelivered press (already committed): answered, nothing else.
    rec.calls = []
    await channel.deliver(press(), INBOUND, Outcome(duplicate=True))
    assert [c[0] for c in rec.calls] == ["answerCallbackQuery"]


async def test_failed_answer_and_edit_do_not_stop_the_replies(
        channel: TelegramChannel, caplog: pytest.LogCaptureFixture) -> None:
    rec = recorder(channel)
    rec.fail["answerCallbackQuery"] = (400, "Bad Request: query is too old")
    rec.fail["editMessageReplyMarkup"] = (403, "Forbidden: bot was blocked by the user")
    with caplog.at_level(logging.DEBUG, logger="handlers.telegram"):
        await channel.deliver(press(), INBOUND, Outcome(replies=[Reply("ok")]))
    assert [c[0] for c in rec.calls] == [
        "answerCallbackQuery", "editMessageReplyMarkup", "sendMessage"]
    levels = {r.levelno for r in caplog.records if r.name == "handlers.telegram"}
    assert levels == {logging.DEBUG, logging.WARNING}  # BadRequest quietly, Forbidden warned


async def test_replies_without_options_join_the_next_message(channel: TelegramChannel) -> None:
    """"Saved: …" and the next question arrive as one message (one notification, one call);
    options stay under the text they belong to, and what would not fit stays apart."""
    rec = recorder(channel)
    await channel.deliver(press(), INBOUND, Outcome(replies=[
        Reply("Saved: <b>x</b>"), Reply("Next?", OPTIONS), Reply("After"), Reply("Last")]))
    sent = [(p["text"], "reply_markup" in p) for e, p in rec.calls if e == "sendMessage"]
    assert sent == [("Saved: <b>x</b>\n\nNext?", True), ("After\n\nLast", False)]

    rec.calls = []
    big = "y" * (MessageLimit.MAX_TEXT_LENGTH - 3)
    await channel.deliver(press(), INBOUND,
                          Outcome(replies=[Reply("Saved"), Reply(big, OPTIONS)]))
    sent = [p["text"] for e, p in rec.calls if e == "sendMessage"]
    assert sent == ["Saved", big]

    rec.calls = []   # a code to forward stays a message of its own
    await channel.deliver(press(), INBOUND, Outcome(replies=[
        Reply("Submitted"), Reply("Code: <code>NHAN-1</code>", separate=True), Reply("Menu")]))
    sent = [p["text"] for e, p in rec.calls if e == "sendMessage"]
    assert sent == ["Submitted", "Code: <code>NHAN-1</code>", "Menu"]


async def test_api_call_answers_the_result_and_raises_ptbs_errors(
        channel: TelegramChannel) -> None:
    rec, bot = recorder(channel), channel.bot
    sent = await api_call(bot, "sendMessage", {"chat_id": CHAT, "text": "hi", "x": None})
    assert sent["message_id"] == 5 and sent["text"] == "hi"  # plain JSON, no PTB objects
    assert await api_call(bot, "answerCallbackQuery", {"callback_query_id": "q"}) is True
    assert rec.calls[0] == ("sendMessage", {"chat_id": str(CHAT), "text": "hi"})
    rec.fail["sendMessage"] = (403, "Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden):
        await api_call(bot, "sendMessage", {"chat_id": CHAT, "text": "hi"})
    rec.fail["sendMessage"] = (400, "Bad Request: chat not found")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await api_call(bot, "sendMessage", {"chat_id": CHAT, "text": "hi"})
    # A revoked token: PTB says "endpoint not found" once initialised; we say what it is.
    rec.fail["sendMessage"] = (401, "Unauthorized")
    with pytest.raises(TokenRejected, match="rejected the bot token") as info:
        await api_call(bot, "sendMessage", {"chat_id": CHAT, "text": "hi"})
    assert "ABC" not in str(info.value) and info.value.__cause__ is None


async def test_only_the_raw_call_warning_is_silenced_and_only_for_our_calls(
        channel: TelegramChannel) -> None:
    bot = channel.bot
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # behind the channel's filter, which comes first
        from handlers.telegram import quiet_raw_call_warnings
        quiet_raw_call_warnings()
        await api_call(bot, "sendMessage", {"chat_id": CHAT, "text": "hi"})
        assert [str(w.message) for w in seen] == []
        # The same call from elsewhere still warns: the filter is this narrow.
        await bot.do_api_request("sendMessage", api_kwargs={"chat_id": CHAT, "text": "hi"})
    assert [str(w.message) for w in seen] == [
        "Please use 'Bot.sendMessage' instead of 'Bot.do_api_request(\"sendMessage\", ...)'"]


@pytest.mark.parametrize("text", [
    "<b>Title:</b> " + "&amp;&lt;" * 3000,
    "<b>" + "x" * 9000 + "</b>",
    ("dòng <i>một</i> &amp; hai\n" * 700),
    "<code>" + "a b " * 3000 + "</code> tail",
    "😀" * 5000,
])
def test_split_html_never_breaks_an_entity_or_a_tag(text: str) -> None:
    parts = split_html(text, MessageLimit.MAX_TEXT_LENGTH)
    assert len(parts) > 1
    for part in parts:
        visible = html_to_plain(part)
        assert len(visible.encode("utf-16-le")) // 2 <= MessageLimit.MAX_TEXT_LENGTH
        assert re.fullmatch(r"([^&<]|&(amp|lt|gt);|</?(b|i|code)>)*", part, re.S), part[:80]
        for tag in ("b", "i", "code"):
            assert part.count(f"<{tag}>") == part.count(f"</{tag}>")
    squeeze = re.compile(r"\s+")
    assert squeeze.sub("", "".join(map(html_to_plain, parts))) == squeeze.sub(
        "", html_to_plain(text))
