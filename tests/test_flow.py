"""The guided submission flow, driven through the core on an in-memory database.

No file or network I/O: what the user saw, and what the database holds afterwards.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import pytest
from sqlalchemy import select, text

from bot.core import Core
from storage.models import account_t, draft_t, initiative_t, unit_t
from tests.driver import Chat

TITLE = "Cải tiến dây chuyền đóng gói sản phẩm"
DESC = "Vấn đề: dây chuyền chậm. Giải pháp: thêm băng tải phụ. Áp dụng tại xưởng 2."


async def rows(core: Core, stmt):  # noqa: ANN001, ANN201
    async with core.engine.connect() as conn:
        return (await conn.execute(stmt)).mappings().all()


async def to_benefit(chat: Chat, *, title: str = TITLE, applied: str = "15/03/2023") -> None:
    await chat.say("/sangkien")
    await chat.say(title)
    await chat.say(DESC)
    await chat.press("Production")
    await chat.say(applied)
    await chat.press("Yes, it is recognised")


async def walk_to_summary(chat: Chat, *, title: str = TITLE, benefit: str = "200 triệu",
                          applied: str = "15/03/2023") -> None:
    await to_benefit(chat, title=title, applied=applied)
    await chat.say(benefit)
    await chat.press("Yes")
    await chat.press("No co-authors")
    await chat.say("phu rieng")
    await chat.press("Phú Riềng")
    await chat.press("Skip")  # no attachments


async def test_complete_submission(mem_core: Core) -> None:
    """A new worker writes first; the name to credit and the grassroots union are asked
    before the first submission goes out, then the summary is shown again."""
    chat = Chat(mem_core)
    await walk_to_summary(chat)
    seen = await chat.press("Submit")
    assert "What name should be credited" in seen and "One more thing" in seen
    seen = await chat.press("Use")
    assert "Which grassroots union" in seen and "Skip" not in " ".join(chat.labels())
    await chat.say("cao su phu rieng")
    seen = await chat.press("Cao su Phú Riềng")
    assert "Submit it?" in seen and "Cao su Phú Riềng" in seen
    seen = await chat.press("Submit")
    assert "SK-000001" in seen
    [row] = await rows(mem_core, select(initiative_t))
    assert row["code"] == "SK-000001"
    assert row["title"] == TITLE and row["description"] == DESC
    assert row["benefit_vnd"] == 200_000_000 and row["benefit_known"] is True
    assert row["status"] == "under_review"
    [unit] = await rows(mem_core, select(unit_t).where(unit_t.c.id == row["unit_id"]))
    assert unit["code"] == "BPC-PR"
    assert await rows(mem_core, select(draft_t)) == []  # the draft became the initiative


async def test_benefit_is_read_back_in_the_users_locale(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await to_benefit(chat)
    seen = await chat.say("1,5 tỷ")
    assert "₫1,500,000,000" in seen  # Babel, English grouping
    await chat.say("/ngonngu")
    await chat.press("Tiếng Việt")
    seen = await chat.say("1,5 tỷ")
    assert "1.500.000.000\xa0₫" in seen  # Babel puts a no-break space before ₫


async def test_benefit_correction_and_not_quantifiable(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await to_benefit(chat)
    await chat.say("200tr")
    seen = await chat.say("300 triệu")  # typed instead of yes/no: a correction
    assert "₫300,000,000" in seen
    await chat.press("No")
    seen = await chat.say("abc")
    assert "200 triệu" in seen  # the error shows examples
    await chat.press("Not quantifiable")
    [draft] = await rows(mem_core, select(draft_t))
    assert draft["benefit_known"] is False and draft["benefit_vnd"] is None
    assert draft["step"] == "coauthors"


@pytest.mark.parametrize(("answer", "fragment"), [
    ("ngắn", "10–200"),
    ("x" * 201, "10–200"),
    ("   ", "empty"),
    ("\n\t ", "empty"),
])
async def test_bad_titles_keep_the_step(mem_core: Core, answer: str, fragment: str) -> None:
    chat = Chat(mem_core)
    await chat.say("/sangkien")
    seen = await chat.say(answer)
    assert fragment in seen
    [acc] = await rows(mem_core, select(account_t))
    assert acc["step"] == "title"
    seen = await chat.say(TITLE)
    assert "Step 2" in seen


async def test_bad_descriptions_keep_what_was_saved(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/sangkien")
    await chat.say(TITLE)
    for answer in ("quá ngắn", "y" * 3001):
        seen = await chat.say(answer)
        assert "30–3.000" in seen or "30–3,000" in seen
    [draft] = await rows(mem_core, select(draft_t))
    assert (draft["title"], draft["description"], draft["step"]) == (TITLE, None, "description")


async def test_html_is_echoed_literally_and_nfd_is_stored_as_nfc(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/sangkien")
    title = unicodedata.normalize("NFD", "Cải tiến <b>máy</b> & khuôn 🚀")
    out = await chat.event("text", title)
    html = out.replies[0].text
    assert "&lt;b&gt;máy&lt;/b&gt; &amp; khuôn 🚀" in unicodedata.normalize("NFC", html)
    [draft] = await rows(mem_core, select(draft_t))
    assert draft["title"] == "Cải tiến <b>máy</b> & khuôn 🚀"
    assert unicodedata.is_normalized("NFC", draft["title"])


async def test_unsupported_and_oversized_messages(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/sangkien")
    await chat.say(TITLE)
    seen = Chat.text_of(await chat.event("unsupported"))
    assert "only read text" in seen and "Step 2" in seen
    seen = await chat.say("z" * 5000)
    assert "too long" in seen and "4096" in seen.replace(".", "").replace(",", "")
    [draft] = await rows(mem_core, select(draft_t))
    assert draft["title"] == TITLE and draft["step"] == "description"


async def test_commands_mid_flow(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/sangkien")
    await chat.say(TITLE)
    seen = await chat.say("/xyz")
    assert "/xyz" in seen and "Step 2" in seen
    seen = await chat.say("/trogiup")
    assert "/new" in seen and "/view SK-000123" in seen and "Step 2" in seen
    seen = await chat.say("/cuatoi")
    assert "middle" in seen
    seen = await chat.press("Go on")
    assert "Step 2" in seen
    await chat.say("/sangkien")
    await chat.press("New initiative")  # switch: the first draft stays saved
    await chat.say("Sáng kiến thứ hai về an toàn")
    drafts = await rows(mem_core, select(draft_t).order_by(draft_t.c.id))
    assert [d["title"] for d in drafts] == [TITLE, "Sáng kiến thứ hai về an toàn"]


async def account_of(core: Core, chat: Chat) -> dict:
    [acc] = await rows(core, select(account_t).where(account_t.c.external_id == chat.user_id))
    return dict(acc)


async def test_a_command_at_an_empty_first_question_just_runs(mem_core: Core) -> None:
    """/sangkien, then another command before anything was typed: nothing to go on with, so
    the command runs without asking, and the empty draft is deleted as /huy would."""
    chat = Chat(mem_core)
    await chat.onboard()
    await chat.say("/sangkien")
    seen = await chat.say("/nhap")
    assert "middle of an initiative" not in seen and "You have no drafts." in seen, seen
    acc = await account_of(mem_core, chat)
    assert acc["step"] == "idle" and acc["draft_id"] is None
    assert await rows(mem_core, select(draft_t)) == []

    await chat.say("/sangkien")
    seen = await chat.say("/sangkien")          # again: a new draft, not a second empty one
    assert "Step 1" in seen and "middle of an initiative" not in seen, seen
    [draft] = await rows(mem_core, select(draft_t))
    acc = await account_of(mem_core, chat)
    assert acc["step"] == "title" and acc["draft_id"] == draft["id"]
    assert "Step 2" in await chat.say(TITLE)  # and it goes on as any draft does

    await chat.say("/huy")
    await chat.say("/cuatoi")
    await chat.say("/sangkien")
    seen = await chat.say("/cuatoi")           # a command that goes home: home it is
    assert "middle of an initiative" not in seen and "What would you like to do?" in seen
    acc = await account_of(mem_core, chat)
    assert acc["step"] == "idle" and acc["draft_id"] is None
    assert [d["title"] for d in await rows(mem_core, select(draft_t))] == [TITLE]


async def test_help_at_an_empty_first_question_keeps_the_question(mem_core: Core) -> None:
    """/trogiup runs on top of the step it is typed at (inline): the help, then the title
    asked again, the new draft still the one being written."""
    chat = Chat(mem_core)
    await chat.onboard()
    await chat.say("/sangkien")
    seen = await chat.say("/trogiup")
    assert "/new — " in seen and "Step 1" in seen and "middle of an initiative" not in seen
    [draft] = await rows(mem_core, select(draft_t))
    acc = await account_of(mem_core, chat)
    assert acc["step"] == "title" and acc["draft_id"] == draft["id"]
    assert "Step 2" in await chat.say(TITLE)


async def test_a_command_in_a_draft_with_an_answer_still_asks(mem_core: Core) -> None:
    chat = Chat(mem_core, channel="zalo")
    await chat.onboard()
    await chat.say("/sangkien")
    await chat.say(TITLE)
    seen = await chat.say("nhap")               # a command word, as typed on Zalo
    assert "middle of an initiative" in seen and "Go on with it" in chat.labels(), seen
    assert (await account_of(mem_core, chat))["step"] == "interrupt"
    assert "Step 2" in await chat.press("Go on")
    [draft] = await rows(mem_core, select(draft_t))
    assert draft["title"] == TITLE


async def test_a_command_at_an_empty_first_question_on_zalo(mem_core: Core) -> None:
    """The same on Zalo, the command typed as a word, and at the first question of an
    initiative registered for a worker (its author's name)."""
    from tests.test_people import invite

    chat = Chat(mem_core, "z1", channel="zalo")
    await chat.onboard()
    await chat.say("sangkien")
    seen = await chat.say("cuatoi")
    assert "middle of an initiative" not in seen and "What would you like to do?" in seen, seen
    assert await rows(mem_core, select(draft_t)) == []
    helper = Chat(mem_core, "z2", channel="zalo")
    await helper.say(await invite(mem_core, "support", "BPC-PR-001"))
    await helper.say("/ngonngu")
    await helper.press("English")
    assert "author's full name" in await helper.say("khaiho")
    seen = await helper.say("nhap")
    assert "middle of an initiative" not in seen and "You have no drafts." in seen, seen
    acc = await account_of(mem_core, helper)
    assert acc["step"] == "idle" and acc["draft_id"] is None
    assert await rows(mem_core, select(draft_t)) == []


async def test_stale_button_and_duplicate_event_change_nothing(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await walk_to_summary(chat)
    old = dict(chat.options)
    await chat.press("Edit")
    out = await chat.event("choice", old["Submit"])  # a button from an older message
    assert out.toast and "no longer active" in out.toast and not out.replies
    assert await rows(mem_core, select(initiative_t)) == []
    out = await chat.event("text", "x", event_id="dup-1")
    again = await chat.event("text", "x", event_id="dup-1")
    assert again.duplicate and not again.replies
    [acc] = await rows(mem_core, select(account_t))
    assert acc["step"] == "edit"


async def test_edit_from_summary_returns_to_summary(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await walk_to_summary(chat)
    await chat.press("Edit")
    await chat.press("Title")
    seen = await chat.say("Tên mới của sáng kiến này")
    assert "Submit it?" in seen and "Tên mới của sáng kiến này" in seen
    await chat.press("Edit")
    await chat.press("Receiving union")
    seen = await chat.press("Keep")
    assert "Submit it?" in seen
    await chat.press("Edit")
    await chat.press("Date first applied")
    seen = await chat.say("1/2/2024")
    assert "01/02/2024" in seen


async def test_numbered_and_typed_answers(mem_core: Core) -> None:
    chat = Chat(mem_core, channel="zalo")
    await chat.onboard()
    await walk_to_summary(chat)
    seen = await chat.say("2")  # "Edit a field"
    assert "Which field" in seen and "Title" in chat.labels()
    seen = await chat.say("back to the summary")  # …or the label, accents and case ignored
    assert "Submit it?" in seen
    seen = await chat.say("1")
    assert "SK-" in seen


async def test_drafts_stop_resume_and_delete(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await to_benefit(chat)
    seen = await chat.say("/huy")
    assert "saved" in seen
    await chat.say("/nhap")
    assert TITLE[:20] in chat.labels()[0] and "benefit value" in chat.labels()[0]
    await chat.press(TITLE[:20])
    seen = await chat.press("Go on")
    assert "Step 6 of 9" in seen
    await chat.say("/huy")
    await chat.say("/nhap")
    await chat.press(TITLE[:20])
    await chat.press("Delete")
    seen = await chat.press("Yes, delete")
    assert "deleted" in seen
    assert await rows(mem_core, select(draft_t)) == []
    seen = await chat.say("/nhap")
    assert "no drafts" in seen


async def test_my_initiatives_are_paged_newest_first(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.onboard()
    for i in range(7):
        await walk_to_summary(chat, title=f"Sáng kiến số {i} về năng suất")
        await chat.press("Submit")
    seen = await chat.say("/cuatoi")
    assert "SK-000007" in seen and "SK-000003" in seen and "SK-000002" not in seen
    seen = await chat.press("Older")
    assert "SK-000002" in seen and "SK-000001" in seen
    assert chat.labels() == ["SK-000002", "SK-000001", "‹ Newer", "‹ Close"]


async def test_union_search_tells_same_names_apart(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await to_benefit(chat)
    await chat.press("Not quantifiable")
    await chat.press("No co-authors")
    await chat.say("CĐ ngành y tế")
    labels = chat.labels()
    assert any("Đồng Tháp" in lbl for lbl in labels) and any("Thanh Hóa" in lbl for lbl in labels)
    seen = await chat.say("khong co cong doan nay")
    assert "no union matching" in seen


async def test_a_failing_event_is_isolated_and_apologised_for(mem_core: Core) -> None:
    good, bad = Chat(mem_core, "good"), Chat(mem_core, "bad")
    await good.say("/start")
    await bad.say("/start")
    async with mem_core.engine.begin() as conn:  # corrupt one user's stored state
        await conn.execute(text("UPDATE account SET state = '{not json' WHERE external_id='bad'"))
    import asyncio

    a, b = await asyncio.gather(good.event("command", "sangkien", event_id="g1"),
                                bad.event("command", "sangkien", event_id="b1"))
    assert "Step 1" in Chat.text_of(a)
    assert "Sorry" in Chat.text_of(b)
    again = await bad.event("command", "sangkien", event_id="b1")
    assert again.duplicate


async def test_language_choice_is_per_user(mem_core: Core) -> None:
    en, vi = Chat(mem_core, "en-user"), Chat(mem_core, "vi-user")
    await en.say("/language")
    await en.press("English")
    await vi.say("/ngonngu")
    seen = await vi.press("Tiếng Việt")
    assert "Ngôn ngữ: Tiếng Việt" in seen
    seen_en = await en.say("/help")
    seen_vi = await vi.say("/help")
    assert "/new" in seen_en and "/sangkien" in seen_vi and "/sangkien" not in seen_en
    assert "Commands" in seen_en and "Các lệnh" not in seen_en
    assert "Các lệnh" in seen_vi and "Commands" not in seen_vi
    locales = {a["external_id"]: a["locale"] for a in await rows(
        mem_core, select(account_t).where(account_t.c.external_id.in_(["en-user", "vi-user"])))}
    assert locales == {"en-user": "en", "vi-user": "vi"}


async def test_a_typed_number_picks_an_option_on_text_steps(mem_core: Core) -> None:
    """On Zalo and the terminal options are numbered; "1" at the co-authors step is the
    option, not a name (only the benefit step reads numbers as amounts)."""
    chat = Chat(mem_core, "num", channel="zalo")
    await to_benefit(chat)
    await chat.press("Not quantifiable")
    seen = await chat.say("1")  # "No co-authors"
    assert "Receiving union" in seen
    [draft] = await rows(mem_core, select(draft_t))
    assert draft["coauthors"] == "[]" and draft["step"] == "unit"


async def test_a_title_needs_letters(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/sangkien")
    assert "needs words" in await chat.say("😀😀😀😀😀😀😀😀😀😀😀")
    assert "needs words" in await chat.say("1234567890 !!!")
    assert "Step 2" in await chat.say("Cải tiến 5S kho")


async def test_a_command_during_onboarding_says_it_will_resume(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/start")
    await chat.press("English")
    seen = await chat.say("/sangkien")
    assert "Your profile is not finished yet" in seen and "Step 1" in seen
    assert "ob_" not in seen and "middle of an initiative" not in seen


async def test_help_speaks_each_language_with_its_own_command_words(mem_core: Core) -> None:
    english = await Chat(mem_core, "en").say("/help")
    assert "/new — register" in english and "/sangkien" not in english
    assert "/editinitiative SK-000123" in english and "«new»" in english
    vi = Chat(mem_core, "vi")
    await vi.say("/ngonngu")
    await vi.press("Tiếng Việt")
    seen = await vi.say("/trogiup")
    assert "/sangkien — " in seen and "/suasangkien SK-000123" in seen and "«sangkien»" in seen


async def test_my_initiatives_show_the_reason_and_open_with_a_press(mem_core: Core) -> None:
    from tests.test_review import setup_people, submit

    chair, _helper, worker = await setup_people(mem_core)
    code = await submit(worker)
    await chair.say(f"/bosung {code} Cần bổ sung số liệu đo đạc")
    seen = await worker.say("/cuatoi")
    assert "Cần bổ sung số liệu đo đạc" in seen and code in worker.labels()
    seen = await worker.press(code)
    assert "First applied" in seen and "Edit it now" in worker.labels()


async def test_dates_are_day_first_in_english_too_and_names_capitalised(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/start BPC-PR-001")
    await chat.press("English")
    await chat.say("nguyễn thị mai")
    seen = await chat.say("/hoso")
    assert "Name: Nguyễn Thị Mai" in seen
    await walk_to_summary(chat)
    seen = await chat.press("Submit")
    assert re.search(r"\d\d/\d\d/20\d\d \d\d:\d\d", seen), seen


async def test_a_month_is_read_and_shown_as_a_month(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.onboard()
    await walk_to_summary(chat, applied="thang 3 nam 2025")
    assert "First applied: March 2025" in Chat.text_of(chat.last)
    seen = await chat.press("Submit")
    code = seen.split("code is ")[1].split(".")[0]
    assert "First applied: March 2025" in await chat.say(f"/xem {code}")
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["applied_on"] == date(2025, 3, 1) and ini["applied_month_only"]
    other = Chat(mem_core, "u2")
    await walk_to_summary(other, applied="1/3/2025")
    assert "First applied: 01/03/2025" in Chat.text_of(other.last)


async def test_a_months_benefit_is_read_back_with_its_year(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await to_benefit(chat)
    seen = await chat.say("20 triệu mỗi tháng")
    assert "₫20,000,000 a month, ₫240,000,000 a year" in seen
    await chat.press("Yes")
    [draft] = await rows(mem_core, select(draft_t))
    assert draft["benefit_vnd"] == 240_000_000
    await chat.say("/huy")
    other = Chat(mem_core, "u2")
    await to_benefit(other)
    assert "per year or per month" in await other.say("500k/ngày")
    assert "₫3,500,000 a year" in await other.say("3 triệu 5")
