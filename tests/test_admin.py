"""An administrator may do everything: the options the home menu and /trogiup show an admin
are the ones the gates behind them let through (/choduyet, /khaiho, /moi, decisions)."""

from __future__ import annotations

from sqlalchemy import select

from bot.core import Core
from storage.models import initiative_t, one_time_code_t
from tests.driver import Chat
from tests.test_flow import rows
from tests.test_people import invite, register_for
from tests.test_review import submit

NATIONAL = "VN"  # the root of bot/data/demo_units.csv


async def national_admin(core: Core) -> Chat:
    admin = Chat(core, "admin")
    seen = await admin.say(await invite(core, "admin", NATIONAL))
    assert "now administrator of Tổng Liên đoàn Lao động Việt Nam" in seen
    return admin


async def test_admin_sees_the_reviewer_and_chair_options(mem_core: Core) -> None:
    admin = await national_admin(mem_core)
    labels = admin.labels()
    for option in ("To review", "Register for a worker", "Support team"):
        assert option in labels
    seen = await admin.say("/trogiup")
    # English help, English aliases of /choduyet, /khaiho, /moi.
    assert "/pending" in seen and "/behalf" in seen and "/invite" in seen
    assert admin.labels() == labels  # the home menu again, the same options


async def test_admin_reviews_with_choduyet(mem_core: Core) -> None:
    admin = await national_admin(mem_core)
    worker = Chat(mem_core, "worker")
    await worker.say("/start BPC-PR-001")
    await worker.press("English")
    await worker.press("Use")
    code = await submit(worker)
    seen = await admin.say("/choduyet")
    assert "Only support teams" not in seen and "Waiting for review" in seen and code in seen
    seen = await admin.press(code)
    assert "Description" in seen and "Valid" in admin.labels()
    await admin.press("Valid")
    seen = await admin.press("Yes, confirm")
    assert f"{code} is now valid" in seen
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["status"] == "valid"
    # An administrator holds the chair's role too: the decision can be reopened.
    await admin.say(f"/xem {code}")
    seen = await admin.press("Reopen")
    assert f"{code} is now under review" in seen


async def test_admin_registers_for_a_worker_with_khaiho(mem_core: Core) -> None:
    admin = await national_admin(mem_core)
    seen = await register_for(admin, "cao su phu rieng")
    assert "Only a support team" not in seen and "Step 4 of 12" in seen


async def test_admin_invites_with_moi(mem_core: Core) -> None:
    admin = await national_admin(mem_core)
    seen = await admin.say("/moi")
    assert "Only a union chair" not in seen and "Your support team" in seen
    seen = await admin.press("New invite code: Tổng Liên đoàn")
    team_code = seen.split("code for the support team: ")[1].split()[0]
    [row] = await rows(mem_core, select(one_time_code_t).where(
        one_time_code_t.c.code == team_code))
    assert row["role"] == "support"
    member = Chat(mem_core, "member")
    assert "now support team of Tổng Liên đoàn" in await member.say(team_code)
    # The grant the admin made is listed, and only that one can be removed.
    seen = await admin.say("/moi")
    assert "Nguyễn Văn A — support team" in seen
    assert "Removed from the support team" in await admin.press("Remove")
