# ruff: noqa: F811
"""Campaigns end to end over the fake Telegram Bot API: a chair creates one in the chat,
sees the preview, confirms; the scheduler queues it and the outbox worker delivers it to the
workers of the chair's subtree only; pause; /tatthongbao; an idle draft's button."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.campaign_schedule import Cap
from bot.campaign_scheduler import Delivery, run_tick
from storage.engine import utcnow
from storage.models import draft_t
from tests.channels import TelegramHarness
from tests.test_e2e_people import admin_invite

# The fixture `app` (fake Telegram and an outbox sender) is the review tests'; pytest finds it
# by name in this module, where test parameters of that name shadow it on purpose.
from tests.test_e2e_review import app  # noqa: F401

CHAIR, WORKER, OUTSIDER, SUPPORT = 9101, 9102, 9103, 9104
DELIVERY = Delivery(quiet=None, cap=Cap(per_day=10, per_week=10), batch=100,
                    default_locale="en")


async def tick(app: TelegramHarness) -> int:
    assert app.engine is not None
    return (await run_tick(app.engine, now=utcnow, delivery=DELIVERY)).queued


async def create_now(app: TelegramHarness, audience: str, text: str,
                     steps: tuple[str, ...] = ("Skip", "Skip")) -> list[str]:
    """A campaign sent now: `steps` answer the audience's own questions (the threshold or
    the days, then the bloc and the cluster of the chair's district)."""
    await app.send(CHAIR, "/chiendich")
    await app.press(CHAIR, "New campaign")
    await app.press(CHAIR, audience)
    for step in steps:
        await app.press(CHAIR, step)
    await app.press(CHAIR, "Now")
    return await app.send(CHAIR, text)


async def test_create_preview_confirm_receive_pause(app: TelegramHarness) -> None:
    await app.send(CHAIR, await admin_invite(app, "chair", "BPC-PR"))
    await app.send(SUPPORT, await admin_invite(app, "support", "BPC-PR"))
    await app.onboard(WORKER)                   # BPC-PR-001, under the chair's district
    await app.onboard(OUTSIDER, "THA-TP-001")  # elsewhere
    refused = await app.send(SUPPORT, "/chiendich")
    assert "Only union chairs run campaigns." in refused[-1]

    preview = await create_now(app, "Every member",
                               "Hi {ten} of {donvi}: 40 days, <b>go</b>!")
    text = preview[-1]
    assert "Preview" in text and "Recipients: 1" in text
    assert "&lt;b&gt;go&lt;/b&gt;" not in text   # shown as written: the tag is text
    assert "<b>go</b>" in text and "/tatthongbao" in text
    assert app.labels(CHAIR) == ["Confirm", "Cancel"]
    confirmed = await app.press(CHAIR, "Confirm")
    assert "is scheduled" in confirmed[-1]
    assert await tick(app) == 1
    got = await app.fake.wait_for_text(WORKER, "40 days")
    assert "CĐCS Công ty TNHH Cao su Phú Riềng" in got["text"]
    assert "/tatthongbao" in got["text"]
    assert not [m for m in app.texts(OUTSIDER) if "40 days" in m]

    # A daily campaign, paused from its page.
    await app.send(CHAIR, "/chiendich")
    await app.press(CHAIR, "New campaign")
    await app.press(CHAIR, "Every member")
    await app.press(CHAIR, "Skip")
    await app.press(CHAIR, "Skip")
    await app.press(CHAIR, "Every day at 08:00")
    await app.send(CHAIR, "Daily reminder")
    await app.press(CHAIR, "Confirm")
    paused = await app.press(CHAIR, "Pause")
    assert "is now paused" in paused[-1] and "Resume" in app.labels(CHAIR)
    resumed = await app.press(CHAIR, "Resume")
    assert "is now scheduled" in resumed[-1]

    # /tatthongbao: nothing more for this worker; /batthongbao: again.
    off = await app.send(WORKER, "/tatthongbao")
    assert "Campaign messages are off" in off[-1]
    await create_now(app, "Every member", "Second push")
    await app.press(CHAIR, "Confirm")
    assert await tick(app) == 0
    view = await app.press(CHAIR, "Refresh")
    assert "opted out 1" in view[-1]
    await app.send(WORKER, "/batthongbao")


