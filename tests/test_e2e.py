"""End to end: the real application over real HTTP against a fake Bot API server.

Every scenario runs on each channel harness and each database backend.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import draft_t, initiative_t
from tests.channels import Harness, TelegramHarness
from tests.channels_zalo import ZaloHarness

TITLE = "Cải tiến dây chuyền đóng gói sản phẩm"
DESC = "Vấn đề: dây chuyền chậm. Giải pháp: thêm băng tải phụ. Áp dụng tại xưởng 2."
USER = 7001

HARNESSES: dict[str, type[Harness]] = {
    "telegram": TelegramHarness, "zalo": ZaloHarness}


@pytest.fixture(params=list(HARNESSES))
async def app(request: pytest.FixtureRequest,
              db_factory: Callable[[], AsyncEngine]) -> AsyncIterator[Harness]:
    harness = HARNESSES[request.param](db_factory)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def db_rows(app: Harness, stmt):  # noqa: ANN001, ANN201
    assert app.engine is not None
    async with app.engine.connect() as conn:
        return (await conn.execute(stmt)).mappings().all()


async def to_benefit(app: Harness, user: int = USER, *, field: str = "Production",
                     applied: str = "15/03/2023") -> None:
    """From the description to the benefit step: field, date applied, recognition."""
    await app.press(user, field)
    await app.send(user, applied)
    await app.press(user, "Yes, it is recognised")


async def test_a_worker_completes_a_submission(app: Harness) -> None:
    seen = await app.send(USER, "/start")
    assert "Welcome" in seen[0]
    await app.send(USER, "/sangkien")
    seen = await app.send(USER, TITLE)
    assert any("Step 2" in s for s in seen)
    await app.send(USER, DESC)
    await to_benefit(app)
    seen = await app.send(USER, "1,5 tỷ")
    assert "₫1,500,000,000" in seen[-1]
    await app.press(USER, "Yes")
    await app.press(USER, "No co-authors")
    await app.send(USER, "phu rieng")
    assert app.labels(USER)[0].startswith("LĐLĐ huyện Phú Riềng")
    await app.press(USER, "Phú Riềng")
    await app.press(USER, "Skip")
    # What the profile lacks is asked before the first submission goes out.
    seen = await app.press(USER, "Submit")
    assert "What name should be credited" in seen[-1]
    await app.send(USER, "Nguyễn Thị Mai")
    await app.send(USER, "cao su phu rieng")
    seen = await app.press(USER, "Cao su Phú Riềng")
    assert "Nguyễn Thị Mai" in seen[-1] and "Submit it?" in seen[-1]
    seen = await app.press(USER, "Submit")
    assert "SK-000001" in seen[0]
    [row] = await db_rows(app, select(initiative_t))
    assert (row["code"], row["benefit_vnd"], row["status"]) == ("SK-000001", 1_500_000_000,
                                                                 "under_review")


async def test_a_draft_resumes_after_the_application_restarts(app: Harness) -> None:
    await app.send(USER, "/sangkien")
    await app.send(USER, TITLE)
    await app.send(USER, DESC)
    await app.press(USER, "Production")
    await app.restart()
    await app.send(USER, "15/03/2023")
    await app.press(USER, "Yes, it is recognised")
    seen = await app.send(USER, "200tr")
    assert "₫200,000,000" in seen[-1]
    [draft] = await db_rows(app, select(draft_t))
    assert (draft["title"], draft["description"]) == (TITLE, DESC)


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "location", "document"])
async def test_non_text_messages_are_explained(app: Harness, kind: str) -> None:
    await app.send(USER, "/sangkien")
    await app.send(USER, TITLE)
    seen = await app.send_unsupported(USER, kind)
    assert "only read text" in seen[-1] and "Step 2" in seen[-1]


async def test_bad_text_inputs_keep_the_step(app: Harness) -> None:
    await app.send(USER, "/sangkien")
    assert "10–200" in (await app.send(USER, "ngắn"))[-1]
    assert "empty" in (await app.send(USER, "   "))[-1]
    assert "too long" in (await app.send(USER, "a" * 4097))[-1]
    assert "/foo" in (await app.send(USER, "/foo"))[-1]
    title = unicodedata.normalize("NFD", "Cải tiến <b>khuôn</b> & gá 🚀 số 1")
    seen = await app.send(USER, title)
    assert "Cải tiến <b>khuôn</b> & gá 🚀 số 1" in unicodedata.normalize("NFC", seen[0])
    [draft] = await db_rows(app, select(draft_t))
    assert draft["title"] == "Cải tiến <b>khuôn</b> & gá 🚀 số 1"
    assert draft["step"] == "description"
    seen = await app.send(USER, "/cuatoi")  # a command mid-flow asks before switching
    assert "middle" in seen[-1]


async def test_buttons_are_used_once(app: Harness) -> None:
    if app.name != "telegram":
        pytest.skip("buttons are Telegram's; Zalo: tests/test_zalo.py")
    await app.send(USER, "/sangkien")
    await app.send(USER, TITLE)
    await app.send(USER, DESC)
    await to_benefit(app)
    await app.send(USER, "200 triệu")
    [(mid, _label, data)] = [o for o in app.options(USER) if o[1].startswith("Yes")]
    await app.press(USER, "Yes")
    # The keyboard is gone from the pressed message…
    assert all(m["reply_markup"] is None for m in app.fake.messages(USER)
               if m["message_id"] == mid)
    # …and pressing its button again (an old client, a double tap) changes nothing.
    before = len(app.fake.messages(USER))
    app.fake.push_callback(USER, mid, data)
    answer = await app.fake.wait_for_call(
        "answerCallbackQuery", lambda p: "no longer active" in (p.get("text") or ""))
    assert answer
    await app.fake.wait_idle(quiet=0.15)
    assert len(app.fake.messages(USER)) == before
    [draft] = await db_rows(app, select(draft_t))
    assert draft["step"] == "coauthors" and draft["benefit_vnd"] == 200_000_000


async def test_a_redelivered_update_is_handled_once(app: Harness) -> None:
    if app.name != "telegram":
        pytest.skip("uses Telegram update ids; Zalo: tests/test_zalo.py")
    await app.send(USER, "/sangkien")
    update_id = app.fake.push_text(USER, TITLE)
    await app.fake.wait_for_messages(USER, 2)  # the question; "saved" + the next
    await app.fake.wait_idle(quiet=0.15)
    before = len(app.fake.messages(USER))
    app.fake.redeliver(update_id)
    await app.fake.wait_idle(quiet=0.3)
    assert len(app.fake.messages(USER)) == before
    [draft] = await db_rows(app, select(draft_t))
    assert draft["step"] == "description"


async def test_the_command_menu_is_registered_in_both_languages(app: Harness) -> None:
    if app.name != "telegram":
        pytest.skip("Zalo has no command menu")
    vi = [c["command"] for c in app.fake.commands()]
    en = [c["command"] for c in app.fake.commands("en")]
    assert vi[:3] == ["start", "sangkien", "nhap"] and "ngonngu" in vi
    assert en[:3] == ["start", "new", "drafts"] and "language" in en
    vi_desc = {c["command"]: c["description"] for c in app.fake.commands()}
    assert vi_desc["sangkien"] != "Register a new initiative"  # translated


async def test_a_summary_full_of_ampersands_arrives_whole_with_its_buttons(app: Harness) -> None:
    """Escaped, "&" is five characters: a summary of 3,000 of them is split for Telegram's
    limit, never between "&" and "amp;" (Telegram refuses such a part, and the rest of the
    reply — the Submit button — never arrived)."""
    await app.onboard(USER)
    await app.send(USER, "/sangkien")
    await app.send(USER, "A&B <c> " * 3)
    await app.send(USER, "&<" * 1500)
    await to_benefit(app)
    await app.press(USER, "Not quantifiable")
    await app.press(USER, "No co-authors")
    await app.send(USER, "phu rieng")
    await app.press(USER, "Phú Riềng")
    seen = await app.press(USER, "Skip")
    assert "Submit it?" in seen[-1] and "Submit" in app.labels(USER)
    assert "&<&<" in "".join(seen)
    seen = await app.press(USER, "Submit")
    assert "SK-000001" in seen[0]
