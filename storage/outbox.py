"""The outbox: messages the bot sends on its own, written with the change that causes them.

Keyword-only functions over a synchronous `Connection`, like `storage.queries`. The review
code calls `enqueue` inside the transaction of the state change, so a message exists if and
only if its cause was committed; `bot.outbox.OutboxWorker` then claims, sends and marks rows.

Row life cycle (`status`):

    pending ──claim──▶ sending ──▶ sent | failed | unreachable
       ▲                  │
       └── retry/release ─┘   (also when a lease expires: the claimer crashed)

Ordering: rows of one chat are delivered oldest first. A row can be claimed only when no
older row of its chat is in flight or queued ahead of it, so one claim takes at most one row
per chat and two sender processes never race within a chat. An older row counts as "ahead"
when it is `sending`, due, or has been claimed before (`claimed_until` is set: it is waiting
for a retry or was deferred). An older row merely *scheduled* for later at enqueue time (a
digest for 17:00) does not hold up messages written after it.

`claimed_until` is therefore kept after a lease ends: it is the end of the row's last lease,
and NULL means "never claimed".

The statement of the conversation's path (`enqueue`) is built once, at import, with every
value a bind parameter, and run with `Connection.execute`: building a statement costs more CPU
than running it, while a prebuilt one keeps SQLAlchemy's cache key and compiled form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from storage.models import account_t, outbox_t
from storage.queries import per_dialect

ERROR_MAX = 255
TOKEN_MAX_BYTES = 64  # Telegram's limit for callback data; tokens are made by our own code
ACTIVE = ("pending", "sending")
FINISHED = ("sent", "failed", "unreachable")


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _clip(error: str | None) -> str | None:
    """Errors are stored short; callers pass a message already free of tokens and text."""
    return None if error is None else error[:ERROR_MAX]


def _options_json(options: Sequence[Mapping[str, Any]]) -> str:
    clean = []
    for opt in options:
        token = str(opt["token"])
        # A programming error, caught in the causing transaction rather than as a permanent
        # send failure hours later.
        if not token or len(token.encode()) > TOKEN_MAX_BYTES:
            raise ValueError(f"option token must be 1..{TOKEN_MAX_BYTES} bytes: {token!r}")
        clean.append({"label": str(opt["label"]), "token": token,
                      "command": str(opt.get("command") or "")})
    return json.dumps(clean, ensure_ascii=False)


# --------------------------------------------------------------------------- writing

# Per dialect: INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, the row's values
# given as parameters.
_ENQUEUE = per_dialect(lambda d: d.insert(outbox_t)
                       .on_conflict_do_nothing(index_elements=[outbox_t.c.dedupe_key])
                       .returning(outbox_t.c.id))


def enqueue(
    conn: Connection, *, channel: str, chat_id: str, account_id: int | None, kind: str,
    locale: str, text: str, options: Sequence[Mapping[str, Any]], now: datetime,
    not_before: datetime | None = None, dedupe_key: str | None = None,
) -> int | None:
    """Queue one message; return its id, or None when `dedupe_key` was already queued.

    `text` is HTML (user text escaped); `options` are dicts with label, token and command.
    """
    if not text.strip():
        raise ValueError("an outbox message needs text")
    stmt = _ENQUEUE[conn.dialect.name]
    return conn.execute(stmt, {
        "channel": channel, "chat_id": str(chat_id), "account_id": account_id, "kind": kind,
        "locale": locale, "text": text, "options": _options_json(options),
        "dedupe_key": dedupe_key, "status": "pending", "not_before": not_before or now,
        "attempts": 0, "created_at": now,
    }).scalar_one_or_none()


# --------------------------------------------------------------------------- claiming


def claim_due(
    conn: Connection, *, now: datetime, limit: int, lease_seconds: float,
    channels: Sequence[str],
) -> list[dict[str, Any]]:
    """Claim up to `limit` due rows of `channels`, oldest first, for `lease_seconds`.

    Run it in a transaction of its own and commit before sending. Expired leases (a sender
    that crashed mid-send) are released first, so their rows are claimed again here.
    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent claimers never take the same row and
    never wait for each other; SQLite: the engine's `BEGIN IMMEDIATE` serialises claims.
    """
    if not channels or limit <= 0:
        return []
    pg = _is_pg(conn)

    expired = select(outbox_t.c.id).where(outbox_t.c.status == "sending",
                                          outbox_t.c.claimed_until < now)
    if pg:
        expired = expired.with_for_update(skip_locked=True)
    conn.execute(update(outbox_t).where(outbox_t.c.id.in_(expired.scalar_subquery()))
                 .values(status="pending"))

    # A row is claimable when it is the oldest of its chat among the rows that hold a chat's
    # turn: in flight, due, or claimed before. They are found among active rows only, through
    # the due index. MATERIALIZED, and no channel filter here, stop SQLite from walking the
    # chat index instead, which reads every chat's whole history of sent messages (measured:
    # 5 ms against 65 ms per claim with 50,000 sent rows).
    turn = outbox_t.alias("turn")
    active = (
        select(turn.c.id, turn.c.channel, turn.c.chat_id)
        .where(turn.c.status.in_(ACTIVE),
               or_(turn.c.status == "sending", turn.c.not_before <= now,
                   turn.c.claimed_until.is_not(None)))
        .cte("active")
        .prefix_with("MATERIALIZED")
    )
    heads = select(func.min(active.c.id)).group_by(active.c.channel, active.c.chat_id)
    cand = outbox_t.alias("cand")
    due = (
        select(cand.c.id)
        .where(cand.c.status == "pending", cand.c.not_before <= now,
               cand.c.channel.in_(list(channels)), cand.c.id.in_(heads.scalar_subquery()))
        .order_by(cand.c.id)
        .limit(limit)
    )
    if pg:
        due = due.with_for_update(of=cand, skip_locked=True)
    rows = conn.execute(
        update(outbox_t)
        .where(outbox_t.c.id.in_(due.scalar_subquery()))
        .values(status="sending", claimed_until=now + timedelta(seconds=lease_seconds))
        .returning(*outbox_t.c)
    ).mappings().all()
    return sorted((dict(r) for r in rows), key=lambda r: r["id"])


# --------------------------------------------------------------------------- outcomes


def mark_sent(conn: Connection, *, ids: Sequence[int], now: datetime) -> None:
    if ids:
        conn.execute(update(outbox_t).where(outbox_t.c.id.in_(list(ids)))
                     .values(status="sent", sent_at=now))


def mark_retry(
    conn: Connection, *, id: int, not_before: datetime, error: str, now: datetime,
    count_attempt: bool = True,
) -> None:
    """Back to pending until `not_before`. `count_attempt=False` for a channel's "slow
    down", which says nothing about the message and must not use up its attempts."""
    values: dict[str, Any] = {"status": "pending", "not_before": max(not_before, now),
                              "last_error": _clip(error)}
    if count_attempt:
        values["attempts"] = outbox_t.c.attempts + 1
    conn.execute(update(outbox_t).where(outbox_t.c.id == id).values(values))


