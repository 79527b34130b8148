"""Roles on units and the invite codes that hand them out: a chair invites their support
team (`/moi`); the administrator at the server's shell invites anyone (`sangkien invite`)
and revokes a code with every role it granted (`sangkien revoke`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from bot.services.actor import Actor
from bot.services.permissions import covers_unit
from bot.services.results import Refused
from storage import access, queries

log = logging.getLogger(__name__)

INVITE_DAYS = 7


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    role: str
    unit_code: str
    unit_name: str
    days: int


@dataclass(frozen=True, slots=True)
class NoSuchUnit:
    code: str


@dataclass(frozen=True, slots=True)
class Revoked:
    code_withdrawn: bool
    roles_revoked: int


def create_invite(*, conn: Connection, actor: Actor, now: datetime, role: str,
                  unit_id: int | None = None, unit_code: str | None = None,
                  days: int = INVITE_DAYS) -> Invite | NoSuchUnit | Refused:
    """A one-time code granting `role` on a unit. A chair invites support team members to
    the unions they chair; any other role, or anyone else, needs the shell."""
    unit = (queries.units_by_ids(conn, [unit_id]).get(unit_id) if unit_id is not None
            else queries.unit_by_code(conn, unit_code or ""))
    if unit is None:
        return NoSuchUnit(unit_code or str(unit_id))
    if not actor.is_shell and not (
            role == "support" and covers_unit(conn=conn, actor=actor, roles=("chair",),
                                               unit_id=unit.id)):
        log.info("refused: person %s inviting %s to unit %s", actor.person_id, role, unit.id)
        return Refused()
    code = access.create_code(conn, purpose="invite", role=role, unit_id=unit.id, now=now,
                              expires_at=now + timedelta(days=days),
                              created_by=actor.person_id)
    log.info("invite for %s of %s created by %s", role, unit.code,
             actor.person_id if actor.person_id is not None else "the shell")
    return Invite(code, role, unit.code, unit.name, days)


def withdraw_invite(*, conn: Connection, actor: Actor, now: datetime, code: str) -> bool:
    """Withdraw an unused invite code the actor made."""
    return access.revoke_code(conn, code=code, now=now, created_by=actor.person_id)


def remove_member(*, conn: Connection, actor: Actor, now: datetime, grant_id: int
                  ) -> bool | Refused:
    """Take a role back: one the actor handed out, or any on a union the actor chairs."""
    assert actor.person_id is not None
    grant = access.grant_in_force(conn, grant_id=grant_id)
    if grant is None:
        return False
    if grant["granted_by"] != actor.person_id and not covers_unit(
            conn=conn, actor=actor, roles=("chair",), unit_id=grant["unit_id"]):
        log.info("refused: person %s revoking grant %s outside their unions",
                 actor.person_id, grant_id)
        return Refused()
    return access.revoke_grant(conn, grant_id=grant_id, now=now)


def revoke(*, conn: Connection, actor: Actor, now: datetime, code: str) -> Revoked | Refused:
    """The shell's revocation: the code if unused, and every role granted through it."""
    if not actor.is_shell:
        return Refused()
    withdrawn, roles = access.revoke_code_and_roles(conn, code=code, now=now)
    log.info("revoked %s: code withdrawn %s, %d roles", code, withdrawn, roles)
    return Revoked(withdrawn, roles)
