"""The outbox contract shared with campaigns: priorities, `enqueue_many`, counts by key
prefix; an alert never waits behind a long broadcast. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import outbox
from storage.engine import utcnow
from tests.test_outbox import add_accounts, rows, run


def campaign_rows(campaign: int, chats: range, **extra: Any) -> list[dict[str, Any]]:
    return [{"channel": "telegram", "chat_id": str(chat), "account_id": None,
             "kind": "campaign", "locale": "vi", "text": f"Chiến dịch {campaign}",
             "options": [], "dedupe_key": f"camp:{campaign}:s1:{chat}", "priority": 9,
             **extra} for chat in chats]


def claim(conn: Connection, limit: int = 50, **kw: Any) -> list[dict[str, Any]]:
    return outbox.claim_due(conn, now=kw.pop("now", utcnow()), limit=limit, lease_seconds=60,
                            channels=["telegram"], **kw)


async def test_enqueue_many_skips_known_keys_and_counts_by_prefix(db: AsyncEngine) -> None:
    now = utcnow()
    first = await run(db, lambda c: outbox.enqueue_many(
        c, rows=campaign_rows(12, range(1000, 1005)), now=now))
    # A restart of the expansion: the same keys again, and two new recipients.
    again = await run(db, lambda c: outbox.enqueue_many(
        c, rows=campaign_rows(12, range(1003, 1007)), now=now))
    other = await run(db, lambda c: outbox.enqueue_many(
        c, rows=campaign_rows(123, range(1000, 1003)), now=now))
    assert (first, again, other) == (5, 2, 3)
    assert await run(db, lambda c: outbox.enqueue_many(c, rows=[], now=now)) == 0
    found = list((await rows(db)).values())
    assert {r["priority"] for r in found} == {9} and {r["kind"] for r in found} == {"campaign"}
    # Many statements when over the chunk size.
    big = await run(db, lambda c: outbox.enqueue_many(
        c, rows=campaign_rows(7, range(outbox.MANY_CHUNK + 10)), now=now))
    assert big == outbox.MANY_CHUNK + 10

    await run(db, lambda c: outbox.mark_sent(c, ids=[found[0]["id"]], now=now))
    # "camp:12:" does not take campaign 123's rows, nor "camp:1:" campaign 12's.
    assert await run(db, lambda c: outbox.counts(c, key_prefix="camp:12:")) == {
        "sent": 1, "pending": 6}
    assert await run(db, lambda c: outbox.counts(c, key_prefix="camp:123:")) == {"pending": 3}
    assert await run(db, lambda c: outbox.counts(c, key_prefix="camp:1:")) == {}
    assert await run(db, lambda c: outbox.counts(c)) == {
        "sent": 1, "pending": 6 + 3 + outbox.MANY_CHUNK + 10}
    with pytest.raises(ValueError, match="priority"):
        await run(db, lambda c: outbox.enqueue_many(
            c, rows=campaign_rows(1, range(1), priority=10), now=now))


async def test_claims_take_priority_then_due_time_then_age(db: AsyncEngine) -> None:
    chats = [9101, 9102, 9103, 9104]
    accounts = await add_accounts(db, chats)
    now = utcnow()

    def enqueue(conn: Connection) -> dict[str, int | None]:
        def one(name: str, chat: int, priority: int, **kw: Any) -> int | None:
            return outbox.enqueue(conn, channel="telegram", chat_id=str(chat),
                                  account_id=accounts[chat], kind="alert", locale="vi",
                                  text=name, options=[], now=now, priority=priority, **kw)
        return {
            "campaign": one("campaign", 9101, 9),
            "digest": one("digest", 9102, 5),
            "alert_late": one("alert_late", 9103, 0),
            "alert_early": one("alert_early", 9104, 0,
                               not_before=now - timedelta(minutes=1)),
            # Same chat as the campaign row: the alert overtakes it, the campaign waits.
            "alert_same_chat": one("alert_same_chat", 9101, 0),
        }

    ids = await run(db, enqueue)
    got = [r["text"] for r in await run(db, claim)]
    assert got == ["alert_early", "alert_late", "alert_same_chat", "digest"]
    await run(db, lambda c: outbox.mark_sent(c, ids=[ids["alert_same_chat"]], now=now))
    assert [r["text"] for r in await run(db, claim)] == ["campaign"]


async def test_an_alert_is_claimed_first_behind_5000_campaign_rows(db: AsyncEngine) -> None:
    now = utcnow()
    await run(db, lambda c: outbox.enqueue_many(
        c, rows=campaign_rows(1, range(100_000, 105_000)), now=now - timedelta(minutes=5)))
    alert = await run(db, lambda c: outbox.enqueue(
        c, channel="telegram", chat_id="42", account_id=None, kind="alert", locale="vi",
        text="Sáng kiến mới cần duyệt", options=[], now=now))
    first = await run(db, lambda c: claim(c, limit=30))
    assert first[0]["id"] == alert and len(first) == 30
    assert {r["kind"] for r in first[1:]} == {"campaign"}


async def test_paced_claims_hand_out_slots_and_a_long_text_takes_one_per_part(
        db: AsyncEngine) -> None:
    now = utcnow()
    texts = ["x" * 9000, "short", "short too"]   # 9,000 characters: three Telegram messages
    await run(db, lambda c: outbox.enqueue_many(c, now=now - timedelta(seconds=1), rows=[
        {"channel": "telegram", "chat_id": str(500 + i), "account_id": None, "kind": "alert",
         "locale": "vi", "text": text, "options": [], "dedupe_key": f"t:{i}"}
        for i, text in enumerate(texts)]))
    pace = {"telegram": outbox.Pace(10.0, 1.0, horizon=5.0)}
    got = await run(db, lambda c: claim(c, now=now, pace=pace))
    start = got[0]["send_at"]
    assert start >= now
    assert [round((r["send_at"] - start).total_seconds(), 3) for r in got] == [0.0, 0.3, 0.4]
    # The next claim's slots follow on, whichever process takes them.
    await run(db, lambda c: outbox.enqueue(
        c, channel="telegram", chat_id="600", account_id=None, kind="alert", locale="vi",
        text="next", options=[], now=now - timedelta(seconds=1)))
    nxt = await run(db, lambda c: claim(c, now=now, pace=pace))
    assert round((nxt[0]["send_at"] - start).total_seconds(), 3) == 0.5
