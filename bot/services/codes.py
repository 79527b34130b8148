"""One-time codes typed by their receiver: an invite (a role), a link (two chat apps, one
person) or a claim (an initiative registered for the worker by a support team)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from bot.services.actor import Actor
from storage import access, queries

log = logging.getLogger(__name__)

LINK_MINUTES = 15


@dataclass(frozen=True, slots=True)
class RoleGranted:
    role: str
    unit_name: str


@dataclass(frozen=True, slots=True)
class AccountsLinked:
    person_id: int      # the person both accounts now belong to
    absorbed: int       # the person merged into it


@dataclass(frozen=True, slots=True)
class InitiativeClaimed:
    initiative_id: int


@dataclass(frozen=True, slots=True)
class CodeRefused:
    why: str            # unknown | expired | used | revoked | own


Redeemed = RoleGranted | AccountsLinked | InitiativeClaimed | CodeRefused


def redeem(*, conn: Connection, actor: Actor, now: datetime, code: str) -> Redeemed:
    assert actor.person_id is not None
    status, row = access.claim_code(conn, code=code, person_id=actor.person_id, now=now)
    if status != "ok" or row is None:
        log.info("code refused (%s) for person %s", status, actor.person_id)
        return CodeRefused(status)
    if row["purpose"] == "invite":
        access.grant_role(conn, person_id=actor.person_id, role=row["role"],
                          unit_id=row["unit_id"], granted_by=row["created_by"],
                          code=row["code"], now=now)
        unit = queries.units_by_ids(conn, [row["unit_id"]])[row["unit_id"]]
        return RoleGranted(row["role"], unit.name)
    if row["purpose"] == "link":
        access.merge_people(conn, keep=row["created_by"], absorb=actor.person_id)
        return AccountsLinked(row["created_by"], actor.person_id)
    if row["purpose"] == "claim":
        access.link_initiative(conn, initiative_id=row["target_id"], person_id=actor.person_id)
        return InitiativeClaimed(row["target_id"])
    return CodeRefused("unknown")


def create_link_code(*, conn: Connection, actor: Actor, now: datetime) -> str:
    """A code to type in the actor's other chat app, valid LINK_MINUTES."""
    return access.create_code(conn, purpose="link", now=now,
                              expires_at=now + timedelta(minutes=LINK_MINUTES),
                              created_by=actor.person_id)
