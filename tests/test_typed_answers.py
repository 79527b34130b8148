"""People on Zalo and in the terminal answer numbered questions in words, without accents:
yes/no words in both languages, a unique prefix or a distinctive word of an option, its
number. "No" never becomes a value, and an answer that matches nothing keeps what was
pending."""

from __future__ import annotations

from sqlalchemy import select

from bot.core import Core
from storage.models import draft_t
from tests.driver import Chat
from tests.test_flow import DESC, TITLE, rows


async def vietnamese(core: Core, user: str = "u1") -> Chat:
    chat = Chat(core, user)
    await chat.say("/start")
    await chat.press("Tiếng Việt")
    await chat.press("Để sau")
    await chat.say("Nguyễn Văn A")
    return chat


async def to_benefit_vi(chat: Chat) -> None:
    await chat.say("/sangkien")
    await chat.say(TITLE)
    await chat.say(DESC)
    assert "Bước 4" in await chat.say("an toan")           # a distinctive word of an option
    await chat.say("15/03/2023")
    assert "Bước 6" in await chat.say("co")                 # "có": recognised


async def draft(core: Core) -> dict:
    [row] = await rows(core, select(draft_t))
    return dict(row)


async def test_yes_and_no_at_the_benefit_read_back(mem_core: Core) -> None:
    chat = await vietnamese(mem_core)
    await to_benefit_vi(chat)
    assert (await draft(mem_core))["field_code"] == "safety"
    for no in ("khong", "không", "Ko", "sai"):
        assert "1.200.000.000" in await chat.say("1,2 tỷ")
        seen = await chat.say(no)
        assert "Bước 6" in seen, (no, seen)       # asked again for the amount
        assert (await draft(mem_core))["benefit_known"] is None   # not "not quantifiable"
    for i, yes in enumerate(("dung", "đúng", "ok", "OK", "1")):
        other = await vietnamese(mem_core, f"yes{i}")
        await to_benefit_vi(other)
        await other.say("1,2 tỷ")
        assert "Bước 7" in await other.say(yes), yes
    rows_ = await rows(mem_core, select(draft_t).where(draft_t.c.benefit_known.is_(True)))
    assert [r["benefit_vnd"] for r in rows_] == [1_200_000_000] * 5


async def test_an_unreadable_answer_keeps_the_amount_waiting(mem_core: Core) -> None:
    chat = await vietnamese(mem_core)
    await to_benefit_vi(chat)
    await chat.say("200 triệu")
    seen = await chat.say("hmm để xem")
    assert "200.000.000" in seen                 # the same question, the amount kept
    assert "Bước 7" in await chat.say("dung")
    assert (await draft(mem_core))["benefit_vnd"] == 200_000_000
    await chat.say("/huy")
    other = await vietnamese(mem_core, "u2")
    await to_benefit_vi(other)
    await other.say("300 triệu")
    assert "Bước 6" in await other.say("nhap lai")   # the distinctive words of "Không, nhập lại"


async def test_no_is_never_a_co_author_nor_a_name(mem_core: Core) -> None:
    chat = await vietnamese(mem_core)
    await to_benefit_vi(chat)
    await chat.say("Không tính được")
    assert "Bước 7" in await chat.say("dung")
    seen = await chat.say("khong")
    assert "Bước 8" in seen                          # no co-authors: on to the next step
    assert (await draft(mem_core))["coauthors"] == "[]"
    await chat.say("/huy")
    await chat.say("/hoso")
    await chat.press("Sửa họ tên")
    assert "không phải là tên" in await chat.say("khong")


async def test_english_words_and_prefixes_work_too(mem_core: Core) -> None:
    chat = Chat(mem_core, "en1")
    await chat.say("/sangkien")
    await chat.say(TITLE)
    await chat.say(DESC)
    assert "Step 4" in await chat.say("occupational")     # a prefix of the label
    await chat.say("15/03/2023")
    assert "Step 6" in await chat.say("yes")
    await chat.say("2 tỷ")
    assert "Step 6" in await chat.say("no")
    await chat.say("2 tỷ")
    assert "Step 7" in await chat.say("yes")
    assert "Step 8" in await chat.say("no")
    assert (await draft(mem_core))["coauthors"] == "[]"
