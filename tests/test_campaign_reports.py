"""Audiences 4 and 5 and the live placeholders, on progress figures (bot.services.progress)
rendered by /tiendo's and /bangxephang's code: each compared with the service read directly."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import render_progress as rp
from bot.campaign_delivery import delivery_from
from bot.campaign_schedule import Cap
from bot.config import Settings
from bot.services import progress as ps
from bot.services.actor import Actor
from storage import campaigns as store
from storage.models import account_t, outbox_t, role_grant_t, unit_t
from tests import campaign_data as data
from tests.test_campaigns import create, drain, run
from tests.test_progress import add, at, set_targets

SHELL = Actor.shell()
NOW = at(date(2022, 5, 12), 12)


def delivery() -> object:
    d = delivery_from(Settings(quiet_hours="", default_language="en"))
    d.cap = Cap(50, 50)
    d.batch = 3
    return d


def setup(conn: Connection) -> None:
    """Điện Biên as on 12/5/2022 (40% of its 10% target) with uneven grassroots unions."""
    set_targets(conn, "GĐ1", date(2022, 1, 24), date(2022, 5, 31),
                [("VN", None, "member_ratio", "0.10")])
    add(conn, grassroots="DBN-TP-001", status="valid", day=date(2022, 3, 1), n=100)
    add(conn, grassroots="DBN-TP-004", status="valid", day=date(2022, 4, 1), n=36)
    add(conn, grassroots="DBN-TP-002", status="under_review", day=date(2022, 5, 2), n=260)
    for code in ("DBN", "DBN-TP", "DBN-TP-001", "DBN-TP-002", "DBN-TP-003", "DBN-TP-004"):
        data.chair(conn, unit_code=code, now=NOW, name=f"chair {code}")
    data.chair(conn, unit_code="DBN-TP-003", now=NOW, role="support", name="support 003")


def messages(conn: Connection, campaign_id: int) -> dict[str, str]:
    """The person's name → the text they were sent."""
    from storage.models import person_t
    rows = conn.execute(select(person_t.c.name, outbox_t.c.text)
                        .join(account_t, account_t.c.person_id == person_t.c.id)
                        .join(outbox_t, outbox_t.c.account_id == account_t.c.id)
                        .where(store.campaign_rows(campaign_id)))
    return {name: text for name, text in rows}


def pct_of(conn: Connection, code: str) -> float | None:
    p = ps.progress(conn=conn, actor=SHELL, now=NOW, unit_code=code)
    assert isinstance(p, ps.Progress)
    return p.unit.pct


async def test_lagging_units_hear_their_own_figures(db: AsyncEngine) -> None:
    await run(db, setup)
    cid = await run(db, lambda c: create(c, now=NOW, unit_code="DBN",
                                         audience="lagging_units", below_pct=130,
                                         text="{donvi}: {phantram}, {conthieu} short"))
    await drain(db, NOW, delivery())
    sent = await run(db, lambda c: messages(c, cid))

    def expected(conn: Connection) -> set[str]:
        rows = conn.execute(select(unit_t.c.code, role_grant_t.c.role).join(
            role_grant_t, role_grant_t.c.unit_id == unit_t.c.id)).all()
        out = set()
        for code, role in rows:
            pct = pct_of(conn, code)
            if role in ("chair", "support") and pct is not None and pct < 130:
                out.add("support 003" if role == "support" else f"chair {code}")
        return out

    want = await run(db, expected)
    assert want and set(sent) == want
    p = await run(db, lambda c: ps.progress(conn=c, actor=SHELL, now=NOW, unit_code="DBN"))
    body = rp.progress_text(p, locale="en")
    assert body in sent["chair DBN"]                         # the /tiendo body itself
    assert "40%, 594 short" in sent["chair DBN"]            # the placeholders, live
    # its children below the line too (the city, at 120%), drawn as /tiendo draws them
    assert ("Unions below 130% of their target</b>:\nLĐLĐ thành phố Điện Biên Phủ — "
            in sent["chair DBN"])
    assert "chair DBN-TP-001" not in sent and "support 003" in sent


async def test_leaderboard_for_the_chairs_of_the_children(db: AsyncEngine) -> None:
    await run(db, setup)
    cid = await run(db, lambda c: create(c, now=NOW, unit_code="DBN-TP",
                                         audience="leaderboard", kind="weekly", weekday=3,
                                         at_time=NOW.astimezone().time().replace(
                                             hour=12, minute=0), text="Rank {hang}"))
    c = await run(db, lambda c: store.get(c, campaign_id=cid))
    await drain(db, c["next_due_at"], delivery())
    sent = await run(db, lambda c: messages(c, cid))
    assert set(sent) == {f"chair DBN-TP-00{i}" for i in range(1, 5)}   # not the district
    r = await run(db, lambda c: ps.ranking(conn=c, actor=SHELL, now=c_now(c),
                                           unit_code="DBN-TP"))
    board = rp.ranking_text(r, locale="en")
    for name, text in sent.items():
        assert board in text
        code = name.removeprefix("chair ")
        rank = next(row.rank for row in r.rows if row.unit.code == code)
        assert f"Rank {rank}" in text


def c_now(_conn: Connection) -> object:
    return NOW + timedelta(days=0)
