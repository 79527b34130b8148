"""The daily digest: held alerts turned into one message per reviewer after 17:00 local."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from bot import notices
from bot.formatting import TIMEZONE
from bot.i18n import gettext_for
from storage import outbox
from storage import review as review_store

DIGEST_HOUR = 17  # local time: one message a day for reviewers who chose the digest


def compose_digests(*, conn: Connection, now: datetime, default_locale: str = "vi",
                    limit: int = 500) -> int:
    """Write up to `limit` reviewers' digests; returns how many were written.

    Idempotent across processes: the outbox row is keyed by person and day, and alerts are
    marked digested only when their message was written.
    """
    local = now.astimezone(TIMEZONE)
    if local.hour < DIGEST_HOUR:
        return 0
    day = local.date().isoformat()
    cutoff = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    batch = review_store.digest_batch(conn, before=cutoff, limit=limit)
    targets = review_store.notify_targets(conn, person_ids=list(batch))
    written = 0
    for person_id, alerts in batch.items():
        target = targets.get(person_id)
        if target is None:
            review_store.mark_digested(conn, alert_ids=[a["id"] for a in alerts], now=now)
            continue
        locale = target.locale or default_locale
        row = outbox.enqueue(conn, channel=target.channel, chat_id=target.chat_id,
                             account_id=target.account_id, kind="digest", locale=locale,
                             text=notices.digest(gettext_for(locale), alerts), options=[],
                             now=now, dedupe_key=f"digest:{person_id}:{day}", priority=5)
        if row is not None:
            review_store.mark_digested(conn, alert_ids=[a["id"] for a in alerts], now=now)
            written += 1
    return written

