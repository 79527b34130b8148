"""The Zalo channel: the real adapter against the fake Zalo Bot API, over real HTTP.

Tests that involve the core run on SQLite and PostgreSQL (``db_factory``); transport tests
(polling, retries, splitting, the token) drive the adapter with a stand-in core that echoes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import unicodedata
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery import RetryLater, Transient, Unreachable
from bot.events import Inbound, Option, Outcome, Reply
from handlers.zalo import (
    MAX_TEXT,
    ZaloChannel,
    parse_command,
    render,
    to_inbound,
)
from handlers.zalo_api import ZaloApiError, ZaloBotApi, ZaloTokenError
from handlers.zalo_webhook import unwrap_delivery
from storage.models import account_t, draft_t, inbound_event_t
from tests import test_e2e as e2e
from tests.channels_zalo import WEBHOOK_SECRET, ZaloHarness, numbered_options
from tests.fakes.zalo_server import FakeZalo

USER = 7001
OTHER = 7002
TITLE = e2e.TITLE


# --------------------------------------------------------------------------- helpers


class EchoCore:
    """Stands in for the core in transport tests: answers every event at once."""

    def __init__(self, answer: Callable[[Inbound], str] | None = None) -> None:
        self.events: list[Inbound] = []
        self.answer = answer or (lambda ev: f"got {ev.kind} {ev.text}".strip())

    async def handle(self, inbound: Inbound) -> Outcome:
        self.events.append(inbound)
        return Outcome([Reply(self.answer(inbound))], locale="en")

    def sent(self, outcome: Outcome) -> None:
        """Nothing kept, nothing to forget."""


@asynccontextmanager
async def echo_channel(fake: FakeZalo, core: EchoCore | None = None,
                       **options: Any) -> AsyncIterator[ZaloChannel]:
    """A polling channel on an echoing core; a wrong ``token`` may be passed."""
    options = {"token": fake.token, "base_url": fake.base_url, "poll_timeout": 1,
               "retry_delay": 0.02, "max_retry_delay": 0.2, **options}
    channel = ZaloChannel(core or EchoCore(), **options)  # type: ignore[arg-type]
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


@asynccontextmanager
async def harness(db_factory: Callable[[], AsyncEngine],
                  **options: Any) -> AsyncIterator[ZaloHarness]:
    h = ZaloHarness(db_factory, **options)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


async def rows(h: ZaloHarness, stmt: Any) -> list[Any]:
    assert h.engine is not None
    async with h.engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings().all())


async def count(h: ZaloHarness, table: Any) -> int:
    assert h.engine is not None
    async with h.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def text_event(text: str, *, message_id: str = "m1", user: str = "a" * 20) -> dict[str, Any]:
    return {"event_name": "message.text.received", "message": {
        "from": {"id": user, "display_name": "Lan", "is_bot": False},
        "chat": {"id": user, "chat_type": "PRIVATE"},
        "message_id": message_id, "date": 1750316131602, "text": text}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeZalo]:
    async with FakeZalo(poll_cap=0.3) as server:
        yield server


# --------------------------------------------------------------------------- translation


@pytest.mark.parametrize(("typed", "expected"), [
    ("sangkien", ("sangkien", "")),
    ("/sangkien", ("sangkien", "")),
    ("  SangKien ", ("sangkien", "")),
    ("Huỷ", ("huy", "")),
    ("hủy.", ("huy", "")),
    ("/Nháp", ("nhap", "")),
    ("new", ("new", "")),
    ("/cuatoi@bot", ("cuatoi", "")),
    ("trogiup", ("trogiup", "")),
    ("start ABC123", ("start", "ABC123")),
    ("/start ABC123", ("start", "ABC123")),
    ("/foo", ("foo", "")),  # unknown: the core answers "I don't know the command /foo"
    ("sangkien mới cho xưởng", None),  # a command word inside a sentence is text
    ("Sáng kiến", None),
    ("helpful", None),
    ("/ lời giải", None),
    ("2", None),
])
def test_commands_are_typed_with_or_without_the_slash(
        typed: str, expected: tuple[str, str] | None) -> None:
    assert parse_command(typed) == expected


def test_events_become_inbounds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="handlers.zalo")
    text = to_inbound(text_event("Cải tiến máy hàn", message_id="abc"))
    assert text == Inbound("zalo", "abc", "a" * 20, "a" * 20, "text", text="Cải tiến máy hàn",
                           display_name="Lan")
    command = to_inbound(text_event("sangkien"))
    assert command is not None and (command.kind, command.text) == ("command", "sangkien")
    for name, extra in [("message.image.received", {"photo": "https://x/a.jpg"}),
                        ("message.image.received", {"photo_url": "https://x/a.jpg"}),
                        ("message.sticker.received", {"sticker": "s1"}),
                        ("message.voice.received", {"url": "https://x/v.aac"}),
                        ("message.unsupported.received", {}),
                        ("message.link.received", {})]:
        event = text_event("", message_id="m-" + name)
        event["event_name"] = name
        del event["message"]["text"]
        event["message"].update(extra)
        inbound = to_inbound(event)
        assert inbound is not None and inbound.kind == "unsupported", name
    # Some unsupported events carry no message at all: nobody to answer.
    assert to_inbound({"event_name": "message.unsupported.received"}) is None
    assert "without a message" in caplog.text
    group = text_event("hello")
    group["message"]["chat"] = {"id": "g" * 20, "chat_type": "GROUP"}
    assert to_inbound(group) is None
    # No message_id: a stable digest of the event stands in, so a redelivery still matches.
    bare = text_event("hello")
    del bare["message"]["message_id"]
    first, again = to_inbound(bare), to_inbound(dict(bare))
    assert first is not None and again is not None and first.event_id == again.event_id
    assert len(first.event_id) <= 64


def test_both_webhook_envelopes_unwrap() -> None:
    event = text_event("hi")
    assert unwrap_delivery(event) == event
    assert unwrap_delivery({"ok": True, "result": event}) == event
    assert unwrap_delivery({"ok": True, "result": {}}) is None
    assert unwrap_delivery([event]) is None


def test_options_become_a_numbered_list_with_a_localized_hint() -> None:
    options = (Option("Có", "1.0"), Option("Không", "1.1"))
    outcome = Outcome([Reply("<b>Pick</b> &amp; go", options)], locale="vi",
                      toast="That button is no longer active.")
    toast, body = render(outcome)
    assert toast == "That button is no longer active."
    assert body.startswith("Pick & go\n1. Có\n2. Không\n(")
    assert numbered_options(body) == [(1, "Có"), (2, "Không")]
    assert "số" in body.splitlines()[-1]  # the Vietnamese hint


def test_replies_without_options_join_the_next_message() -> None:
    """"Saved: …" and the next question go as one message; the numbered options stay at the
    end of the text they belong to; what would pass the 2,000 characters stays apart."""
    options = (Option("Có", "1.0"),)
    saved, question = Reply("Saved: <b>x</b>"), Reply("Next?", options)
    first, after = render(Outcome([saved, question, Reply("After")], locale="en"))
    assert first.startswith("Saved: x\n\nNext?\n1. Có\n(") and after == "After"
    big = Reply("y" * (MAX_TEXT - 5), options)
    assert render(Outcome([saved, big], locale="en"))[0] == "Saved: x"
    # Measured with the options and the hint: a question that fits alone is not pushed over
    # the limit (and its options cut off into another message) by what is joined to it.
    many = tuple(Option(f"Option {i}", f"1.{i}") for i in range(4))
    long_q = Reply("q" * (MAX_TEXT - 150), many)
    first, second = render(Outcome([Reply("s" * 100), long_q], locale="en"))
    assert first == "s" * 100 and second.startswith("q") and len(second) <= MAX_TEXT
    code = Reply("Give them this code: <code>NHAN-1</code>", separate=True)
    assert len(render(Outcome([saved, code, question], locale="en"))) == 3


def test_options_that_carry_a_command_show_the_command() -> None:
    # Messages the bot sends on its own are not the conversation's menu: no number answers
    # them, the typed command does.
    reply = Reply("Your initiative <b>SK-000123</b> needs revision.",
                  (Option("View it", "a:view:123", command="/xem SK-000123"),))
    [text] = render(Outcome([reply], locale="en"))
    assert text == "Your initiative SK-000123 needs revision.\n• View it: /xem SK-000123"


async def test_the_outbox_sender_maps_zalo_errors(fake: FakeZalo) -> None:
    uid = fake.add_user(USER)
    reply = Reply("Reminder: your draft is waiting.")
    async with echo_channel(fake) as channel:
        await channel.deliver(uid, reply, "en")
        assert [m["text"] for m in fake.messages(USER)] == ["Reminder: your draft is waiting."]
        fake.fail_next("sendMessage", 429)
        with pytest.raises(RetryLater) as quota:
            await channel.deliver(uid, reply, "en")
        assert quota.value.seconds > 0
        fake.fail_next("sendMessage", 502, html=True)
        with pytest.raises(Transient):
            await channel.deliver(uid, reply, "en")
        with pytest.raises(Unreachable):  # a chat that never wrote to the bot
            await channel.deliver("f" * 20, reply, "en")
    assert len(fake.messages(USER)) == 1


# --------------------------------------------------------------------------- the token


async def test_a_bad_token_is_reported_clearly_and_never_shown(
        fake: FakeZalo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "987654321:WRONG-token-that-must-stay-secret"
    channel = ZaloChannel(EchoCore(), token=wrong, base_url=fake.base_url)  # type: ignore[arg-type]
    with pytest.raises(ZaloTokenError) as caught:
        await channel.start()
    assert str(caught.value) == "Zalo rejected the bot token (401)"
    shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value) + caplog.text
    assert wrong not in shown and "WRONG-token" not in shown
    assert fake.calls == []  # the fake only records calls with its own token


@pytest.mark.parametrize("base_url", ["http://[bad-host", "ftp://example.com"])
async def test_network_errors_never_quote_the_url(
        base_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = "123456789:SECRET-PART-of-the-token"
    api = ZaloBotApi(token, base_url)
    await api.open()
    try:
        with pytest.raises(ZaloApiError) as caught:
            await api.call("getMe")
    finally:
        await api.close()
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert "SECRET-PART" not in shown and "<token>" in str(caught.value)


# --------------------------------------------------------------------------- polling


@pytest.mark.parametrize("empty_poll", ["http200", "http408"])
async def test_empty_polls_are_not_errors(
        empty_poll: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="handlers.zalo")
    async with FakeZalo(poll_cap=0.05, empty_poll=empty_poll) as server:  # type: ignore[arg-type]
        async with echo_channel(server):
            await server.wait_for_calls("getUpdates", 2, timeout=15)
            server.push_text(USER, "hello")
            [reply] = await server.wait_for_messages(USER, 1)
    assert reply["text"] == "got text hello"
    assert [name for name, _p in server.calls[:2]] == ["getMe", "deleteWebhook"]
    assert all(p["timeout"] == "1" for p in server.calls_to("getUpdates"))  # a string
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_polling_survives_network_errors_5xx_and_a_401(
        fake: FakeZalo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="handlers.zalo")
    fake.fail_next("getUpdates", 502, html=True)
    fake.fail_next("getUpdates", drop=True)
    fake.fail_next("getUpdates", 200, error_code=500)
    fake.fail_next("getUpdates", 200, error_code=401)
    async with echo_channel(fake):
        fake.push_text(USER, "still there?")
        [reply] = await fake.wait_for_messages(USER, 1, timeout=5)
    assert reply["text"] == "got text still there?"
    assert "Zalo rejected the bot token (401) while polling" in caplog.text
    assert "still there" not in caplog.text  # message text never reaches the log


async def test_unsupported_events_without_a_message_are_ignored(fake: FakeZalo) -> None:
    core = EchoCore()
    async with echo_channel(fake, core):
        fake.push_unsupported(None, with_message=False)
        fake.push_unsupported(USER)
        fake.push_image(USER, field="photo_url")
        await fake.wait_for_messages(USER, 2)
        await fake.wait_idle()
    assert [ev.kind for ev in core.events] == ["unsupported", "unsupported"]


# --------------------------------------------------------------------------- sending


async def test_quota_server_errors_and_drops_are_retried(
        fake: FakeZalo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="handlers.zalo")
    fake.fail_next("sendMessage", 429)
    fake.fail_next("sendMessage", 500, html=True)
    fake.fail_next("sendMessage", 200, error_code=429)
    fake.fail_next("sendMessage", drop=True)
    async with echo_channel(fake):
        fake.push_text(USER, "0912 345 678")
        [reply] = await fake.wait_for_messages(USER, 1)
    assert reply["text"] == "got text 0912 345 678"
    assert len(fake.calls_to("sendMessage")) == 5
    assert "0912" not in caplog.text


async def test_sending_gives_up_after_bounded_attempts_and_goes_on(
        fake: FakeZalo, caplog: pytest.LogCaptureFixture) -> None:
    fake.fail_next("sendMessage", 503, times=3)
    async with echo_channel(fake, send_attempts=3):
        fake.push_text(USER, "first")
        await fake.wait_for_call("sendMessage")
        await fake.wait_idle()
        assert fake.messages(USER) == []
        fake.fail_next("sendMessage", 200, error_code=401)
        fake.push_text(USER, "second")
        await fake.wait_idle()
        fake.push_text(USER, "third")
        [reply] = await fake.wait_for_messages(USER, 1)
    assert reply["text"] == "got text third"
    assert len(fake.calls_to("sendMessage")) == 3 + 1 + 1  # a 401 is not retried
    assert "a reply to chat" in caplog.text
    assert "Zalo rejected the bot token (401): a reply to chat" in caplog.text


async def test_long_replies_are_split_under_the_limit(fake: FakeZalo) -> None:
    paragraph = " ".join(["Cải tiến quy trình hàn khung xe, giảm phế phẩm ở xưởng hai."] * 12)
    long_text = "\n".join(f"{i}. {paragraph}" for i in range(12))  # ~ 9,000 characters
    decomposed = unicodedata.normalize("NFD", long_text)  # as some keyboards send it
    async with echo_channel(fake, EchoCore(lambda ev: decomposed)):
        fake.push_text(USER, "dài")
        await fake.wait_for_messages(USER, 2)
        await fake.wait_idle()
    parts = [m["text"] for m in fake.messages(USER)]
    assert len(parts) >= 5 and all(len(p) <= MAX_TEXT for p in parts)
    assert all(unicodedata.is_normalized("NFC", p) for p in parts)
    assert "\n".join(parts) == long_text  # cut at line ends: nothing lost, nothing added


async def test_replies_of_one_chat_keep_their_order(fake: FakeZalo) -> None:
    fake.fail_next("sendMessage", 429)  # the first reply is held up by a retry…
    async with echo_channel(fake, retry_delay=0.2):
        for word in ("one", "two", "three"):
            fake.push_text(USER, word)
        fake.push_text(OTHER, "elsewhere")
        await fake.wait_for_messages(USER, 3)
        await fake.wait_idle()
    # …and the later ones wait for it.
    assert [m["text"] for m in fake.messages(USER)] == [
        "got text one", "got text two", "got text three"]
    assert [m["text"] for m in fake.messages(OTHER)] == ["got text elsewhere"]


# --------------------------------------------------------------------------- with the core


async def test_a_full_submission_through_the_webhook(
        db_factory: Callable[[], AsyncEngine]) -> None:
    # Through long polling, the same scenario runs as test_e2e.py's [zalo-*] cases.
    async with harness(db_factory, mode="webhook") as h:
        await e2e.test_a_worker_completes_a_submission(h)  # type: ignore[arg-type]
        assert h.fake.deliveries and all(d.status == 200 for d in h.fake.deliveries)
        assert max(d.seconds for d in h.fake.deliveries) < 5.0
        assert [name for name, _p in h.fake.calls[:2]] == ["getMe", "setWebhook"]
        assert h.fake.webhook["secret_token"] == WEBHOOK_SECRET
        assert h.fake.calls_to("getUpdates") == []


async def test_a_draft_survives_a_restart_in_webhook_mode(
        db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory, mode="webhook") as h:
        await e2e.test_a_draft_resumes_after_the_application_restarts(h)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_redelivered_event_is_handled_once(
        db_factory: Callable[[], AsyncEngine], mode: str) -> None:
    async with harness(db_factory, mode=mode) as h:
        await h.send(USER, "/sangkien")
        before = len(h.fake.messages(USER))
        message_id = h.fake.push_text(USER, TITLE)
        await h.fake.wait_for_messages(USER, before + 1)
        await h.fake.wait_idle()
        seen = len(h.fake.messages(USER))
        h.fake.redeliver(message_id)
        h.fake.redeliver(message_id)
        await h.fake.wait_idle(quiet=0.3)
        assert len(h.fake.messages(USER)) == seen
        [draft] = await rows(h, select(draft_t))
        assert draft["title"] == TITLE and draft["step"] == "description"
        if mode == "webhook":
            assert [d.status for d in h.fake.deliveries[-2:]] == [200, 200]


@pytest.mark.parametrize("envelope", ["wrapped", "bare"])
async def test_webhook_deliveries_in_both_envelopes(
        db_factory: Callable[[], AsyncEngine], envelope: str) -> None:
    async with harness(db_factory, mode="webhook", envelope=envelope) as h:
        seen = await h.send(USER, "sangkien")
        assert "Step 1" in seen[-1]
        # An unsupported event with no message: acknowledged, nothing said, nothing stored.
        events = await count(h, inbound_event_t)
        status = await h.fake.deliver({"event_name": "message.unsupported.received"})
        assert status == 200 and await count(h, inbound_event_t) == events
        seen = await h.send_unsupported(USER, "photo")
        assert "only read text" in seen[-1]


async def test_a_wrong_secret_is_refused_and_nothing_recorded(
        db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory, mode="webhook") as h:
        h.fake.add_user(USER)
        event = text_event("/start", message_id="forged-1", user=h.fake.user_id(USER))
        assert await h.fake.deliver(event, secret="not-the-secret") == 403
        assert await h.fake.deliver(event, secret="") == 403  # no header at all
        assert await h.fake.deliver(event, envelope="bare",
                                    secret=WEBHOOK_SECRET[:-1] + "X") == 403
        await h.fake.wait_idle()
        assert h.fake.messages(USER) == []
        assert await count(h, inbound_event_t) == 0 and await count(h, account_t) == 0
        # The same event with the right secret is taken (its id was never recorded).
        assert await h.fake.deliver(event) == 200
        await h.fake.wait_for_messages(USER, 1)


async def test_the_webhook_acknowledges_once_recorded_and_quickly(
        db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory, mode="webhook") as h:
        h.fake.add_user(USER)
        event = text_event("/start", message_id="ack-1", user=h.fake.user_id(USER))
        status = await h.fake.deliver(event)
        # Acknowledged means recorded: the event is on record before any reply is sent.
        [row] = await rows(h, select(inbound_event_t))
        assert status == 200 and row["event_id"] == "ack-1"
        assert h.fake.deliveries[-1].seconds < 5.0
        await h.fake.wait_for_messages(USER, 1)
        await h.fake.wait_idle()
        answered = len(h.fake.messages(USER))
        assert await h.fake.deliver(event) == 200  # a redelivery: acknowledged, not answered
        await h.fake.wait_idle(quiet=0.3)
        assert len(h.fake.messages(USER)) == answered


async def test_commands_are_understood_as_words(db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory) as h:
        assert "Step 1" in (await h.send(USER, "sangkien"))[-1]
        await h.send(USER, "Huỷ")
        [account] = await rows(h, select(account_t))
        assert account["step"] != "title" and account["draft_id"] is None
        assert "Step 1" in (await h.send(USER, "/SangKien"))[-1]
        # At that draft's first question, still empty: "new" just starts another one.
        assert "Step 1" in (await h.send(USER, "new"))[-1]
        # The drafts left before anything was typed are gone: only the new one is left.
        [draft] = await rows(h, select(draft_t))
        assert draft["title"] is None
        await h.send(USER, "Băng tải phụ cho xưởng 2")
        assert "middle" in (await h.send(USER, "new"))[-1]  # mid-draft: asks first


async def test_a_stale_number_is_harmless(db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory) as h:
        await h.send(USER, "/start")
        assert h.labels(USER) == ["Tiếng Việt", "English"]  # a numbered list is on screen…
        [before] = await rows(h, select(account_t))
        await h.send(USER, "/sangkien")  # …then the menu changes
        seen = await h.send(USER, "2")  # a number meant for the old list: a (short) title
        assert "The title must be 10–200 characters long; yours has 1." in seen[-1]
        [draft] = await rows(h, select(draft_t))
        assert draft["step"] == "title" and draft["title"] is None
        [account] = await rows(h, select(account_t))
        assert account["step"] == "title"
        assert account["locale"] == before["locale"] is None  # "2" did not pick "English"


async def test_a_typed_number_picks_the_option_shown(
        db_factory: Callable[[], AsyncEngine]) -> None:
    async with harness(db_factory) as h:
        await h.send(USER, "/sangkien")
        await h.send(USER, TITLE)
        await h.send(USER, e2e.DESC)
        await e2e.to_benefit(h)  # type: ignore[arg-type]
        [(number, label)] = numbered_options(h.texts(USER)[-1])  # "1. Not quantifiable"
        await h.send(USER, str(number))
        [draft] = await rows(h, select(draft_t))
        assert draft["benefit_known"] is False, label


async def _raw_post(url: str, headers: bytes, body: bytes) -> int:
    """An HTTP POST written byte for byte (header values no client library would send)."""
    target = urlsplit(url)
    reader, writer = await asyncio.open_connection(target.hostname, target.port)
    writer.write(b"POST " + target.path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers
                 + b"Content-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def test_hostile_webhook_requests_get_4xx_and_one_log_line(
        db_factory: Callable[[], AsyncEngine], caplog: pytest.LogCaptureFixture) -> None:
    async with harness(db_factory, mode="webhook") as h:
        url = h.fake.webhook["url"]
        event = json.dumps(text_event("/start", message_id="x1", user="u1")).encode()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            for secret in (b"\xff\xfe", b"caf\xc3", b"", WEBHOOK_SECRET.encode()[:-1] + b"\xff"):
                header = b"X-Bot-Api-Secret-Token: " + secret + b"\r\n" if secret else b""
                assert await _raw_post(url, header, event) == 403
        refusals = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusals) == 1   # one line a minute, however many requests
        good = b"X-Bot-Api-Secret-Token: " + WEBHOOK_SECRET.encode() + b"\r\n"
        nested = b"[" * 100_000 + b"]" * 100_000
        assert await _raw_post(url, good, nested) == 400
        assert await _raw_post(url, good, b"{not json") == 400
        assert await count(h, inbound_event_t) == 0
