"""Issue 4 end to end: a full review cycle between an author and a reviewer over the fake
Telegram Bot API, alerts and decisions delivered by the outbox worker, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import OutboxWorker
from handlers.telegram_sender import TelegramSender
from storage.models import initiative_t
from tests.channels import TelegramHarness
from tests.test_e2e import to_benefit
from tests.test_e2e_people import admin_invite
from tests.test_outbox import drain

CHAIR, WORKER = 9001, 9002


@pytest.fixture
async def app(db_factory: Callable[[], AsyncEngine]) -> AsyncIterator[TelegramHarness]:
    harness = TelegramHarness(db_factory)
    await harness.start()
    assert harness.core and harness.channel and harness.engine
    worker = OutboxWorker(harness.engine, [TelegramSender(harness.channel.bot)],
                          poll_interval=0.05, per_chat_interval=0.05)
    harness.core.on_enqueued = worker.wake
    await worker.start()
    try:
        yield harness
    finally:
        await worker.stop()
        await harness.stop()


async def test_review_cycle_between_author_and_reviewer(app: TelegramHarness) -> None:
    await app.send(CHAIR, await admin_invite(app, "chair", "BPC-PR"))
    await app.onboard(WORKER)
    await app.send(WORKER, "/sangkien")
    for text in ("Cải tiến hệ thống bơm tưới tự động",
                 "Vấn đề: tưới thủ công tốn công. Giải pháp: hẹn giờ bơm. Áp dụng ở vườn ươm."):
        await app.send(WORKER, text)
    await to_benefit(app, WORKER, applied="2/2023")
    await app.press(WORKER, "Not quantifiable")
    await app.press(WORKER, "No co-authors")
    await app.send(WORKER, "phu rieng")
    await app.press(WORKER, "Phú Riềng")
    await app.press(WORKER, "Skip")
    await app.press(WORKER, "Submit")

    # The chair's alert arrives through the outbox, with the decision buttons.
    alert = await app.fake.wait_for_text(CHAIR, "New initiative to review")
    labels = [b["text"] for row in alert["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Valid", "Needs revision", "Invalid", "Details"]
    await app.press(CHAIR, "Needs revision")
    await app.send(CHAIR, "Cần ghi rõ số giờ công tiết kiệm được")
    notice = await app.fake.wait_for_text(WORKER, "needs revision")
    assert "Cần ghi rõ số giờ công" in notice["text"]

    # The author edits from the notice's button and resubmits.
    await app.press(WORKER, "Edit it now")
    await app.press(WORKER, "Edit a field")
    await app.press(WORKER, "Description")
    await app.send(WORKER, "Vấn đề: tưới thủ công tốn 40 giờ công mỗi tháng. Giải pháp: hẹn giờ.")
    seen = await app.press(WORKER, "Submit")
    assert "under review" in seen[-1]
    await app.fake.wait_for_text(CHAIR, "Resubmitted after revision")
    await app.press(CHAIR, "Valid")
    await app.press(CHAIR, "Yes, confirm")      # a final decision is confirmed first
    await app.fake.wait_for_text(WORKER, "is now: valid")

    # The message reaches the chat before the worker records it as sent: wait for that too.
    assert app.engine is not None
    assert set(await drain(app.engine)) == {"sent"}
    async with app.engine.connect() as conn:
        status = (await conn.execute(select(initiative_t.c.status))).scalar_one()
    assert status == "valid"
