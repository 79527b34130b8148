"""Decisions on an initiative: valid, needs revision or invalid (a reviewer), withdrawn
(its author, while under review), reopened (a chair). Of two decisions taken at once exactly
one wins; each is logged with its reason, and the author is told.

    under_review ─▶ valid | needs_revision (reason) | invalid (reason)   (reviewer)
    under_review ─▶ withdrawn                                            (author)
    needs_revision ─▶ (author edits) ─▶ under_review                     (submissions.resubmit)
    valid | invalid ─▶ under_review                                      (chair: reopen)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot.services import alerts
from bot.services.actor import Actor
from bot.services.permissions import chairs, initiative_access
from bot.services.results import Refused, Unchanged, refuse
from storage import progress as progress_store
from storage import review as review_store
from storage.submitting import code_of

REASON_MIN, REASON_MAX = 5, 1000
CODE_MAX = 16   # initiative codes: SK-000123
_SHORT_CODE = re.compile(r"(?i)(?:sk\W?)?([0-9]+)")   # the bot's codes typed short: "sk241", "241"
_DIGITS_MAX = 10   # SK-<id>: a 32-bit id


@dataclass(frozen=True, slots=True)
class Decided:
    code: str
    to_status: str


@dataclass(frozen=True, slots=True)
class TookPart:
    """The reviewer took part in the initiative: another reviewer must decide."""

    code: str


@dataclass(frozen=True, slots=True)
class DecidedMeanwhile:
    """Someone else changed it between our read and our write."""

    code: str
    status: str


@dataclass(frozen=True, slots=True)
class BadReason:
    """A reason is required (needs revision, invalid) and must be REASON_MIN–MAX long."""


DecideResult = Decided | Refused | Unchanged | DecidedMeanwhile | BadReason | TookPart


def reason_ok(reason: str | None) -> bool:
    return reason is not None and REASON_MIN <= len(reason) <= REASON_MAX


def decide(*, conn: Connection, actor: Actor, now: datetime, ini: dict[str, Any],
           to_status: str, reason: str | None = None, default_locale: str = "vi"
           ) -> DecideResult:
    """Move `ini` (as just read) to `to_status`, if the actor may."""
    rights = initiative_access(conn=conn, actor=actor, ini=ini)
    if not (rights.reviewer or rights.author or rights.own):
        return refuse(actor, to_status, ini)
    role = review_store.TRANSITIONS.get((ini["status"], to_status))
    if role is None:
        return Unchanged(ini["code"], ini["status"])
    if role != "author" and rights.own:
        return TookPart(ini["code"])
    if role == "chair":  # a chair is a reviewer: who is not one is no chair either
        allowed = rights.reviewer and chairs(conn=conn, actor=actor, ini=ini)
    else:
        allowed = rights.reviewer if role == "reviewer" else rights.author
    if not allowed:
        return refuse(actor, to_status, ini)
    if to_status in ("needs_revision", "invalid") and not reason_ok(reason):
        return BadReason()
    before = progress_store.contribution(conn, initiative_id=ini["id"])
    ok = review_store.transition(conn, initiative_id=ini["id"], from_status=ini["status"],
                                 to_status=to_status, actor_id=actor.person_id, reason=reason,
                                 now=now)
    if not ok:
        fresh = review_store.initiative(conn, initiative_id=ini["id"])
        assert fresh is not None
        return DecidedMeanwhile(ini["code"], fresh["status"])
    progress_store.track(conn, initiative_id=ini["id"], before=before)
    alerts.tell_author(conn=conn, now=now, ini=ini, to_status=to_status, reason=reason,
                       exclude=actor.person_id, default_locale=default_locale)
    if to_status == "under_review":  # reopened: the reviewers hear of it again
        alerts.alert_submission(conn=conn, now=now, initiative_id=ini["id"], unit_id=ini["unit_id"],
                                author_unit_id=ini["author_unit_id"], resubmitted=True,
                                exclude=actor.person_id, default_locale=default_locale)
    return Decided(ini["code"], to_status)


def typed_code(typed: str) -> str:
    """The code a user means: "241", "sk241", "SK-0241" are SK-000241 (the bot's codes,
    typed short as on a phone); anything else as typed (its first word)."""
    token = typed.strip().split()[0] if typed.strip() else ""
    short = _SHORT_CODE.fullmatch(token)
    if short is not None and len(short[1]) <= _DIGITS_MAX:
        return code_of(int(short[1]))
    return token


def find(*, conn: Connection, code_or_id: str) -> dict[str, Any] | None:
    """An initiative by the code a user typed ("SK-000123", "sk-123", "123": `typed_code`),
    never by its row's id: an id is the database's, and counting them is no way in."""
    token = code_or_id.strip().split()[0] if code_or_id.strip() else ""
    if not token or len(token) > CODE_MAX:
        return None
    found = review_store.initiative(conn, code=token)
    if found is None and token.upper() != token:
        found = review_store.initiative(conn, code=token.upper())   # "sk-000123"
    if found is None and (code := typed_code(token)) != token:
        found = review_store.initiative(conn, code=code)
    return found
