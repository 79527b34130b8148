"""Tests of the fake Telegram server itself, driven by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_server import FakeTelegram, UploadedFile, parse_html

pytestmark = pytest.mark.asyncio

USER = 4242


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.add_user(USER, first_name="Lan", username="lan_cd")
        yield server


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


async def test_get_me(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "sangkien_test_bot" and me.can_join_groups
    assert me.id == 123456
    assert fake.calls[0][0] == "getMe"


async def test_send_message_html_is_stored_as_plain_text(bot: Bot, fake: FakeTelegram) -> None:
    html = "  <b>Xin chào</b> &amp; <i>bạn 👋</i> &lt;3 <a href=\"https://x.vn/?a=1&amp;b=2\">link</a>\n"
    sent = await bot.send_message(USER, html, parse_mode="HTML")

    assert sent.text == 'Xin chào & bạn 👋 <3 link'  # trimmed, unescaped
    kinds = [(e.type, e.offset, e.length) for e in sent.entities]
    # Offsets are UTF-16: the emoji counts twice.
    assert kinds == [("bold", 0, 8), ("italic", 11, 6), ("text_link", 21, 4)]
    assert sent.entities[2].url == "https://x.vn/?a=1&b=2"
    assert sent.chat.id == USER and sent.from_user.is_bot

    [stored] = fake.messages(USER)
    assert stored["text"] == sent.text and stored["html"] == html
    assert stored["message_id"] == sent.message_id and stored["deleted"] is False


async def test_string_parameters_stay_strings(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(USER, "123")
    assert sent.text == "123"
    method, params = fake.calls[-1]
    assert method == "sendMessage"
    assert params == {"chat_id": USER, "text": "123"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("dòng 1<br>dòng 2", 'Unsupported start tag "br" at byte offset 7'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("Tom & Jerry", "Unsupported HTML entity at byte offset 4"),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_bad_html_is_rejected(
    bot: Bot, fake: FakeTelegram, text: str, reason: str
) -> None:
    with pytest.raises(BadRequest, match="parse entities") as info:
        await bot.send_message(USER, text, parse_mode="HTML")
    # PTB strips "Bad Request: " and str.capitalize()s the rest, lowercasing it.
    assert reason.lower() in info.value.message.lower()
    assert fake.messages(USER) == []


async def test_parse_html_supported_tags() -> None:
    text, entities = parse_html(
        '<pre><code class="language-python">x = 1</code></pre><tg-spoiler>s</tg-spoiler>'
        '<blockquote expandable>q</blockquote><span class="tg-spoiler">p</span>&#x27;&#39;'
    )
    assert text == "x = 1sqp''"
    assert entities == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"},
        {"type": "spoiler", "offset": 5, "length": 1},
        {"type": "expandable_blockquote", "offset": 6, "length": 1},
        {"type": "spoiler", "offset": 7, "length": 1},
    ]
    # Real Telegram keeps a bare '&'; the fake does too when asked.
    assert parse_html("A & B", strict_ampersand=False) == ("A & B", [])


async def test_message_length_limits(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "a" * 4097)
    # The limit applies after entity parsing: markup does not count.
    await bot.send_message(USER, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(USER, "<b> </b>\n", parse_mode="HTML")
    assert len(fake.messages(USER)) == 1


async def test_inline_keyboard_round_trip_and_edits(bot: Bot, fake: FakeTelegram) -> None:
    markup = keyboard(("Đồng ý", "vote:yes"), ("Không", "vote:no"))
    sent = await bot.send_message(USER, "Bạn đồng ý?", reply_markup=markup)
    assert sent.reply_markup == markup
    [stored] = fake.messages(USER)
    assert stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "vote:yes"

    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=keyboard(("too long", "x" * 65)))

    edited = await bot.edit_message_text(
        "Đã chọn: <b>có</b>", chat_id=USER, message_id=sent.message_id,
        parse_mode="HTML", reply_markup=markup,
    )
    assert edited.text == "Đã chọn: có" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Đã chọn: <strong>có</strong>", chat_id=USER, message_id=sent.message_id,
            parse_mode="HTML", reply_markup=markup,
        )
    # Editing the text without reply_markup drops the keyboard, as on Telegram.
    await bot.edit_message_text("Đã chọn: có", chat_id=USER, message_id=sent.message_id)
    [stored] = fake.messages(USER)
    assert stored["reply_markup"] is None and stored["edited"] and stored["entities"] == []

    await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=markup)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=markup)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)

    assert await bot.delete_message(USER, sent.message_id)
    assert fake.messages(USER)[0]["deleted"] is True
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, sent.message_id)


async def test_callback_press_is_answered_once(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(USER, "Chọn", reply_markup=keyboard(("A", "pick:a")))
    update_id = fake.push_callback(USER, sent.message_id, "pick:a")

    [update] = await bot.get_updates()
    assert update.update_id == update_id
    query = update.callback_query
    assert query.data == "pick:a" and query.from_user.id == USER
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup == sent.reply_markup

    assert await query.answer("Đã ghi nhận", show_alert=True)
    assert fake.callback_answers == [
        {
            "callback_query_id": query.id, "text": "Đã ghi nhận", "show_alert": True,
            "url": None, "cache_time": None, "user_id": USER,
            "message_id": sent.message_id, "data": "pick:a",
        }
    ]
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer()
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("12345")


async def test_user_and_bot_messages_share_one_counter(bot: Bot, fake: FakeTelegram) -> None:
    fake.push_text(USER, "hi")  # message 1
    sent = await bot.send_message(USER, "chào")  # message 2
    fake.push_text(USER, "/start@sangkien_test_bot abc")  # message 3
    updates = await bot.get_updates()
    assert [u.message.message_id for u in updates] == [1, 3] and sent.message_id == 2
    command = updates[1].message
    assert command.entities[0].type == "bot_command" and command.entities[0].length == 24
    assert command.from_user.language_code == "vi" and command.chat.username == "lan_cd"


async def test_application_long_poll_loop(fake: FakeTelegram) -> None:
    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    seen: list[int] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)
        await update.message.reply_text(
            f"Echo: <b>{update.message.text}</b>", parse_mode="HTML",
            reply_markup=keyboard(("Lại", "again")),
        )

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"start args={context.args}")

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("OK")
        await update.callback_query.edit_message_text("Đã bấm")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(press))

    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            first = fake.push_text(USER, "xin chào")
            [msg] = await fake.wait_for_messages(USER, 1)
            assert msg["text"] == "Echo: xin chào" and msg["html"] == "Echo: <b>xin chào</b>"

            fake.push_text(USER, "/start ref_42")
            messages = await fake.wait_for_messages(USER, 2)
            assert messages[1]["text"] == "start args=['ref_42']"

            fake.push_callback(USER, msg["message_id"], "again")
            await fake.wait_for_call("answerCallbackQuery")
            await fake.wait_for_call("editMessageText")
            assert fake.messages(USER)[0]["text"] == "Đã bấm"
            assert fake.messages(USER)[0]["reply_markup"] is None
            assert fake.callback_answers[0]["text"] == "OK"
            assert seen == [first]
        finally:
            await app.updater.stop()
            await app.stop()
    # The updater's last getUpdates confirmed everything it fetched.
    assert fake.pending_updates == []
    assert fake.calls[0][0] == "getMe" and fake.calls[1][0] == "deleteWebhook"


async def test_redeliver_repeats_the_same_update_id(bot: Bot, fake: FakeTelegram) -> None:
    update_id = fake.push_text(USER, "một lần")
    [first] = await bot.get_updates(timeout=0)
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()

    fake.redeliver(update_id)
    [again] = await bot.get_updates(offset=update_id + 1, timeout=0)
    assert again.update_id == update_id and again.message.text == first.message.text
    # Once fetched, the next confirmation drops it for good.
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next_429_raises_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER, "x")
        assert str(info.value) == "Flood control exceeded. Retry in 1 seconds"
    await bot.send_message(USER, "x")

    fake.fail_next("sendMessage", error_code=400, description="Bad Request: nope")
    with pytest.raises(BadRequest, match="Nope"):
        await bot.send_message(USER, "x")
    assert [m["text"] for m in fake.messages(USER)] == ["x"]
    assert [c[0] for c in fake.calls].count("sendMessage") == 4


async def test_blocked_user_is_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.block_user(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(USER, "typing")
    assert fake.messages(USER) == []
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "who?")


async def test_wrong_token_and_unknown_method(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake.base_url):
            pass
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.base_url}999:WRONG/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False, "error_code": 401, "description": "Unauthorized",
            }
        async with http.post(f"{fake.base_url}{fake.token}/sendSmokeSignal") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found: method not found"
        # Query strings and JSON bodies work too; numeric text stays a string.
        url = f"{fake.base_url}{fake.token}/sendMessage"
        async with http.get(url, params={"chat_id": str(USER), "text": "007"}) as resp:
            assert (await resp.json())["result"]["text"] == "007"
        markup = {"inline_keyboard": [[{"text": "a", "url": "https://t.me"}]]}
        # Some clients nest reply_markup as a JSON string inside JSON; Telegram accepts it.
        body = {"chat_id": USER, "text": "<i>hi</i>", "parse_mode": "HTML",
                "reply_markup": json.dumps(markup)}
        async with http.post(url, json=body) as resp:
            result = (await resp.json())["result"]
            assert result["text"] == "hi" and result["reply_markup"] == markup


async def test_long_poll_waits_and_close_releases_it() -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        async with Bot(fake.token, base_url=fake.base_url) as b:
            poll = asyncio.create_task(b.get_updates(timeout=8))
            await fake.wait_for_call("getUpdates")
            fake.push_location(USER, 21.0285, 105.8542)
            # The long poll wakes on the push instead of waiting out its 8 s.
            [update] = await asyncio.wait_for(poll, 5)
            assert update.message.location.latitude == pytest.approx(21.0285)

            calls_before = len(fake.calls)
            poll = asyncio.create_task(b.get_updates(offset=update.update_id + 1, timeout=8))
            await fake.wait_for_call("getUpdates", since=calls_before)
            started = time.monotonic()
            await fake.close()  # answers the waiting poll with [] instead of hanging
            assert await asyncio.wait_for(poll, 5) == ()
            assert time.monotonic() - started < 5
    finally:
        await fake.close()


async def test_commands_are_stored_per_scope_and_language(bot: Bot, fake: FakeTelegram) -> None:
    vi = [BotCommand("start", "Bắt đầu"), BotCommand("gui", "Gửi sáng kiến")]
    await bot.set_my_commands(vi, language_code="vi")
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands([BotCommand("admin", "Quản trị")], scope=BotCommandScopeChat(USER))

    assert [c["command"] for c in fake.commands("vi")] == ["start", "gui"]
    assert fake.commands() == [{"command": "start", "description": "Start"}]
    assert fake.commands(scope_type="chat", chat_id=USER)[0]["command"] == "admin"
    assert await bot.get_my_commands(language_code="vi") == tuple(vi)

    await bot.delete_my_commands(language_code="vi")
    assert fake.commands("vi") == [] and await bot.get_my_commands(language_code="vi") == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_media_updates_and_files(bot: Bot, fake: FakeTelegram) -> None:
    fake.push_photo(USER, caption="ảnh", content=b"PHOTO")
    fake.push_sticker(USER)
    fake.push_voice(USER)
    fake.push_document(USER, file_name="de-xuat.docx", mime_type="application/msword")
    fake.push_raw({"message_reaction": {}})  # opt-in type: never delivered by default
    updates = await bot.get_updates()
    photo, sticker, voice, document = (u.message for u in updates)
    assert photo.caption == "ảnh" and photo.photo[-1].width == 1280
    assert sticker.sticker.emoji == "👍" and voice.voice.mime_type == "audio/ogg"
    assert document.document.file_name == "de-xuat.docx"

    file = await bot.get_file(photo.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == b"PHOTO"

    # Uploads arrive as multipart; re-sending a known file_id works too.
    sent = await bot.send_document(USER, b"noi dung", filename="bao-cao.txt", caption="<b>BC</b>",
                                   parse_mode="HTML")
    assert sent.document.file_name == "bao-cao.txt" and sent.caption == "BC"
    upload = fake.calls[-1][1]["document"]
    assert isinstance(upload, UploadedFile) and upload.data == b"noi dung"
    await bot.send_photo(USER, photo.photo[-1].file_id)
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(USER, "no-such-file-id")
    assert [m["kind"] for m in fake.messages(USER)] == ["document", "photo"]
    assert await bot.send_chat_action(USER, "typing")


async def test_observers_see_each_call_before_it_is_answered(bot: Bot, fake: FakeTelegram) -> None:
    gate = asyncio.Event()
    seen: list[dict[str, object]] = []

    async def slow(params: dict[str, object]) -> None:
        seen.append(params)
        await gate.wait()

    fake.on_call("sendmessage", slow)  # any spelling of the method, like the API
    sending = asyncio.create_task(bot.send_message(USER, "chậm"))
    await fake.wait_for_call("sendMessage")
    await asyncio.sleep(0.05)
    assert not sending.done() and fake.messages(USER) == [] and seen[0]["text"] == "chậm"
    gate.set()
    assert (await sending).text == "chậm"

    update_id = fake.push_text(USER, "x")
    assert fake.deliveries == []
    await bot.get_updates(timeout=0)
    await fake.wait_delivered(update_id)
    fake.redeliver(update_id)
    await bot.get_updates(offset=update_id + 1, timeout=0)
    assert fake.deliveries == [update_id, update_id]
