"""Never twice: a row is marked handed (committed) just before its send. A dead sender's
handed rows count as sent and are never sent again; its other rows are sent by another
sender; a sender whose row was taken over can neither hand it nor hand it back. And a late
send moves the channel's slots on only by what the shifts since its claim did not already."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
import telegram
from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import OutboxWorker
from handlers.telegram_sender import TelegramSender
from storage import outbox
from storage.engine import utcnow
from storage.models import outbox_channel_t, outbox_chat_t, outbox_sender_t
from storage.outbox import Pace
from tests.fakes.telegram_server import FakeTelegram
from tests.test_outbox import (
    CHATS,
    FAST,
    add_accounts,
    bot,  # noqa: F401  (fixtures)
    delivered,
    enqueue,
    fake,  # noqa: F401
    rows,
    run,
)

DEAD = "host:1:dead"


async def test_a_dead_senders_handed_row_is_never_sent_again(
        db: AsyncEngine, fake: FakeTelegram, bot: telegram.Bot) -> None:  # noqa: F811
    a, b, c = CHATS[:3]
    accounts = await add_accounts(db, [a, b, c])
    handed, claimed = await enqueue(db, [(a, "handed, then the sender died"),
                                         (b, "claimed, never handed")], accounts, priority=9)
    # An alert (priority 0) handed before the crash is sent again: at least once.
    (alert,) = await enqueue(db, [(c, "an alert, handed")], accounts)
    now = utcnow()

    def claim_and_hand(conn: Connection) -> bool:
        outbox.beat(conn, sender=DEAD, now=now)
        got = outbox.claim_due(conn, now=now, limit=10, lease_seconds=60,
                               channels=["telegram"], sender=DEAD, stale_seconds=10)
        assert sorted(r["id"] for r in got) == sorted([handed, claimed, alert])
        return (outbox.mark_handed(conn, id=handed, sender=DEAD, now=now)
                and outbox.mark_handed(conn, id=alert, sender=DEAD, now=now))

    assert await run(db, claim_and_hand)
    # Handed once only: a second mark (a confused sender) is refused.
    assert not await run(db, lambda c: outbox.mark_handed(c, id=handed, sender=DEAD,
                                                          now=now))
    # Its heartbeat goes stale: another sender takes its rows over.
    await run(db, lambda c: c.execute(update(outbox_sender_t).values(
        seen_at=now - timedelta(seconds=11))))
    worker = OutboxWorker(db, [TelegramSender(bot)], **FAST)
    while await worker.run_once():
        pass
    found = await rows(db)
    assert found[handed]["status"] == "sent"
    assert found[handed]["last_error"] == outbox.UNCERTAIN
    assert found[claimed]["status"] == "sent" and found[claimed]["last_error"] is None
    assert found[alert]["status"] == "sent" and found[alert]["last_error"] is None
    assert delivered(fake, [a, b, c]) == {a: [], b: ["claimed, never handed"],
                                          c: ["an alert, handed"]}
    # The dead sender, back from a stall, may not hand the row it lost either.
    assert not await run(db, lambda c: outbox.mark_handed(c, id=claimed, sender=DEAD,
                                                          now=utcnow()))


async def test_a_row_taken_over_cannot_be_handed_by_its_first_sender(db: AsyncEngine) -> None:
    accounts = await add_accounts(db, CHATS[:1])
    (row,) = await enqueue(db, [(CHATS[0], "one")], accounts)
    now = utcnow()

    def claim(conn: Connection, sender: str, at: timedelta) -> list[int]:
        outbox.beat(conn, sender=sender, now=now + at)
        return [r["id"] for r in outbox.claim_due(
            conn, now=now + at, limit=10, lease_seconds=60, channels=["telegram"],
            sender=sender, stale_seconds=10)]

    assert await run(db, lambda c: claim(c, DEAD, timedelta(0))) == [row]
    # Eleven seconds without a beat: the second sender takes the row (not yet handed).
    assert await run(db, lambda c: claim(c, "host:2:alive", timedelta(seconds=11))) == [row]
    assert not await run(db, lambda c: outbox.mark_handed(c, id=row, sender=DEAD, now=now))
    # Nor hand it back: the release of a row it no longer holds changes nothing.
    await run(db, lambda c: outbox.release(c, ids=[row], sender=DEAD))
    assert (await rows(db))[row]["claimed_by"] == "host:2:alive"
    assert await run(db, lambda c: outbox.mark_handed(c, id=row, sender="host:2:alive",
                                                      now=now))
    # A handed row is never handed back.
    await run(db, lambda c: outbox.release(c, ids=[row]))
    assert (await rows(db))[row]["status"] == "sending"
    # A retry hands the row back unhanded: the next attempt can be handed again.
    await run(db, lambda c: outbox.mark_retry(c, id=row, not_before=now, error="timed out",
                                              now=now))
    found = (await rows(db))[row]
    assert found["status"] == "pending" and found["sent_at"] is None


async def test_a_late_send_shifts_only_what_earlier_shifts_did_not(db: AsyncEngine) -> None:
    accounts = await add_accounts(db, CHATS[:3])
    await enqueue(db, [(chat, f"m{chat}") for chat in CHATS[:3]], accounts)
    now = utcnow()
    pace = {"telegram": Pace(10.0, 1.0)}
    got = await run(db, lambda c: outbox.claim_due(
        c, now=now, limit=10, lease_seconds=60, channels=["telegram"], pace=pace))
    assert [r["channel_shifted"] for r in got] == [0.0] * len(got)

    async def next_at() -> tuple[float, float]:
        async with db.connect() as conn:
            row = (await conn.execute(select(outbox_channel_t.c.next_at,
                                             outbox_channel_t.c.shifted))).one()
        at = row.next_at if row.next_at.tzinfo else row.next_at.replace(tzinfo=UTC)
        return at.timestamp(), row.shifted

    before, _ = await next_at()
    # A stall: the first row 80 ms late, the second (claimed with it) 70 ms: the first's
    # shift already moved the slots a second after the second one.
    added = [await run(db, lambda c, late=late: outbox.shift_channel(
        c, channel="telegram", seconds=late, since=got[0]["channel_shifted"]))
        for late in (0.08, 0.07)]
    assert added == [0.08, 0.0]
    # Later, a row claimed after those shifts is late by 30 ms: its own shift, in full.
    assert await run(db, lambda c: outbox.shift_channel(
        c, channel="telegram", seconds=0.03, since=0.08)) == 0.03
    after, shifted = await next_at()
    assert abs(after - before - 0.11) < 1e-6 and abs(shifted - 0.11) < 1e-9


async def test_a_row_answered_is_sent_at_once_with_its_chats_next_slot(
        db: AsyncEngine, backend: str, fake: FakeTelegram, bot: telegram.Bot) -> None:  # noqa: F811
    if backend != "postgres":
        pytest.skip("the at-once mark is one PostgreSQL statement (an UPDATE in a WITH)")
    a, b = CHATS[:2]
    accounts = await add_accounts(db, [a, b])
    first, second = await enqueue(db, [(a, "answered"), (b, "in flight")], accounts)
    now = utcnow()

    def claim_and_hand(conn: Connection) -> None:
        outbox.beat(conn, sender=DEAD, now=now)
        outbox.claim_due(conn, now=now, limit=10, lease_seconds=60, channels=["telegram"],
                         sender=DEAD, stale_seconds=10)
        for row in (first, second):
            assert outbox.mark_handed(conn, id=row, sender=DEAD, now=now)

    await run(db, claim_and_hand)
    later = now + timedelta(seconds=5)
    await run(db, lambda c: outbox.mark_answered(c, id=first, sender=DEAD, next_at=later))
    # Another sender's mark changes nothing.
    await run(db, lambda c: outbox.mark_answered(c, id=second, sender="host:2:other",
                                                 next_at=later))
    found = await rows(db)
    assert found[first]["status"] == "sent" and found[first]["sent_at"] is not None
    assert found[second]["status"] == "sending"
    async with db.connect() as conn:
        paced = dict((await conn.execute(select(outbox_chat_t.c.chat_id,
                                                outbox_chat_t.c.next_at))).all())
    assert paced[str(a)] == later
    # The sender dies before its batch of outcomes: the answered alert is not sent again,
    # the one in flight is (at least once).
    await run(db, lambda c: c.execute(update(outbox_sender_t).values(
        seen_at=now - timedelta(seconds=11))))
    worker = OutboxWorker(db, [TelegramSender(bot)], **FAST)
    while await worker.run_once():
        pass
    assert delivered(fake, [a, b]) == {a: [], b: ["in flight"]}
    found = await rows(db)
    # A sent row keeps the moment it was handed to the channel.
    assert found[second]["status"] == "sent" and found[second]["sent_at"] <= utcnow()
