"""Regressions from the steps clean-up: state keys that must not collide, shared checks."""

from __future__ import annotations

from sqlalchemy import select

from bot.core import Core
from storage.models import account_t
from tests.driver import Chat
from tests.test_flow import rows, walk_to_summary


async def test_language_change_during_discard_keeps_the_way_back_to_the_summary(
        mem_core: Core) -> None:
    """/ngonngu on the "Delete this draft?" question must not overwrite where "No" returns."""
    chat = Chat(mem_core)
    await walk_to_summary(chat)
    await chat.press("Discard")
    await chat.say("/ngonngu")
    seen = await chat.press("English")
    assert "Delete this draft for good?" in seen
    seen = await chat.press("No, keep it")
    assert "Submit it?" in seen
    assert "Your drafts" not in seen
    [acc] = await rows(mem_core, select(account_t))
    assert acc["step"] == "summary"


async def test_language_from_the_profile_returns_to_the_profile(mem_core: Core) -> None:
    chat = Chat(mem_core)
    await chat.say("/hoso")
    await chat.press("Change language")
    seen = await chat.press("English")
    assert "Your profile" in seen


async def test_name_length_is_checked_the_same_everywhere(mem_core: Core) -> None:
    message = "A name must be 2–128 characters long."
    chat = Chat(mem_core)
    await chat.say("/hoso")
    await chat.press("Change name")
    assert message in await chat.say("x")
    assert message in await chat.say("y" * 129)
    await chat.say("Nguyễn Văn B")
    await chat.say("/sangkien")
    await chat.say("Cải tiến dây chuyền đóng gói sản phẩm")
    await chat.say("Vấn đề: dây chuyền chậm. Giải pháp: thêm băng tải phụ. Áp dụng tại xưởng 2.")
    await chat.press("Production")
    await chat.say("15/03/2023")
    await chat.press("Yes, it is recognised")
    await chat.press("Not quantifiable")
    assert message in await chat.say("Trần Thị C, z")
