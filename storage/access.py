"""People, roles and one-time codes (invites, account links, initiative claims).

A role on a unit covers the unit and every unit below it; `covers` answers that with one
recursive query up the (shallow) hierarchy.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, literal, select, update

from storage.models import (
    account_t,
    draft_t,
    initiative_author_t,
    initiative_t,
    one_time_code_t,
    person_t,
    role_grant_t,
    unit_t,
)

ROLES = ("support", "chair", "admin")
CODE_PREFIX = {"invite": "MOI", "link": "LK", "claim": "NHAN"}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


# --------------------------------------------------------------------------- people


def get_person(conn: Connection, *, person_id: int) -> dict[str, Any]:
    return dict(conn.execute(select(person_t).where(person_t.c.id == person_id)).mappings().one())


def update_person(conn: Connection, *, person_id: int, **values: Any) -> None:
    conn.execute(update(person_t).where(person_t.c.id == person_id).values(**values))


# --------------------------------------------------------------------------- scope


def ancestor_ids(conn: Connection, *, unit_id: int) -> list[int]:
    """The unit and its ancestors, nearest first."""
    anc = (select(unit_t.c.id, unit_t.c.parent_id, literal(0).label("lvl"))
           .where(unit_t.c.id == unit_id).cte("anc", recursive=True))
    anc = anc.union_all(select(unit_t.c.id, unit_t.c.parent_id, (anc.c.lvl + 1).label("lvl"))
                        .where(unit_t.c.id == anc.c.parent_id))
    return list(conn.execute(select(anc.c.id).order_by(anc.c.lvl)).scalars())


def covers(conn: Connection, *, person_id: int, roles: tuple[str, ...], unit_id: int) -> bool:
    """Does the person hold one of `roles` (or admin) on the unit or one of its ancestors?"""
    units = ancestor_ids(conn, unit_id=unit_id)
    row = conn.execute(
        select(role_grant_t.c.id).where(
            role_grant_t.c.person_id == person_id,
            role_grant_t.c.revoked_at.is_(None),
            role_grant_t.c.role.in_((*roles, "admin")),
            role_grant_t.c.unit_id.in_(units),
        ).limit(1)
    ).first()
    return row is not None


@dataclass(frozen=True, slots=True)
class Grant:
    id: int
    role: str
    unit_id: int
    unit_name: str
    granted_by: int | None
    code: str | None


def grants(conn: Connection, *, person_id: int, roles: tuple[str, ...] = ROLES) -> list[Grant]:
    rows = conn.execute(
        select(role_grant_t.c.id, role_grant_t.c.role, role_grant_t.c.unit_id,
               unit_t.c.name, role_grant_t.c.granted_by, role_grant_t.c.code)
        .join(unit_t, unit_t.c.id == role_grant_t.c.unit_id)
        .where(role_grant_t.c.person_id == person_id, role_grant_t.c.revoked_at.is_(None),
               role_grant_t.c.role.in_(roles))
        .order_by(role_grant_t.c.id)
    ).all()
    return [Grant(*r) for r in rows]


def grant_role(conn: Connection, *, person_id: int, role: str, unit_id: int,
               granted_by: int | None, code: str | None, now: datetime) -> None:
    existing = conn.execute(select(role_grant_t.c.id).where(
        role_grant_t.c.person_id == person_id, role_grant_t.c.role == role,
        role_grant_t.c.unit_id == unit_id, role_grant_t.c.revoked_at.is_(None))).first()
    if existing is None:
        conn.execute(role_grant_t.insert().values(
            person_id=person_id, role=role, unit_id=unit_id, granted_by=granted_by, code=code,
            created_at=now))


def revoke_grant(conn: Connection, *, grant_id: int, now: datetime) -> bool:
    res = conn.execute(update(role_grant_t)
                       .where(role_grant_t.c.id == grant_id, role_grant_t.c.revoked_at.is_(None))
                       .values(revoked_at=now))
    return res.rowcount > 0


def grants_made_by(conn: Connection, *, person_id: int) -> list[dict[str, Any]]:
    """Roles this person handed out (a chair's support team), still in force."""
    rows = conn.execute(
        select(role_grant_t.c.id, role_grant_t.c.role, unit_t.c.name.label("unit_name"),
               person_t.c.name.label("person_name"))
        .join(unit_t, unit_t.c.id == role_grant_t.c.unit_id)
        .join(person_t, person_t.c.id == role_grant_t.c.person_id)
        .where(role_grant_t.c.granted_by == person_id, role_grant_t.c.revoked_at.is_(None))
        .order_by(role_grant_t.c.id)
    ).mappings()
    return [dict(r) for r in rows]


# --------------------------------------------------------------------------- codes


def new_code(purpose: str) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{CODE_PREFIX[purpose]}-{body}"


def looks_like_code(text: str) -> bool:
    head, sep, body = text.strip().upper().partition("-")
    return bool(sep) and head in CODE_PREFIX.values() and len(body) == 8 and body.isalnum()


def create_code(conn: Connection, *, purpose: str, now: datetime, expires_at: datetime,
                role: str | None = None, unit_id: int | None = None,
                target_id: int | None = None, created_by: int | None = None) -> str:
    code = new_code(purpose)
    conn.execute(one_time_code_t.insert().values(
        code=code, purpose=purpose, role=role, unit_id=unit_id, target_id=target_id,
        created_by=created_by, created_at=now, expires_at=expires_at))
    return code


def claim_code(conn: Connection, *, code: str, person_id: int, now: datetime
               ) -> tuple[str, dict[str, Any] | None]:
    """Use a code once. Returns (status, row): ok | unknown | expired | used | revoked | own."""
    code = code.strip().upper()
    stmt = select(one_time_code_t).where(one_time_code_t.c.code == code)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        return "unknown", None
    if row["revoked_at"] is not None:
        return "revoked", dict(row)
    if row["used_at"] is not None:
        return "used", dict(row)
    if row["expires_at"] <= now:
        return "expired", dict(row)
    if row["purpose"] == "link" and row["created_by"] == person_id:
        return "own", dict(row)  # typed in the same account: left for the other app
    res = conn.execute(update(one_time_code_t)
                       .where(one_time_code_t.c.code == code, one_time_code_t.c.used_at.is_(None))
                       .values(used_by=person_id, used_at=now))
    return ("ok", dict(row)) if res.rowcount == 1 else ("used", dict(row))


def revoke_code(conn: Connection, *, code: str, now: datetime,
                created_by: int | None = None) -> bool:
    """Revoke an unused code (only the creator's, when `created_by` is given)."""
    cond = [one_time_code_t.c.code == code.strip().upper(), one_time_code_t.c.used_at.is_(None),
            one_time_code_t.c.revoked_at.is_(None)]
    if created_by is not None:
        cond.append(one_time_code_t.c.created_by == created_by)
    return conn.execute(update(one_time_code_t).where(*cond).values(revoked_at=now)).rowcount > 0


def revoke_code_and_roles(conn: Connection, *, code: str, now: datetime) -> tuple[bool, int]:
    """The administrator's revocation: the code if unused, and any role granted through it."""
    code = code.strip().upper()
    revoked = revoke_code(conn, code=code, now=now)
    roles = conn.execute(update(role_grant_t)
                         .where(role_grant_t.c.code == code, role_grant_t.c.revoked_at.is_(None))
                         .values(revoked_at=now)).rowcount
    return revoked, roles


def open_codes(conn: Connection, *, created_by: int, purpose: str, now: datetime
               ) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(one_time_code_t.c.code, one_time_code_t.c.role, one_time_code_t.c.expires_at,
               unit_t.c.name.label("unit_name"))
        .join(unit_t, unit_t.c.id == one_time_code_t.c.unit_id, isouter=True)
        .where(one_time_code_t.c.created_by == created_by, one_time_code_t.c.purpose == purpose,
               one_time_code_t.c.used_at.is_(None), one_time_code_t.c.revoked_at.is_(None),
               one_time_code_t.c.expires_at > now)
        .order_by(one_time_code_t.c.created_at)
    ).mappings()
    return [dict(r) for r in rows]


