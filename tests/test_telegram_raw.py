"""Raw Bot API calls (`handlers.telegram.api_call`, PTB's public `Bot.do_api_request`) send
what PTB's Bot methods would send.

Offline: a recording `BaseRequest` answers every call, so no server is needed.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.request import BaseRequest, RequestData

from bot.events import Inbound, Option, Outcome, Reply
from bot.formatting import split_message
from handlers.telegram import TelegramChannel, api_call, keyboard, quiet_raw_call_warnings

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


@pytest.fixture
async def channel() -> Any:
    ch = TelegramChannel(None, token="123:ABC", request=Recorder())  # type: ignore[arg-type]
    await ch.app.bot.initialize()
    yield ch
    await ch.app.bot.shutdown()


def recorder(ch: TelegramChannel) -> Recorder:
    request = ch.app.bot.request
    assert isinstance(request, Recorder)
    return request


def press(ch: TelegramChannel) -> Update:
    return Update.de_json({"update_id": 1, "callback_query": {
        "id": "cq1", "from": {"id": CHAT, "is_bot": False, "first_name": "U"},
        "chat_instance": "c", "data": "m.0",
        "message": {"message_id": 3, "date": 0, "chat": {"id": CHAT, "type": "private"},
                    "text": "t"}}}, ch.app.bot)


INBOUND = Inbound("telegram", "1", str(CHAT), str(CHAT), "choice", text="m.0")


def test_keyboard_is_the_json_of_ptb_markup() -> None:
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(o.label, callback_data=o.token)] for o in OPTIONS])
    assert keyboard(Reply("x", OPTIONS)) == markup.to_dict()
    assert keyboard(Reply("x")) is None


@pytest.mark.parametrize("toast", [None, "Stale button"])
async def test_deliver_sends_what_the_bot_methods_send(channel: TelegramChannel,
                                                       toast: str | None) -> None:
    rec, bot = recorder(channel), channel.app.bot
    long = Reply("<b>a</b> " + "x" * 5000, OPTIONS)
    await channel.deliver(press(channel), INBOUND,
                          Outcome(replies=[long, Reply("plain")], toast=toast))
    raw, rec.calls = rec.calls, []

    # The same calls through PTB's methods, as the channel made them before.
    cq = press(channel).callback_query
    assert cq is not None and cq.message is not None
    await (cq.answer(toast) if toast else cq.answer())
    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=cq.message.message_id,
                                        reply_markup=None)
    parts = split_message(long.text, MessageLimit.MAX_TEXT_LENGTH)
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


async def test_failed_answer_and_edit_do_not_stop_the_replies(
        channel: TelegramChannel, caplog: pytest.LogCaptureFixture) -> None:
    rec = recorder(channel)
    rec.fail["answerCallbackQuery"] = (400, "Bad Request: query is too old")
    rec.fail["editMessageReplyMarkup"] = (403, "Forbidden: bot was blocked by the user")
    with caplog.at_level(logging.DEBUG, logger="handlers.telegram"):
        await channel.deliver(press(channel), INBOUND, Outcome(replies=[Reply("ok")]))
    assert [c[0] for c in rec.calls] == [
        "answerCallbackQuery", "editMessageReplyMarkup", "sendMessage"]
    levels = {r.levelno for r in caplog.records if r.name == "handlers.telegram"}
    assert levels == {logging.DEBUG, logging.WARNING}  # BadRequest quietly, Forbidden warned


async def test_replies_without_options_join_the_next_message(channel: TelegramChannel) -> None:
    """"Saved: …" and the next question arrive as one message (one notification, one call);
    options stay under the text they belong to, and what would not fit stays apart."""
    rec = recorder(channel)
    await channel.deliver(press(channel), INBOUND, Outcome(replies=[
        Reply("Saved: <b>x</b>"), Reply("Next?", OPTIONS), Reply("After"), Reply("Last")]))
    sent = [(p["text"], "reply_markup" in p) for e, p in rec.calls if e == "sendMessage"]
    assert sent == [("Saved: <b>x</b>\n\nNext?", True), ("After\n\nLast", False)]

    rec.calls = []
    big = "y" * (MessageLimit.MAX_TEXT_LENGTH - 3)
    await channel.deliver(press(channel), INBOUND,
                          Outcome(replies=[Reply("Saved"), Reply(big, OPTIONS)]))
    sent = [p["text"] for e, p in rec.calls if e == "sendMessage"]
    assert sent == ["Saved", big]

    rec.calls = []   # a code to forward stays a message of its own
    await channel.deliver(press(channel), INBOUND, Outcome(replies=[
        Reply("Submitted"), Reply("Code: <code>NHAN-1</code>", separate=True), Reply("Menu")]))
    sent = [p["text"] for e, p in rec.calls if e == "sendMessage"]
    assert sent == ["Submitted", "Code: <code>NHAN-1</code>", "Menu"]


async def test_api_call_answers_the_result_and_raises_ptbs_errors(
        channel: TelegramChannel) -> None:
    rec, bot = recorder(channel), channel.app.bot
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


async def test_only_the_raw_call_warning_is_silenced_and_only_for_our_calls(
        channel: TelegramChannel) -> None:
    bot = channel.app.bot
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # behind the channel's filter, which comes first
        quiet_raw_call_warnings()
        await api_call(bot, "sendMessage", {"chat_id": CHAT, "text": "hi"})
        assert [str(w.message) for w in seen] == []
        # The same call from elsewhere still warns: the filter is this narrow.
        await bot.do_api_request("sendMessage", api_kwargs={"chat_id": CHAT, "text": "hi"})
    assert [str(w.message) for w in seen] == [
        "Please use 'Bot.sendMessage' instead of 'Bot.do_api_request(\"sendMessage\", ...)'"]