def mark_failed(conn: Connection, *, id: int, error: str) -> None:
    """Given up: a permanent error, or out of attempts."""
    conn.execute(update(outbox_t).where(outbox_t.c.id == id).values(
        status="failed", attempts=outbox_t.c.attempts + 1, last_error=_clip(error)))


def mark_unreachable(
    conn: Connection, *, id: int, account_id: int | None, error: str | None = None,
) -> None:
    """The user blocked the bot or the chat is gone: this row and the chat's other queued
    rows will not be sent, and the account is no longer chosen for notifications.

    The adapter should set `account.reachable` back to True when the user writes again.
    """
    row = conn.execute(select(outbox_t.c.channel, outbox_t.c.chat_id)
                       .where(outbox_t.c.id == id)).first()
    if row is None:
        return
    values = {"status": "unreachable", "last_error": _clip(error or "unreachable")}
    conn.execute(update(outbox_t).where(
        or_(outbox_t.c.id == id,
            and_(outbox_t.c.channel == row.channel, outbox_t.c.chat_id == row.chat_id,
                 outbox_t.c.status == "pending"))).values(values))
    if account_id is not None:
        conn.execute(update(account_t).where(account_t.c.id == account_id)
                     .values(reachable=False))


def release(conn: Connection, *, ids: Sequence[int], not_before: datetime | None = None) -> None:
    """Hand claimed but unsent rows back (a graceful stop; a paused channel: `not_before`)."""
    if not ids:
        return
    values: dict[str, Any] = {"status": "pending"}
    if not_before is not None:
        values["not_before"] = not_before
    conn.execute(update(outbox_t).where(outbox_t.c.id.in_(list(ids)),
                                        outbox_t.c.status == "sending").values(values))


# --------------------------------------------------------------------------- upkeep


def prune(conn: Connection, *, before: datetime, limit: int = 5000) -> int:
    """Delete up to `limit` finished rows created before `before` (they only slow the
    ordering check); the oldest come first in the status index, so the scan stops early."""
    old = (select(outbox_t.c.id)
           .where(outbox_t.c.status.in_(FINISHED), outbox_t.c.created_at < before)
           .limit(limit))
    return conn.execute(delete(outbox_t).where(outbox_t.c.id.in_(old))).rowcount


def counts(conn: Connection) -> dict[str, int]:
    """Rows per status, for monitoring."""
    rows = conn.execute(select(outbox_t.c.status, func.count()).group_by(outbox_t.c.status))
    return {status: n for status, n in rows}
