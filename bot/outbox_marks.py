"""The outbox sender's small parts (`bot.outbox`): a row back into a reply, retry delays, the
sender's name, the outcomes of its sends, written in batches, and chat replies never sent
handed to it (`unsent_to_outbox`)."""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection

from bot.events import Option, Reply, attachment_from_json, attachment_json, replies_from_json
from storage import inbound
from storage import outbox as outbox_q
from storage.outbox import Pace

BACKOFF_CAP = 15 * 60.0

ResultKind = Literal["sent", "retry", "failed", "unreachable", "release", "lost"]


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts`: 2**attempts, capped at 15 minutes, with ±20 %
    jitter so that rows which failed together (a network drop) do not retry in lockstep."""
    return min(2.0 ** attempts, BACKOFF_CAP) * random.uniform(0.8, 1.2)


def reply_of(row: dict[str, Any]) -> Reply:
    """An outbox row back into the channel-neutral reply a `Sender` draws."""
    options = json.loads(row.get("options") or "[]")
    att = attachment_from_json(row.get("attachment"))
    return Reply(row["text"], tuple(Option(o["label"], o["token"], o.get("command", ""))
                                    for o in options), separate=att is not None, attachment=att)


def sender_name() -> str:
    """host:pid:nonce — unique per worker, readable in `outbox_sender`."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(slots=True)
class Outcome:
    """What became of one claimed row, to be written (`apply_outcomes`)."""

    kind: ResultKind
    row: dict[str, Any]
    not_before: datetime | None = None
    error: str | None = None
    count_attempt: bool = True
    finished: datetime | None = None   # a sent row: when its answer arrived
    pause_until: datetime | None = None   # the channel said "slow down" until then


def apply_outcomes(conn: Connection, batch: list[Outcome], *, now: datetime,
                   pace: Mapping[str, Pace], sender: str | None = None) -> None:
    """Write a batch of outcomes in one transaction (`lost`: nothing to write)."""
    sent = [r for r in batch if r.kind == "sent"]
    outbox_q.mark_sent(conn, ids=[r.row["id"] for r in sent], now=now)
    # The chat's next send: `per_chat` after this one's answer arrived.
    outbox_q.pace_chats(conn, chats=[
        (r.row["channel"], r.row["chat_id"],
         (r.finished or now) + timedelta(seconds=pace[r.row["channel"]].per_chat))
        for r in sent if pace[r.row["channel"]].per_chat > 0])
    for r in batch:
        if r.pause_until is not None:
            outbox_q.pause_channel(conn, channel=r.row["channel"], until=r.pause_until)
    released: dict[datetime | None, list[int]] = {}
    for r in batch:
        row_id = r.row["id"]
        if r.kind == "release":
            released.setdefault(r.not_before, []).append(row_id)
        elif r.kind == "retry":
            assert r.not_before is not None
            outbox_q.mark_retry(conn, id=row_id, not_before=r.not_before,
                                error=r.error or "", now=now,
                                count_attempt=r.count_attempt)
        elif r.kind == "failed":
            outbox_q.mark_failed(conn, id=row_id, error=r.error or "")
        elif r.kind == "unreachable":
            outbox_q.mark_unreachable(conn, id=row_id, account_id=r.row["account_id"],
                                      error=r.error)
    for not_before, ids in released.items():
        outbox_q.release(conn, ids=ids, not_before=not_before, sender=sender)


def unsent_to_outbox(conn: Connection, *, now: datetime, before: datetime, limit: int) -> int:
    """Chat replies kept unsent since before `before` (`bot.core.Core.recover_unsent`) go
    to the outbox; returns how many events' replies moved."""
    rows = inbound.unsent(conn, before=before, limit=limit)
    for row in rows:
        locale, replies = replies_from_json(row["replies"])
        for i, reply in enumerate(replies):
            outbox_q.enqueue(
                conn, channel=row["channel"], chat_id=row["chat_id"], account_id=None,
                kind="reply", locale=locale, text=reply.text, now=now,
                dedupe_key=f"reply:{row['channel']}:{row['event_id']}:{i}",
                options=[{"label": o.label, "token": o.token, "command": o.command}
                         for o in reply.options],
                attachment=attachment_json(reply.attachment))
    inbound.sent(conn, [(r["channel"], r["event_id"]) for r in rows])
    return len(rows)
