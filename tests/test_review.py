"""The review workflow through the core: alerts written to the outbox, decisions, the
author's side, scope refusals, concurrent reviewers, digests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from bot.formatting import html_to_plain
from bot.services.digests import compose_digests
from storage.models import (
    account_t,
    initiative_event_t,
    initiative_t,
    outbox_t,
    pending_alert_t,
    person_t,
)
from tests.driver import Chat
from tests.test_flow import rows, walk_to_summary
from tests.test_people import invite


async def setup_people(core: Core) -> tuple[Chat, Chat, Chat]:
    """A chair of LĐLĐ huyện Phú Riềng, a support team member of a grassroots union under it,
    and a worker of that grassroots union."""
    chair, helper, worker = Chat(core, "chair"), Chat(core, "helper"), Chat(core, "worker")
    await chair.say(await invite(core, "chair", "BPC-PR"))
    await helper.say(await invite(core, "support", "BPC-PR-001"))
    await worker.say("/start BPC-PR-001")
    await worker.press("English")
    await worker.press("Use")
    return chair, helper, worker


async def submit(worker: Chat) -> str:
    await walk_to_summary(worker)
    seen = await worker.press("Submit")
    return seen.split("code is ")[1].split(".")[0]


async def outbox_rows(core: Core, **where: object) -> list[dict]:
    stmt = select(outbox_t).order_by(outbox_t.c.id)
    for k, v in where.items():
        stmt = stmt.where(outbox_t.c[k] == v)
    return [dict(r) for r in await rows(core, stmt)]


async def test_alerts_go_to_the_receiving_union_and_the_authors_support_team(
    mem_core: Core,
) -> None:
    chair, helper, worker = await setup_people(mem_core)
    out = await worker.event("command", "sangkien")
    assert not out.enqueued
    await worker.say("/huy")
    code = await submit(worker)
    alerts = await outbox_rows(mem_core, kind="alert")
    assert sorted(a["chat_id"] for a in alerts) == ["chair", "helper"]
    assert all(code in a["text"] and "Nguyễn Văn A" in a["text"] for a in alerts)
    assert '"a:valid:' in alerts[0]["options"] and f"/hople {code}" in alerts[0]["options"]
    assert worker.last is not None and worker.last.enqueued


async def test_a_full_review_cycle(mem_core: Core) -> None:
    chair, _helper, worker = await setup_people(mem_core)
    code = await submit(worker)
    [ini] = await rows(mem_core, select(initiative_t))
    # The chair returns it for revision from the alert's button: a reason is required.
    seen = Chat.text_of(await chair.event("choice", f"a:revise:{ini['id']}"))
    assert "Why?" in seen
    assert "5–1,000" in await chair.say("ngắn")
    seen = await chair.say("Cần bổ sung số liệu tiết kiệm điện năng")
    assert "needs revision" in seen
    [notice] = await outbox_rows(mem_core, kind="decision", chat_id="worker")
    assert "Cần bổ sung số liệu" in notice["text"] and '"a:edit:' in notice["options"]
    # The author edits and resubmits; the reviewers are alerted again.
    seen = Chat.text_of(await worker.event("choice", f"a:edit:{ini['id']}"))
    assert "Editing" in seen and "Submit it?" in seen
    await worker.press("Edit a field")
    await worker.press("Title")
    await worker.say("Cải tiến dây chuyền đóng gói, có số liệu")
    seen = await worker.press("Submit")
    assert "under review" in seen
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["status"] == "under_review"
    assert ini["title"] == "Cải tiến dây chuyền đóng gói, có số liệu"
    assert len(await outbox_rows(mem_core, kind="alert", chat_id="chair")) == 2
    # Valid: final (so confirmed first) unless the chair reopens it.
    assert "This is a final decision" in await chair.say(f"/hople {code}")
    assert "now valid" in await chair.say("yes")
    assert "already valid" in await chair.say(f"/hople {code}")
    assert "is valid: only an initiative under review can be withdrawn" in await worker.say(
        f"/rut {code}")
    assert "now under review" in await chair.say(f"/moilai {code}")
    assert "no longer be reviewed" in await worker.say(f"/rut {code}")
    assert "now withdrawn" in await worker.press("Yes, confirm")
    history = await rows(mem_core, select(initiative_event_t).order_by(initiative_event_t.c.id))
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "under_review"), ("under_review", "needs_revision"),
        ("needs_revision", "under_review"), ("under_review", "valid"),
        ("valid", "under_review"), ("under_review", "withdrawn")]
    assert history[1]["reason"] == "Cần bổ sung số liệu tiết kiệm điện năng"
    seen = await worker.say(f"/xem {code}")
    assert "History" in seen and "Cần bổ sung số liệu" in seen


async def test_refusals_outside_the_scope(mem_core: Core) -> None:
    _chair, _helper, worker = await setup_people(mem_core)
    code = await submit(worker)
    outsider = Chat(mem_core, "outsider")
    await outsider.say(await invite(mem_core, "chair", "THA"))
    for cmd in (f"/xem {code}", f"/hople {code}", f"/bosung {code} lý do gì đó",
                f"/moilai {code}"):
        assert "not allowed" in await outsider.say(cmd), cmd
    stranger = Chat(mem_core, "stranger")
    assert "not allowed" in await stranger.say(f"/xem {code}")
    assert "Only support teams and chairs" in await stranger.say("/choduyet")
    assert "not allowed" in await stranger.say(f"/rut {code}")
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["status"] == "under_review"


async def test_pending_queue_oldest_first(mem_core: Core) -> None:
    chair, _helper, worker = await setup_people(mem_core)
    codes = [await submit(worker) for _ in range(6)]
    seen = await chair.say("/choduyet")
    assert seen.index(codes[0]) < seen.index(codes[4]) and codes[5] not in seen
    seen = await chair.press("Older")
    assert codes[5] in seen
    seen = await chair.press(codes[5])
    assert "Valid" in chair.labels() and "Description" in seen


async def alert_mode_of(core: Core, external_id: str) -> str:
    [p] = await rows(core, select(person_t.c.alert_mode).join(
        account_t, account_t.c.person_id == person_t.c.id).where(
        account_t.c.external_id == external_id))
    return p["alert_mode"]


async def test_digest_instead_of_alerts(mem_core: Core) -> None:
    chair, _helper, worker = await setup_people(mem_core)
    assert await alert_mode_of(mem_core, "chair") == "instant"
    seen = await chair.say("/thongbao")        # the setting shown first, nothing changed
    assert "Now: An alert for each new initiative" in seen
    assert await alert_mode_of(mem_core, "chair") == "instant"
    assert "one digest a day" in await chair.press("One summary a day")
    assert await alert_mode_of(mem_core, "chair") == "digest"
    await submit(worker)
    await submit(worker)
    assert await outbox_rows(mem_core, kind="alert", chat_id="chair") == []
    held = await rows(mem_core, select(pending_alert_t))
    assert len(held) == 2
    async with mem_core.engine.begin() as conn:
        await conn.execute(update(pending_alert_t).values(
            created_at=datetime(2026, 11, 23, 1, 0, tzinfo=UTC)))
    at = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)  # 17:05 in Vietnam
    async with mem_core.engine.begin() as conn:
        early = await conn.run_sync(lambda c: compose_digests(
            conn=c, now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))
        first = await conn.run_sync(lambda c: compose_digests(conn=c, now=at))
        again = await conn.run_sync(lambda c: compose_digests(conn=c, now=at))
    assert (early, first, again) == (0, 1, 0)
    [digest] = await outbox_rows(mem_core, kind="digest")
    assert digest["chat_id"] == "chair" and digest["text"].count("SK-") == 2
    await chair.say("/thongbao")
    assert "now get an alert" in await chair.press("An alert for each")
    assert await alert_mode_of(mem_core, "chair") == "instant"


async def test_two_reviewers_decide_at_once(db_factory: Callable[[], AsyncEngine]) -> None:
    """Two processes, two reviewers, the same initiative: exactly one decision wins."""
    engines = [db_factory(), db_factory()]
    cores = [Core(e, default_locale="en") for e in engines]
    try:
        chair, helper, worker = await setup_people(cores[0])
        await submit(worker)
        [ini] = await rows(cores[0], select(initiative_t))
        reviewer_b = Chat(cores[1], "reviewer-b")  # the other process
        await reviewer_b.say(await invite(cores[0], "support", "BPC-PR"))
        await chair.say(f"/hople {ini['code']}")                       # both asked to confirm
        await reviewer_b.say(f"/khonghople {ini['code']} trùng với sáng kiến khác")
        results = await asyncio.gather(chair.event("text", "yes"), reviewer_b.event("text", "yes"))
        texts = [Chat.text_of(r) for r in results]
        lost = [t for t in texts if "already" in t]
        won = [t for t in texts if " is now " in t and t not in lost]
        assert len(won) == 1 and len(lost) == 1, texts
        events = await rows(cores[0], select(initiative_event_t).where(
            initiative_event_t.c.from_status == "under_review"))
        assert len(events) == 1
        del helper, chair
    finally:
        for c in cores:
            await c.aclose()
        for e in engines:
            await e.dispose()


async def test_a_user_who_writes_again_is_reachable_again(mem_core: Core) -> None:
    from storage.models import account_t

    chat = Chat(mem_core, "blocked-once")
    await chat.say("/start")
    async with mem_core.engine.begin() as conn:
        await conn.execute(update(account_t).values(reachable=False))
    await chat.say("/trogiup")
    [acc] = await rows(mem_core, select(account_t.c.reachable))
    assert acc["reachable"] is True


async def test_the_authors_support_team_helps_and_does_not_decide(mem_core: Core) -> None:
    """The support team of the author's grassroots union is told, may open the initiative and
    sees it in its list, but gets no decision buttons; the receiving union decides."""
    chair, helper, worker = await setup_people(mem_core)
    code = await submit(worker)
    [ini] = await rows(mem_core, select(initiative_t))
    [to_helper] = await outbox_rows(mem_core, kind="alert", chat_id="helper")
    [to_chair] = await outbox_rows(mem_core, kind="alert", chat_id="chair")
    assert '"a:view:' in to_helper["options"] and '"a:valid:' not in to_helper["options"]
    assert "for your information" in to_helper["text"]
    assert '"a:valid:' in to_chair["options"]
    seen = await helper.say(f"/xem {code}")
    assert "not allowed" not in seen and "First applied" in seen
    assert not {"Valid", "Needs revision", "Invalid"} & set(helper.labels())
    assert code in await helper.say("/choduyet")
    seen = Chat.text_of(await helper.event("choice", f"a:valid:{ini['id']}"))
    assert "not allowed" in seen
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["status"] == "under_review"


async def test_final_decisions_are_confirmed_with_their_reason(mem_core: Core) -> None:
    chair, _helper, worker = await setup_people(mem_core)
    code = await submit(worker)
    [ini] = await rows(mem_core, select(initiative_t))
    Chat.text_of(await chair.event("choice", f"a:invalid:{ini['id']}"))
    seen = await chair.say("Trùng với sáng kiến đã công nhận năm trước")
    assert "as invalid, with the reason «Trùng với sáng kiến đã công nhận năm trước»" in seen
    assert "Nothing was changed" in await chair.press("Cancel")
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["status"] == "under_review"
    assert "final decision" in await chair.say(f"/khonghople {code} Không đủ điều kiện")
    assert "now invalid" in await chair.press("Yes, confirm")


async def test_nobody_decides_on_their_own_initiative(mem_core: Core) -> None:
    """A chair who writes an initiative to their own union: another reviewer decides."""
    chair = Chat(mem_core, "chair")
    await chair.say(await invite(mem_core, "chair", "BPC-PR"))
    await chair.onboard()
    code = await submit(chair)
    [ini] = await rows(mem_core, select(initiative_t))
    assert "another reviewer must decide" in await chair.say(f"/hople {code}")
    seen = Chat.text_of(await chair.event("choice", f"a:valid:{ini['id']}"))
    assert "another reviewer must decide" in seen
    seen = await chair.say(f"/xem {code}")
    assert "First applied" in seen and "Valid" not in chair.labels()
    [ini] = await rows(mem_core, select(initiative_t))
    assert ini["status"] == "under_review"


async def test_the_alert_card_says_the_authors_union_recognition_and_what_changed(
        mem_core: Core) -> None:
    chair, _helper, worker = await setup_people(mem_core)
    code = await submit(worker)
    [alert] = await outbox_rows(mem_core, kind="alert", chat_id="chair")
    assert "Author's grassroots union: CĐCS Công ty TNHH Cao su Phú Riềng" in html_to_plain(
        alert["text"])
    assert "Recognised by the unit's council: yes" in html_to_plain(alert["text"])
    await chair.say(f"/bosung {code} Cần thêm số liệu cụ thể")
    await worker.say(f"/suasangkien {code}")
    await worker.press("Edit a field")
    await worker.press("Benefit value")
    await worker.say("300 triệu")
    await worker.press("Yes")
    await worker.press("Submit")
    alerts = await outbox_rows(mem_core, kind="alert", chat_id="chair")
    assert "Changed: benefit value" in alerts[-1]["text"]


async def test_a_chair_sees_and_manages_the_whole_support_team(mem_core: Core) -> None:
    """Members invited by an administrator are the chair's team too."""
    chair = Chat(mem_core, "chair")
    await chair.say(await invite(mem_core, "chair", "BPC-PR"))
    member = Chat(mem_core, "member")
    await member.say(await invite(mem_core, "support", "BPC-PR"))   # by the shell
    seen = await chair.say("/moi")
    assert "Nobody yet" not in seen and "Nguyễn Văn A — support team" in seen
    assert "Removed" in await chair.press("Remove")
    assert "Only support teams and chairs" in await member.say("/choduyet")


async def test_imported_sk_codes_never_meet_the_bots_own(db: AsyncEngine, core: Core) -> None:
    """A file brings SK-000005 (and a row with no code, given SK-<its id>) before anything
    was submitted in the chat: the chat's initiatives after it get codes past 5, none taken
    twice (the code is unique: a collision would fail the submission)."""
    from bot import initiative_files

    data = ("code,title,author,grassroots_code,status,submitted_on\n"
            ",Không mã,Trần B,BPC-PR-001,valid,2026-11-02\n"
            "SK-000005,Máy hàn,Nguyễn A,BPC-PR-001,valid,2026-11-01\n").encode()
    now = datetime(2026, 11, 3, tzinfo=UTC)
    assert (await initiative_files.import_initiatives(db, data, now=now)).added == 2
    _chair, _helper, worker = await setup_people(core)
    codes = [await submit(worker) for _ in range(6)]
    got = {r["code"]: r for r in await rows(core, select(initiative_t))}
    assert len(got) == 8 and "SK-000005" in got and not set(codes) & {"SK-000005"}
    assert got["SK-000005"]["title"] == "Máy hàn"
    assert all(int(c.removeprefix("SK-")) == got[c]["id"] > 5 for c in codes), codes
