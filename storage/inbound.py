"""Inbound events: recognising redeliveries, the queue of events taken from webhooks, and the
replies kept until they are sent.

One row per (channel, event id). Its life:

    recorded (handled in the same transaction)  ─┐
    queued (payload set; a webhook acknowledged) ─┴─▶ handled: replies set ─▶ sent: replies NULL

A redelivered event finds its row: if its replies were never sent (the process died between
the commit and the reply), they are sent now; otherwise it does nothing. Replies left unsent
for long (the channel will not redeliver) are handed to the outbox by `unsent`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update

from storage import bulk
from storage.models import inbound_event_t
from storage.queries import per_dialect

t = inbound_event_t

_RECORD = per_dialect(lambda d: d.insert(t).on_conflict_do_nothing().returning(t.c.event_id))
_FAILED = per_dialect(lambda d: d.insert(t).on_conflict_do_nothing())


def record(conn: Connection, *, channel: str, events: Sequence[tuple[str, str]],
           now: datetime) -> set[str]:
    """Record (event id, chat id) pairs being handled now; return the ids seen for the first
    time (the others are redeliveries)."""
    if not events:
        return set()
    if conn.dialect.name == "postgresql":
        return {r[0] for r in bulk.insert_new(
            conn, t, [{"event_id": e, "chat_id": c} for e, c in events],
            cols=("event_id", "chat_id"), returning=("event_id",),
            same={"channel": channel, "received_at": now, "failed": False})}
    rows = [{"channel": channel, "event_id": e, "chat_id": c, "received_at": now}
            for e, c in events]
    return set(conn.execute(_RECORD[conn.dialect.name], rows).scalars())


def enqueue(conn: Connection, *, rows: Sequence[dict[str, Any]], now: datetime) -> set[str]:
    """Record events to be handled later (a webhook acknowledges once this commits): each
    row has channel, event_id, chat_id, seq and payload. Returns the ids recorded now."""
    if not rows:
        return set()
    values = [{**r, "received_at": now} for r in rows]
    return set(conn.execute(_RECORD[conn.dialect.name], values).scalars())


_MARK_FAILED = (update(t)
                .where(t.c.channel == bindparam("b_channel"),
                       t.c.event_id == bindparam("b_event_id"))
                .values(failed=True, payload=None, replies=None))


def mark_failed(conn: Connection, *, channel: str, event_id: str, now: datetime) -> None:
    """An event whose handling raised: recorded (no payload, nothing to send) so that a
    redelivery does not raise again."""
    conn.execute(_FAILED[conn.dialect.name], {
        "channel": channel, "event_id": event_id, "received_at": now, "failed": True})
    conn.execute(_MARK_FAILED, {"b_channel": channel, "b_event_id": event_id})


def lock_chat(conn: Connection, *, channel: str, chat_id: str) -> bool:
    """Hold a chat for this transaction, so that one process at a time handles its waiting
    events, in order (PostgreSQL: a transaction advisory lock, not waited for; SQLite: the
    engine's BEGIN IMMEDIATE already makes every writer wait its turn)."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.scalar(_TRY_LOCK, {"key": f"inbound:{channel}:{chat_id}"}))


_TRY_LOCK = select(func.pg_try_advisory_xact_lock(func.hashtext(bindparam("key"))))


_DONE = (update(t)
         .where(t.c.channel == bindparam("b_channel"), t.c.event_id == bindparam("b_event_id"))
         .values(payload=None, replies=bindparam("b_replies"), received_at=bindparam("b_at")))


def handled(conn: Connection, rows: Sequence[tuple[str, str, str | None]], *,
            now: datetime) -> None:
    """(channel, event id, replies as JSON or None): the event is handled, its replies kept
    until `sent`. Its time becomes `now`: how long its replies have waited (`unsent`) counts
    from when they were made, not from when it was recorded (it may have waited in the
    queue)."""
    if rows and conn.dialect.name == "postgresql":
        bulk.update_rows(conn, t, [{"channel": c, "event_id": e, "replies": r}
                                   for c, e, r in rows],
                         key=("channel", "event_id"), cols=("replies",),
                         same={"payload": None, "received_at": now})
    elif rows:
        conn.execute(_DONE, [{"b_channel": c, "b_event_id": e, "b_replies": r, "b_at": now}
                             for c, e, r in rows])


_SENT = (update(t)
         .where(t.c.channel == bindparam("b_channel"), t.c.event_id == bindparam("b_event_id"))
         .values(replies=None))


def sent(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """The replies of these events went out."""
    if conn.dialect.name == "postgresql":
        bulk.update_rows(conn, t, [{"channel": c, "event_id": e} for c, e in keys],
                         key=("channel", "event_id"), cols=(), same={"replies": None})
        return
    rows = [{"b_channel": c, "b_event_id": e} for c, e in keys]
    if rows:
        conn.execute(_SENT, rows)


_KEPT = select(t.c.event_id, t.c.replies).where(
    t.c.channel == bindparam("channel"),
    t.c.event_id.in_(bindparam("ids", expanding=True)),
    t.c.replies.is_not(None), t.c.payload.is_(None), t.c.received_at < bindparam("before"))


def unsent_replies(conn: Connection, *, channel: str, event_ids: Sequence[str],
                   before: datetime) -> dict[str, str]:
    """The kept replies of events (of those given) received before `before` and handled,
    whose replies were never sent."""
    if not event_ids:
        return {}
    return dict(conn.execute(_KEPT, {"channel": channel, "ids": list(event_ids),
                                     "before": before}).all())


# --------------------------------------------------------------------------- the queue

_PAYLOAD = select(t.c.payload).where(t.c.channel == bindparam("channel"),
                                     t.c.event_id == bindparam("event_id"))


def payload(conn: Connection, *, channel: str, event_id: str) -> str | None:
    """A waiting event's payload (None once handled)."""
    return conn.scalar(_PAYLOAD, {"channel": channel, "event_id": event_id})


# Ordered by when the first waiting event was recorded: `seq` orders a chat's events only
# (Telegram's update ids and Zalo's millisecond dates are not comparable).
_QUEUED_CHATS = (
    select(t.c.channel, t.c.chat_id, func.min(t.c.received_at).label("first"))
    .where(t.c.payload.is_not(None))
    .group_by(t.c.channel, t.c.chat_id)
    .order_by(func.min(t.c.received_at))
    .limit(bindparam("limit"))
)


def queued_chats(conn: Connection, *, limit: int) -> list[tuple[str, str]]:
    """Chats with events waiting, the longest waiting first (served by the queued index)."""
    return [(c, chat) for c, chat, _first in conn.execute(_QUEUED_CHATS, {"limit": limit})]


_TAKE = (select(t.c.event_id, t.c.payload)
         .where(t.c.channel == bindparam("channel"), t.c.chat_id == bindparam("chat_id"),
                t.c.payload.is_not(None))
         .order_by(t.c.seq, t.c.event_id))


def take(conn: Connection, *, channel: str, chat_id: str) -> list[tuple[str, str]]:
    """A chat's waiting events, in order: (event id, payload). Hold the chat first
    (`lock_chat`)."""
    return [(e, p) for e, p in conn.execute(_TAKE, {"channel": channel, "chat_id": chat_id})]


_UNSENT = (select(t.c.channel, t.c.event_id, t.c.chat_id, t.c.replies)
           .where(t.c.replies.is_not(None), t.c.payload.is_(None),
                  t.c.received_at < bindparam("before"))
           .order_by(t.c.received_at).limit(bindparam("limit")))
_UNSENT_LOCKED = _UNSENT.with_for_update(skip_locked=True)


def unsent(conn: Connection, *, before: datetime, limit: int) -> list[dict[str, Any]]:
    """Handled events received before `before` whose replies were never sent (locked on
    PostgreSQL, skipping rows another process holds)."""
    stmt = _UNSENT_LOCKED if conn.dialect.name == "postgresql" else _UNSENT
    return [dict(r) for r in conn.execute(stmt, {"before": before, "limit": limit}).mappings()]


def prune(conn: Connection, *, before: datetime) -> int:
    """Forget handled events older than any redelivery window (never a waiting one)."""
    stmt = delete(t).where(and_(t.c.received_at < before, t.c.payload.is_(None)))
    return conn.execute(stmt).rowcount