# --------------------------------------------------------------------------- linking


def merge_people(conn: Connection, *, keep: int, absorb: int) -> None:
    """Two accounts are one person: move everything of `absorb` onto `keep`."""
    if keep == absorb:
        return
    conn.execute(update(account_t).where(account_t.c.person_id == absorb).values(person_id=keep))
    conn.execute(update(draft_t).where(draft_t.c.person_id == absorb).values(person_id=keep))
    conn.execute(update(initiative_t).where(initiative_t.c.person_id == absorb)
                 .values(person_id=keep))
    conn.execute(update(initiative_t).where(initiative_t.c.entered_by == absorb)
                 .values(entered_by=keep))
    conn.execute(update(initiative_author_t).where(initiative_author_t.c.person_id == absorb)
                 .values(person_id=keep))
    conn.execute(update(role_grant_t).where(role_grant_t.c.person_id == absorb)
                 .values(person_id=keep))
    kept = get_person(conn, person_id=keep)
    gone = get_person(conn, person_id=absorb)
    if not kept["onboarded"] and gone["onboarded"]:
        update_person(conn, person_id=keep, name=gone["name"], unit_id=gone["unit_id"],
                      onboarded=True)


def link_initiative(conn: Connection, *, initiative_id: int, person_id: int) -> None:
    """An initiative registered on a worker's behalf now belongs to their account."""
    conn.execute(update(initiative_t).where(initiative_t.c.id == initiative_id)
                 .values(person_id=person_id))
    conn.execute(update(initiative_author_t)
                 .where(initiative_author_t.c.initiative_id == initiative_id,
                        initiative_author_t.c.position == 0)
                 .values(person_id=person_id))
