"""Onboarding, roles and invites, registering for a worker, claims and account links.

Driven through the core on an in-memory database; the same paths run end to end over the
fake Bot API in test_e2e_people.py.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.core import Core
from storage import access, queries
from storage.engine import utcnow
from storage.models import (
    account_t,
    draft_t,
    initiative_t,
    one_time_code_t,
    person_t,
    role_grant_t,
)
from tests.driver import Chat
from tests.test_flow import DESC, TITLE, rows, to_benefit


async def invite(core: Core, role: str, unit_code: str, *, days: int = 7) -> str:
    """What `sangkien invite` does (the CLI is tested in test_cli.py)."""
    async with core.engine.begin() as conn:
        def make(c):  # noqa: ANN001, ANN202
            unit = queries.unit_by_code(c, unit_code)
            now = utcnow()
            return access.create_code(c, purpose="invite", role=role, unit_id=unit.id, now=now,
                                      expires_at=now + timedelta(days=days))
        return await conn.run_sync(make)


async def test_onboarding_asks_language_union_and_name(mem_core: Core) -> None:
    chat = Chat(mem_core, "w1")
    seen = await chat.say("/start")
    assert "Welcome" in seen and chat.labels() == ["Tiếng Việt", "English"]
    await chat.press("English")
    await chat.say("cao su phu rieng")
    await chat.press("Cao su")
    seen = await chat.press("Use «Nguyễn Văn A»")
    assert "profile is saved" in seen
    seen = await chat.say("/hoso")
    assert "Nguyễn Văn A" in seen and "Cao su Phú Riềng" in seen
    await chat.press("Change name")
    seen = await chat.say("Nguyễn Văn Ân")
    assert "Name: Nguyễn Văn Ân" in seen
    # The direct superior union of the grassroots union is offered first.
    await to_benefit(chat)
    await chat.press("Not quantifiable")
    await chat.press("No co-authors")
    assert chat.labels()[0].startswith("✓ LĐLĐ huyện Phú Riềng")


async def test_deep_link_preselects_the_grassroots_union(mem_core: Core) -> None:
    chat = Chat(mem_core, "w2")
    seen = await chat.say("/start BPC-PR-002")
    assert "Your grassroots union" in seen
    await chat.press("English")
    await chat.say("Lê Thị Hoa")
    [person] = await rows(mem_core, select(person_t))
    assert person["name"] == "Lê Thị Hoa" and person["onboarded"]
    [unit] = await rows(mem_core, select(person_t.c.unit_id))
    async with mem_core.engine.connect() as conn:
        code = await conn.run_sync(lambda c: queries.units_by_ids(c, [unit["unit_id"]]))
    assert code[unit["unit_id"]].code == "BPC-PR-002"
    seen = await Chat(mem_core, "w3").say("/start NO-SUCH-UNIT")
    assert "not valid" in seen


async def test_invites_roles_and_revocation(mem_core: Core) -> None:
    chair, member, other = Chat(mem_core, "chair"), Chat(mem_core, "member"), Chat(mem_core, "x")
    code = await invite(mem_core, "chair", "BPC-PR")
    seen = await chair.say(code.lower())  # typed, any case
    assert "now chair of LĐLĐ huyện Phú Riềng" in seen
    assert "Support team" in chair.labels()
    await chair.say("/moi")
    seen = await chair.press("New invite code")
    team_code = seen.split("code for the support team: ")[1].split()[0]
    seen = await member.say(f"/start {team_code}")
    assert "now support team of LĐLĐ huyện Phú Riềng" in seen
    assert "already been used" in await other.say(team_code)
    assert "not valid" in await other.say("MOI-ZZZZZZZZ")
    # Help lists the reviewer commands to those who hold a role, /moi to chairs only (in
    # English help, by their English aliases /pending and /invite).
    assert "/pending" not in await other.say("/trogiup")
    seen = await member.say("/trogiup")
    assert "/pending" in seen and "/invite" not in seen
    assert "/invite" in await chair.say("/trogiup")
    # Only a chair can invite.
    assert "Only a union chair" in await member.say("/moi")
    # The chair removes the member; the member loses the right to register for others.
    seen = await chair.say("/moi")
    assert "Nguyễn Văn A — support team" in seen
    await chair.press("Remove")
    assert "Only a support team" in await member.say("/khaiho")
    [grant] = await rows(mem_core, select(role_grant_t).where(role_grant_t.c.role == "support"))
    assert grant["revoked_at"] is not None


async def test_expired_and_withdrawn_codes(mem_core: Core) -> None:
    code = await invite(mem_core, "chair", "KGG-VT")
    async with mem_core.engine.begin() as conn:
        await conn.execute(update(one_time_code_t).values(expires_at=utcnow() - timedelta(1)))
    assert "expired" in await Chat(mem_core, "late").say(code)
    chair = Chat(mem_core, "chair2")
    await chair.say(await invite(mem_core, "chair", "KGG-VT"))
    await chair.say("/moi")
    await chair.press("New invite code")
    seen = await chair.press("Withdraw")
    assert "Code withdrawn" in seen
    [row] = await rows(mem_core, select(one_time_code_t).where(
        one_time_code_t.c.created_by.is_not(None)))
    assert "withdrawn" in await Chat(mem_core, "y").say(row["code"])


async def register_for(helper: Chat, author_unit: str) -> str:
    await helper.say("/khaiho")
    await helper.say("Phạm Văn Đức")
    await helper.say("0912 345 678")
    await helper.say(author_unit)
    return await helper.press("(demo)")


async def behalf_to_summary(helper: Chat) -> str:
    """From the title to the summary of an initiative registered for Phạm Văn Đức."""
    await helper.say(TITLE)
    await helper.say(DESC)
    await helper.press("Safety")
    await helper.say("05/2022")
    await helper.press("Yes, it is recognised")
    await helper.say("50tr")
    await helper.press("Yes")
    await helper.press("No co-authors")
    await helper.press("✓ LĐLĐ huyện Phú Riềng")
    return await helper.press("Skip")  # no attachments: the summary


async def test_support_team_registers_for_a_worker_who_later_claims_it(mem_core: Core) -> None:
    helper = Chat(mem_core, "helper")
    await helper.say(await invite(mem_core, "support", "BPC-PR"))
    seen = await register_for(helper, "cao su phu rieng")
    assert "Step 4 of 12" in seen
    seen = await behalf_to_summary(helper)
    assert "Registered for: Phạm Văn Đức" in seen and "Authors: Phạm Văn Đức" in seen
    seen = await helper.press("Submit")
    claim = seen.split("give them this code: ")[1].split(".")[0]
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["person_id"] is None and ini["author_phone"] == "0912345678"
    [helper_account] = await rows(mem_core, select(account_t).where(
        account_t.c.external_id == "helper"))
    assert ini["entered_by"] == helper_account["person_id"]
    worker = Chat(mem_core, "worker")
    seen = await worker.say(claim)
    assert "linked to your account" in seen
    assert "SK-000001" in await worker.say("/cuatoi")


async def test_support_team_is_refused_outside_its_scope(mem_core: Core) -> None:
    helper = Chat(mem_core, "helper")
    await helper.say(await invite(mem_core, "support", "BPC-PR"))
    seen = await register_for(helper, "sa dec")  # a grassroots union in Đồng Tháp
    assert "only for workers of the unions your support team looks after" in seen
    assert "Only a support team" in await Chat(mem_core, "nobody").say("/khaiho")


async def test_linking_two_channels_merges_drafts(mem_core: Core) -> None:
    tg = Chat(mem_core, "tg-1", channel="telegram")
    zl = Chat(mem_core, "zl-1", channel="zalo")
    await tg.say("/sangkien")
    await tg.say("Sáng kiến viết trên Telegram")
    await zl.say("/sangkien")
    await zl.say("Sáng kiến viết trên Zalo nè")
    assert "middle" in await tg.say("/lienket")  # mid-draft: asks first
    seen = await tg.press("Link accounts")
    code = seen.split("minutes: ")[1].split()[0]
    assert "OTHER" in await tg.say(code)
    # Mid-draft a code is just text (here: a description too short); at home it is a code,
    # and nothing is merged before the person typing it has said that account is theirs.
    assert "Accounts linked" not in await zl.say(code)
    await zl.say("/huy")
    seen = await zl.say(code)
    assert "Link this chat with the account of" in seen and "Telegram" in seen
    assert len({d["person_id"] for d in await rows(mem_core, select(draft_t))}) == 2
    assert "Accounts linked" in await zl.press("Yes")
    await zl.say("/nhap")
    titles = " ".join(zl.labels())
    assert "Telegram" in titles and "Zalo" in titles
    people = await rows(mem_core, select(person_t))
    assert len(people) == 2  # the absorbed person row stays, owning nothing


async def test_attachments_by_path_in_the_terminal(mem_core: Core, tmp_path) -> None:  # noqa: ANN001
    proof = tmp_path / "anh-chup.jpg"
    proof.write_bytes(b"\xff\xd8fake")
    chat = Chat(mem_core, "att")
    await to_benefit(chat)
    await chat.press("Not quantifiable")
    await chat.press("No co-authors")
    await chat.say("phu rieng")
    await chat.press("Phú Riềng")
    seen = await chat.say(str(proof))
    assert "Attached so far: 1" in seen
    assert "Send a photo" in await chat.say("không phải đường dẫn")
    out = await chat.event("file", "", )
    assert "Attached so far" in Chat.text_of(out)
    seen = await chat.press("Done")
    assert "Attachments: 2" in seen


async def test_a_link_code_never_hands_a_chairs_roles_to_whoever_made_it(mem_core: Core) -> None:
    """An attacker makes a link code and gets a chair to type it: the chair is told whose
    account it is, and even saying yes links nothing while either holds a role."""
    chair = Chat(mem_core, "chair")
    await chair.say(await invite(mem_core, "chair", "BPC-PR"))
    attacker = Chat(mem_core, "attacker", channel="zalo")
    seen = await attacker.say("/lienket")
    code = seen.split("minutes: ")[1].split()[0]
    seen = await chair.say(code)
    assert "Link this chat with the account of" in seen and "Zalo" in seen
    assert "administrator" in await chair.press("Yes")
    assert "Only support teams and chairs" in await attacker.say("/choduyet")
    people = {a["external_id"]: a["person_id"] for a in await rows(mem_core, select(account_t))}
    assert people["chair"] != people["attacker"]
    [grant] = await rows(mem_core, select(role_grant_t))
    assert grant["person_id"] == people["chair"]
    # Saying no leaves the code unused; two people without roles may link.
    worker = Chat(mem_core, "worker")
    await worker.say(code)
    assert "Nothing was linked" in await worker.press("No")
    await worker.say(code)
    assert "Accounts linked" in await worker.press("Yes")


async def test_a_support_member_removed_mid_draft_cannot_submit_for_a_worker(
    mem_core: Core,
) -> None:
    """Scope is checked again at submit, not only when the author's union was picked."""
    chair, helper = Chat(mem_core, "chair"), Chat(mem_core, "helper")
    await chair.say(await invite(mem_core, "chair", "BPC-PR"))
    await chair.say("/moi")
    seen = await chair.press("New invite code")
    await helper.say(f"/start {seen.split('code for the support team: ')[1].split()[0]}")
    await register_for(helper, "cao su phu rieng")
    assert "Registered for: Phạm Văn Đức" in await behalf_to_summary(helper)
    await chair.say("/moi")
    await chair.press("Remove")
    seen = await helper.press("Submit")
    assert "only for workers of the unions your support team looks after" in seen
    assert await rows(mem_core, select(initiative_t)) == []