async def test_an_idle_draft_is_resumed_in_one_press(app: TelegramHarness) -> None:
    await app.send(CHAIR, await admin_invite(app, "chair", "BPC-PR"))
    await app.onboard(WORKER)
    await app.send(WORKER, "/sangkien")
    await app.send(WORKER, "Cải tiến máy cắt mủ cao su")
    await app.send(WORKER, "/huy")
    assert app.engine is not None
    async with app.engine.begin() as conn:
        await conn.execute(update(draft_t).values(updated_at=utcnow() - timedelta(days=10)))
    await create_now(app, "draft untouched", "Finish your initiative, {ten}!",
                     ("7 days", "Skip", "Skip"))
    await app.press(CHAIR, "Confirm")
    assert await tick(app) == 1
    msg = await app.fake.wait_for_text(WORKER, "Finish your initiative")
    labels = [b["text"] for row in msg["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Go on with my draft"]
    seen = await app.press(WORKER, "Go on with my draft")
    assert "Describe" in seen[-1] or "description" in seen[-1].lower()


async def test_threshold_days_bloc_and_cluster_are_asked(app: TelegramHarness) -> None:
    await app.send(CHAIR, await admin_invite(app, "chair", "BPC-PR"))
    await app.onboard(WORKER)                   # BPC-PR-001: enterprise bloc, cluster 1

    # Lagging units: the share, typed; out of range is refused and asked again.
    await app.send(CHAIR, "/chiendich")
    await app.press(CHAIR, "New campaign")
    asked = await app.press(CHAIR, "behind their target")
    assert "below what share" in asked[-1]
    assert app.labels(CHAIR) == ["30%", "50%", "80%", "‹ Cancel"]
    wrong = await app.send(CHAIR, "150")
    assert "Type a whole number from 1 to 100." in wrong[-1]
    assert "below what share" in wrong[-1] and "30%" in app.labels(CHAIR)
    blocs = await app.send(CHAIR, "45%")
    assert "Only one bloc?" in blocs[-1]
    assert app.labels(CHAIR) == ["enterprise bloc",
                                 "administrative and public-service bloc", "other bloc", "Skip",
                                 "‹ Cancel"]
    clusters = await app.press(CHAIR, "Skip")
    assert "Only one emulation cluster?" in clusters[-1]
    assert app.labels(CHAIR)[:2] == ["Cụm thi đua số 1 (Phú Riềng)",
                                     "Cụm thi đua số 2 (Phú Riềng)"]
    await app.press(CHAIR, "Skip")
    await app.press(CHAIR, "Now")
    preview = await app.send(CHAIR, "Keep going")
    assert "target reached: below 45%" in preview[-1]
    await app.press(CHAIR, "Cancel")

    # Idle drafts: the days, from a button.
    preview = await create_now(app, "draft untouched", "Finish it", ("14 days", "Skip", "Skip"))
    assert "drafts left for 14 days" in preview[-1]
    await app.press(CHAIR, "Cancel")
    await app.send(CHAIR, "/chiendich")
    await app.press(CHAIR, "New campaign")
    await app.press(CHAIR, "draft untouched")
    wrong = await app.send(CHAIR, "0")
    assert "Type a number of days from 1 to 365." in wrong[-1]
    assert "Only one bloc?" in (await app.send(CHAIR, "10"))[-1]
    await app.press(CHAIR, "‹ Cancel")

    # A bloc the worker is not in: nobody; the worker's cluster: the worker.
    preview = await create_now(app, "Every member", "Public service only",
                               ("public-service bloc", "Skip"))
    assert "Recipients: 0" in preview[-1] and "public-service bloc" in preview[-1]
    await app.press(CHAIR, "Cancel")
    preview = await create_now(app, "Every member", "Cluster one",
                               ("Skip", "Cụm thi đua số 1"))
    assert "Recipients: 1" in preview[-1] and "Cụm thi đua số 1 (Phú Riềng)" in preview[-1]
    await app.press(CHAIR, "Confirm")
    assert await tick(app) == 1
    await app.fake.wait_for_text(WORKER, "Cluster one")
    view = await app.press(CHAIR, "Refresh")
    assert "failed 0 · unreachable 0 · cancelled 0" in view[-1]
