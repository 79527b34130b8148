"""One-time codes typed by their receiver: an invite (a role), a link (two chat apps, one
person) or a claim (an initiative registered for the worker by a support team)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from bot.services.actor import Actor
from storage import access, progress_units, queries
from storage import progress as progress_store
from storage import review as review_store

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
class LinkToConfirm:
    """A link code: nothing is merged until the person typing it confirms, having read
    whose account this chat will join."""

    code: str
    owner_name: str
    owner_channel: str | None


@dataclass(frozen=True, slots=True)
class CodeRefused:
    why: str            # unknown | expired | used | revoked | own | roles


Redeemed = RoleGranted | LinkToConfirm | InitiativeClaimed | CodeRefused


def redeem(*, conn: Connection, actor: Actor, now: datetime, code: str) -> Redeemed:
    """Use an invite or claim code; a link code is only looked at (see `confirm_link`)."""
    assert actor.person_id is not None
    status, row = access.peek_code(conn, code=code, person_id=actor.person_id, now=now)
    if status == "ok" and row is not None and row["purpose"] == "link":
        owner = access.get_person(conn, person_id=row["created_by"])
        target = review_store.notify_targets(conn, person_ids=[row["created_by"]])
        channel = target[row["created_by"]].channel if target else None
        return LinkToConfirm(row["code"], owner["name"], channel)
    if status == "ok":
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
    if row["purpose"] == "claim":
        before = progress_store.contribution(conn, initiative_id=row["target_id"])
        access.link_initiative(conn, initiative_id=row["target_id"], person_id=actor.person_id)
        progress_store.track(conn, initiative_id=row["target_id"], before=before)
        return InitiativeClaimed(row["target_id"])
    return CodeRefused("unknown")


def confirm_link(*, conn: Connection, actor: Actor, now: datetime, code: str
                 ) -> AccountsLinked | CodeRefused:
    """Merge the person typing into the code's creator: their two chat apps become one
    person. Never carries a role from one person to another: when either holds one, only an
    administrator can link them."""
    assert actor.person_id is not None
    status, row = access.peek_code(conn, code=code, person_id=actor.person_id, now=now,
                                   lock=True)
    if status != "ok" or row is None or row["purpose"] != "link":
        return CodeRefused(status if status != "ok" else "unknown")
    owner = row["created_by"]
    if access.grants(conn, person_id=owner) or access.grants(conn, person_id=actor.person_id):
        log.info("link refused: person %s or %s holds a role", owner, actor.person_id)
        return CodeRefused("roles")
    status, row = access.claim_code(conn, code=code, person_id=actor.person_id, now=now)
    if status != "ok":
        return CodeRefused(status)
    credited = progress_units.merging_people(conn, absorb=actor.person_id)
    access.merge_people(conn, keep=owner, absorb=actor.person_id)
    progress_units.merged_people(conn, credited)     # one author now: the participants
    log.info("person %s linked into person %s", actor.person_id, owner)
    return AccountsLinked(owner, actor.person_id)


def create_link_code(*, conn: Connection, actor: Actor, now: datetime) -> str:
    """A code to type in the actor's other chat app, valid LINK_MINUTES."""
    return access.create_code(conn, purpose="link", now=now,
                              expires_at=now + timedelta(minutes=LINK_MINUTES),
                              created_by=actor.person_id)
