"""Telling people: the reviewers of a new or resubmitted initiative, and its author of a
decision. Written to the outbox in the caller's transaction, in each recipient's language;
a reviewer who chose the daily digest has the alert held for it instead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot import notices
from bot.events import Option
from bot.i18n import gettext_for
from bot.services.actor import Actor
from bot.services.permissions import initiative_access
from storage import outbox
from storage import review as review_store

_WRITTEN = "sangkien.outbox_written"


def enqueued(conn: Connection) -> bool:
    """Whether messages were queued on `conn` since the last call (the caller wakes the
    sender after its commit)."""
    return bool(conn.info.pop(_WRITTEN, False))


def _enqueue(conn: Connection, target: review_store.Target, *, kind: str, locale: str,
             text: str, options: list[Option], now: datetime, key: str | None = None) -> None:
    conn.info[_WRITTEN] = True
    outbox.enqueue(
        conn, channel=target.channel, chat_id=target.chat_id, account_id=target.account_id,
        kind=kind, locale=locale, text=text, now=now, dedupe_key=key,
        options=[{"label": o.label, "token": o.token, "command": o.command} for o in options])


def alert_submission(*, conn: Connection, now: datetime, initiative_id: int, unit_id: int,
                     author_unit_id: int | None, resubmitted: bool = False,
                     changes: Sequence[str] = (), exclude: int | None = None,
                     default_locale: str = "vi", recipients: list[int] | None = None) -> int:
    """Tell the reviewers of a new (or resubmitted) initiative; returns how many were told.

    The caller passes the receiving and the author's union (as stored now): the initiative's
    card is read only when somebody is to be told. `exclude`: the person who acted.
    `recipients`: `review_store.alert_recipients` of these unions, when the caller read them
    in this transaction (a submission's statement does, on PostgreSQL)."""
    if recipients is None:
        recipients = review_store.alert_recipients(conn, unit_id=unit_id,
                                                   author_unit_id=author_unit_id)
    people = [p for p in recipients if p != exclude]
    if not people:
        return 0
    ini = review_store.initiative(conn, initiative_id=initiative_id)
    assert ini is not None
    told = 0
    for target in review_store.notify_targets(conn, person_ids=people).values():
        told += 1
        if target.alert_mode == "digest":
            review_store.hold_alert(conn, person_id=target.person_id, initiative_id=ini["id"],
                                    now=now)
            continue
        locale = target.locale or default_locale
        # The same rule as every check: decision buttons only for who may decide.
        rights = initiative_access(conn=conn, actor=Actor(target.person_id), ini=ini)
        text, options = notices.alert(gettext_for(locale), locale, ini, resubmitted=resubmitted,
                                      decides=rights.reviewer, changes=changes)
        _enqueue(conn, target, kind="alert", locale=locale, text=text, options=options,
                now=now, key=f"alert:{ini['id']}:{target.person_id}:{now.isoformat()}")
    return told


def tell_author(*, conn: Connection, now: datetime, ini: dict[str, Any], to_status: str,
                reason: str | None, exclude: int | None, default_locale: str = "vi") -> int:
    """Tell the author (and whoever registered it for them) of a change of status."""
    people = [p for p in {ini.get("person_id"), ini.get("entered_by")}
              if p is not None and p != exclude]
    told = 0
    for target in review_store.notify_targets(conn, person_ids=people).values():
        locale = target.locale or default_locale
        text, options = notices.decision(
            gettext_for(locale), ini, to_status=to_status, reason=reason,
            may_edit=to_status == "needs_revision")
        _enqueue(conn, target, kind="decision", locale=locale, text=text, options=options,
                now=now)
        told += 1
    return told
