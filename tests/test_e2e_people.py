"""Issue 3 end to end: deep links, invites and roles, registering for a worker, attachments —
the real Telegram application against the fake Bot API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import access, queries
from storage.engine import utcnow
from storage.models import draft_t, initiative_t, person_t
from tests.channels import TelegramHarness
from tests.test_e2e import to_benefit

CHAIR, HELPER, WORKER = 8001, 8002, 8003


@pytest.fixture
async def app(db_factory: Callable[[], AsyncEngine]) -> AsyncIterator[TelegramHarness]:
    harness = TelegramHarness(db_factory)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def admin_invite(app: TelegramHarness, role: str, unit_code: str) -> str:
    assert app.engine is not None
    async with app.engine.begin() as conn:
        def make(c):  # noqa: ANN001, ANN202
            now = utcnow()
            unit = queries.unit_by_code(c, unit_code)
            return access.create_code(c, purpose="invite", role=role, unit_id=unit.id, now=now,
                                      expires_at=now + timedelta(days=7))
        return await conn.run_sync(make)


async def test_deep_link_from_a_qr_poster(app: TelegramHarness) -> None:
    seen = await app.send(WORKER, "/start BPC-PR-003")
    assert any("Your grassroots union" in s for s in seen)
    await app.press(WORKER, "English")
    seen = await app.send(WORKER, "Đỗ Thị Mai")
    assert "profile is saved" in seen[-1]
    assert app.engine is not None
    async with app.engine.connect() as conn:
        person = (await conn.execute(select(person_t).where(person_t.c.name == "Đỗ Thị Mai"))
                  ).mappings().one()
    assert person["onboarded"] and person["unit_id"] is not None


async def test_chair_invites_a_support_team_that_registers_for_a_worker(
    app: TelegramHarness,
) -> None:
    await app.send(CHAIR, await admin_invite(app, "chair", "BPC-PR"))
    await app.send(CHAIR, "/moi")
    seen = await app.press(CHAIR, "New invite code")
    code = seen[-1].split("support team: ")[1].split()[0]
    seen = await app.send(HELPER, f"/start {code}")
    assert "support team of LĐLĐ huyện Phú Riềng" in seen[-1]
    assert "already been used" in (await app.send(WORKER, code))[-1]

    await app.send(HELPER, "/khaiho")
    await app.send(HELPER, "Phạm Văn Đức")
    await app.press(HELPER, "Skip")
    await app.send(HELPER, "thanh hoa")  # outside the team's scope…
    seen = await app.press(HELPER, "(demo)")
    assert "looks after" in seen[-1]
    await app.send(HELPER, "cao su phu rieng")  # …and inside it
    await app.press(HELPER, "(demo)")
    for text in ("Cải tiến máy cạo mủ cao su", "Vấn đề: cạo mủ thủ công chậm. Giải pháp: "
                 "máy cạo bán tự động. Áp dụng tại nông trường 3."):
        await app.send(HELPER, text)
    await to_benefit(app, HELPER, applied="10/10/2022")
    await app.press(HELPER, "Not quantifiable")
    await app.send(HELPER, "Hoàng Văn Em")
    await app.press(HELPER, "Done")
    await app.press(HELPER, "✓ LĐLĐ huyện Phú Riềng")
    await app.press(HELPER, "Skip")
    seen = await app.press(HELPER, "Submit")
    message = next(s for s in seen if "give them this code" in s)
    assert message.startswith("If ") and "Submitted" not in message  # forwardable on its own
    claim = message.split("code: ")[1].split(".")[0]

    seen = await app.send(WORKER, claim)
    assert "linked to your account" in seen[-1]
    seen = await app.send(WORKER, "/cuatoi")
    assert "SK-000001" in seen[-1] and "Cải tiến máy cạo mủ cao su" in seen[-1]
    assert app.engine is not None
    async with app.engine.connect() as conn:
        row = (await conn.execute(select(initiative_t))).mappings().one()
    assert row["author_name"] == "Phạm Văn Đức" and row["person_id"] is not None

    # The chair removes the helper, who can no longer register for others.
    await app.send(CHAIR, "/moi")
    await app.press(CHAIR, "Remove")
    assert "Only a support team" in (await app.send(HELPER, "/khaiho"))[-1]


async def test_photos_and_documents_attach_at_the_attachments_step(app: TelegramHarness) -> None:
    await app.send(WORKER, "/sangkien")
    await app.send(WORKER, "Sáng kiến có ảnh minh họa")
    await app.send(WORKER, "Mô tả đủ dài để qua bước kiểm tra độ dài tối thiểu.")
    seen = await app.send_unsupported(WORKER, "photo")  # photos are not answers here
    assert "only read text" in seen[-1]
    await to_benefit(app, WORKER, field="Other", applied="1/2023")
    await app.press(WORKER, "Not quantifiable")
    await app.press(WORKER, "No co-authors")
    await app.send(WORKER, "vinh thuan")
    await app.press(WORKER, "Vĩnh Thuận")
    await app.send_unsupported(WORKER, "photo")
    seen = await app.send_unsupported(WORKER, "document")
    assert "Attached so far: 2" in seen[-1]
    assert app.engine is not None
    async with app.engine.connect() as conn:
        draft = (await conn.execute(select(draft_t))).mappings().one()
    assert '"kind": "photo"' in draft["attachments"] and "tai-lieu.pdf" in draft["attachments"]
