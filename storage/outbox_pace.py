"""The outbox's shared pacing and senders: what the sender processes write besides the
rows' outcomes (`storage.outbox` re-exports these).

`outbox_channel.next_at` is a channel's next free send slot and `shifted` the seconds its
slots were ever moved on after late sends; `outbox_chat.next_at` the earliest next send to
a chat; `outbox_sender` the senders' heartbeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from storage.models import outbox_channel_t, outbox_chat_t, outbox_sender_t, outbox_t
from storage.queries import per_dialect

_INSERT = per_dialect(lambda d: d.insert)


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_PACE_CHAT = per_dialect(lambda d: d.insert(outbox_chat_t))


def pace_chats(conn: Connection, *, chats: Sequence[tuple[str, str, datetime]]) -> None:
    """No send to each (channel, chat) before its time: moves `outbox_chat.next_at` later,
    never earlier. The sender writes it with the mark of a sent row (its chat's next row is
    claimable only once that mark is committed), so the gap holds across processes."""
    if not chats:
        return
    latest: dict[tuple[str, str], datetime] = {}
    for channel, chat_id, at in chats:
        key = (channel, str(chat_id))
        latest[key] = max(at, latest.get(key, at))
    insert = _PACE_CHAT[conn.dialect.name]
    greatest = func.greatest if _is_pg(conn) else func.max
    stmt = insert.values([{"channel": c, "chat_id": k, "next_at": at}
                          for (c, k), at in sorted(latest.items())])
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[outbox_chat_t.c.channel, outbox_chat_t.c.chat_id],
        set_={"next_at": greatest(outbox_chat_t.c.next_at, stmt.excluded.next_at)}))


def mark_answered(conn: Connection, *, id: int, sender: str, next_at: datetime | None) -> None:
    """PostgreSQL, one statement: the row `sender` still holds marked sent and, with
    `next_at`, its chat's next send moved on to it (as `pace_chats`) — at once, in the same
    commit, so that a crash right after leaves neither the row to send again nor its chat
    free too early."""
    done = (update(outbox_t).where(outbox_t.c.id == id, outbox_t.c.status == "sending",
                                   outbox_t.c.claimed_by == sender)
            .values(status="sent").returning(outbox_t.c.channel, outbox_t.c.chat_id))
    if next_at is None:
        conn.execute(done)
        return
    rows = done.cte("done")
    stmt = pg_insert(outbox_chat_t).from_select(
        ["channel", "chat_id", "next_at"],
        select(rows.c.channel, rows.c.chat_id, literal(next_at, outbox_chat_t.c.next_at.type)))
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[outbox_chat_t.c.channel, outbox_chat_t.c.chat_id],
        set_={"next_at": func.greatest(outbox_chat_t.c.next_at, stmt.excluded.next_at)}))


def pause_channel(conn: Connection, *, channel: str, until: datetime) -> None:
    """The channel said "slow down": no slot before `until`, for every sender process."""
    greatest = func.greatest if _is_pg(conn) else func.max
    conn.execute(update(outbox_channel_t).where(outbox_channel_t.c.channel == channel)
                 .values(next_at=greatest(outbox_channel_t.c.next_at, until)))


def shift_channel(conn: Connection, *, channel: str, seconds: float,
                  since: float | None = None) -> float:
    """A send reached the channel `seconds` later than its slot allows: the slots not yet
    handed out move on, so that the second after it holds no more than the rate.

    `since`: the channel's `shifted` when that send's slot was handed out; the shifts made
    since then already moved the slots a second after it, so only the rest is added (a stall
    makes several sends in a row late: each alone would otherwise cost the channel its
    lateness again). Returns the seconds added."""
    stmt = (select(outbox_channel_t.c.next_at, outbox_channel_t.c.shifted)
            .where(outbox_channel_t.c.channel == channel))
    if _is_pg(conn):
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        return 0.0
    extra = seconds - (max(row.shifted - since, 0.0) if since is not None else 0.0)
    if extra <= 0:
        return 0.0
    conn.execute(update(outbox_channel_t).where(outbox_channel_t.c.channel == channel)
                 .values(next_at=_aware(row.next_at) + timedelta(seconds=extra),
                         shifted=row.shifted + extra))
    return extra


# --------------------------------------------------------------------------- senders


def beat(conn: Connection, *, sender: str, now: datetime) -> None:
    """A sender's heartbeat (registers it the first time)."""
    stmt = _INSERT[conn.dialect.name](outbox_sender_t).values(
        id=sender, started_at=now, seen_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=[outbox_sender_t.c.id],
                                            set_={"seen_at": now}))


def sender_gone(conn: Connection, *, sender: str) -> None:
    """A sender stopped gracefully (its rows were released first)."""
    conn.execute(delete(outbox_sender_t).where(outbox_sender_t.c.id == sender))
