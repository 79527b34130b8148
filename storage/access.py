"""People, roles and one-time codes (invites, account links, initiative claims).

A role on a unit covers the unit and every unit below it; `covers` answers that with one
recursive query up the (shallow) hierarchy. An administrator may do everything: whenever a
role is asked about (`covers`, `grants`, `roles_held`), an admin grant answers for it too.

Statements are built once, at import, with every value a bind parameter: they run on every
chat message, and building a statement costs more CPU than running it, while a prebuilt one
keeps SQLAlchemy's cache key and compiled form. Roles asked about are picked in Python from
the person's few grants rather than bound as an IN list, which SQLAlchemy renders anew on
every execution. Bind names in an UPDATE differ from the table's column names, which are
reserved for its SET clause.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, literal, select, update

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


# Without its timestamp, which no step reads (it would be parsed from text on SQLite).
_PERSON_COLS = [c for c in person_t.c if c.name != "created_at"]
_PERSON_KEYS = tuple(c.key for c in _PERSON_COLS)
_GET_PERSON = select(*_PERSON_COLS).where(person_t.c.id == bindparam("person_id"))
# The SET clause comes from the parameters: one compiled form per set of columns updated.
_UPDATE_PERSON = update(person_t).where(person_t.c.id == bindparam("b_person_id"))


def get_person(conn: Connection, *, person_id: int) -> dict[str, Any]:
    """The person's row, without `created_at`."""
    row = conn.execute(_GET_PERSON, {"person_id": person_id}).first()
    if row is None:
        raise LookupError(f"no person {person_id}")
    return dict(zip(_PERSON_KEYS, row, strict=True))


def update_person(conn: Connection, *, person_id: int, **values: Any) -> None:
    conn.execute(_UPDATE_PERSON, {"b_person_id": person_id, **values})


# --------------------------------------------------------------------------- scope


def _ancestors_cte() -> Any:
    """The unit (bind `unit_id`) and its ancestors, with their distance `lvl`."""
    anc = (select(unit_t.c.id, unit_t.c.parent_id, literal(0).label("lvl"))
           .where(unit_t.c.id == bindparam("unit_id")).cte("anc", recursive=True))
    return anc.union_all(select(unit_t.c.id, unit_t.c.parent_id, (anc.c.lvl + 1).label("lvl"))
                         .where(unit_t.c.id == anc.c.parent_id))


ANCESTORS = _ancestors_cte()   # (id, parent_id, lvl) of the unit bound as `unit_id` and above
# One statement: the ancestors' CTE feeds the grant lookup. The roles are checked in Python:
# a person holds a handful of grants, and an IN list would be rendered anew on every call.
_ROLES_ABOVE = select(role_grant_t.c.role).where(
    role_grant_t.c.person_id == bindparam("person_id"),
    role_grant_t.c.revoked_at.is_(None),
    role_grant_t.c.unit_id.in_(select(ANCESTORS.c.id)),
)


def covers(conn: Connection, *, person_id: int, roles: tuple[str, ...], unit_id: int) -> bool:
    """Does the person hold one of `roles` (or admin) on the unit or one of its ancestors?"""
    held = conn.execute(_ROLES_ABOVE, {"person_id": person_id, "unit_id": unit_id}).scalars()
    return not {*roles, "admin"}.isdisjoint(held.all())


@dataclass(frozen=True, slots=True)
class Grant:
    id: int
    role: str
    unit_id: int
    unit_name: str
    granted_by: int | None
    code: str | None


_GRANTS = (
    select(role_grant_t.c.id, role_grant_t.c.role, role_grant_t.c.unit_id,
           unit_t.c.name, role_grant_t.c.granted_by, role_grant_t.c.code)
    .join(unit_t, unit_t.c.id == role_grant_t.c.unit_id)
    .where(role_grant_t.c.person_id == bindparam("person_id"),
           role_grant_t.c.revoked_at.is_(None))
    .order_by(role_grant_t.c.id)
)


def grants(conn: Connection, *, person_id: int, roles: tuple[str, ...] = ROLES) -> list[Grant]:
    """The person's grants in force of one of `roles`, and their admin grants (an
    administrator holds every role, on the unit granted and everything below it)."""
    if not roles:
        return []
    # Every grant in force, the roles picked here: a person holds a handful.
    asked = {*roles, "admin"}
    return [Grant(*r) for r in conn.execute(_GRANTS, {"person_id": person_id})
            if r[1] in asked]


def roles_held(conn: Connection, *, person_id: int) -> set[str]:
    """The roles the person holds on some unit: an administrator holds every one."""
    held = {g.role for g in grants(conn, person_id=person_id)}
    return set(ROLES) if "admin" in held else held


_GRANT_EXISTS = select(role_grant_t.c.id).where(
    role_grant_t.c.person_id == bindparam("person_id"), role_grant_t.c.role == bindparam("role"),
    role_grant_t.c.unit_id == bindparam("unit_id"), role_grant_t.c.revoked_at.is_(None))
_ADD_GRANT = insert(role_grant_t)


def grant_role(conn: Connection, *, person_id: int, role: str, unit_id: int,
               granted_by: int | None, code: str | None, now: datetime) -> None:
    existing = conn.execute(_GRANT_EXISTS, {"person_id": person_id, "role": role,
                                            "unit_id": unit_id}).first()
    if existing is None:
        conn.execute(_ADD_GRANT, {"person_id": person_id, "role": role, "unit_id": unit_id,
                                  "granted_by": granted_by, "code": code, "created_at": now})


_REVOKE_GRANT = (update(role_grant_t)
                 .where(role_grant_t.c.id == bindparam("b_id"),
                        role_grant_t.c.revoked_at.is_(None))
                 .values(revoked_at=bindparam("b_now")))


def revoke_grant(conn: Connection, *, grant_id: int, now: datetime) -> bool:
    res = conn.execute(_REVOKE_GRANT, {"b_id": grant_id, "b_now": now})
    return res.rowcount > 0


_GRANTS_MADE_BY = (
    select(role_grant_t.c.id, role_grant_t.c.role, unit_t.c.name.label("unit_name"),
           person_t.c.name.label("person_name"))
    .join(unit_t, unit_t.c.id == role_grant_t.c.unit_id)
    .join(person_t, person_t.c.id == role_grant_t.c.person_id)
    .where(role_grant_t.c.granted_by == bindparam("person_id"),
           role_grant_t.c.revoked_at.is_(None))
    .order_by(role_grant_t.c.id)
)


def grants_made_by(conn: Connection, *, person_id: int) -> list[dict[str, Any]]:
    """Roles this person handed out (a chair's support team), still in force."""
    rows = conn.execute(_GRANTS_MADE_BY, {"person_id": person_id}).mappings()
    return [dict(r) for r in rows]


_TEAM = (
    select(role_grant_t.c.id, role_grant_t.c.role, role_grant_t.c.unit_id,
           unit_t.c.name.label("unit_name"), person_t.c.name.label("person_name"),
           role_grant_t.c.person_id)
    .join(unit_t, unit_t.c.id == role_grant_t.c.unit_id)
    .join(person_t, person_t.c.id == role_grant_t.c.person_id)
    .where(role_grant_t.c.unit_id.in_(bindparam("unit_ids", expanding=True)),
           role_grant_t.c.role == "support", role_grant_t.c.revoked_at.is_(None))
    .order_by(role_grant_t.c.unit_id, role_grant_t.c.id)
)


def support_team(conn: Connection, *, unit_ids: list[int]) -> list[dict[str, Any]]:
    """The support team members of these units, whoever invited them."""
    if not unit_ids:
        return []
    return [dict(r) for r in conn.execute(_TEAM, {"unit_ids": unit_ids}).mappings()]


_GRANT = select(role_grant_t.c.unit_id, role_grant_t.c.granted_by).where(
    role_grant_t.c.id == bindparam("grant_id"), role_grant_t.c.revoked_at.is_(None))


def grant_in_force(conn: Connection, *, grant_id: int) -> dict[str, Any] | None:
    row = conn.execute(_GRANT, {"grant_id": grant_id}).mappings().first()
    return dict(row) if row else None


# --------------------------------------------------------------------------- codes


def new_code(purpose: str) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{CODE_PREFIX[purpose]}-{body}"


def looks_like_code(text: str) -> bool:
    head, sep, body = text.strip().upper().partition("-")
    return bool(sep) and head in CODE_PREFIX.values() and len(body) == 8 and body.isalnum()


_ADD_CODE = insert(one_time_code_t)


def create_code(conn: Connection, *, purpose: str, now: datetime, expires_at: datetime,
                role: str | None = None, unit_id: int | None = None,
                target_id: int | None = None, created_by: int | None = None) -> str:
    code = new_code(purpose)
    conn.execute(_ADD_CODE, {"code": code, "purpose": purpose, "role": role, "unit_id": unit_id,
                             "target_id": target_id, "created_by": created_by,
                             "created_at": now, "expires_at": expires_at})
    return code


_GET_CODE = select(one_time_code_t).where(one_time_code_t.c.code == bindparam("code"))
_GET_CODE_FOR_UPDATE = _GET_CODE.with_for_update()  # PostgreSQL
_USE_CODE = (update(one_time_code_t)
             .where(one_time_code_t.c.code == bindparam("b_code"),
                    one_time_code_t.c.used_at.is_(None))
             .values(used_by=bindparam("b_person_id"), used_at=bindparam("b_now")))


def peek_code(conn: Connection, *, code: str, person_id: int, now: datetime, lock: bool = False
              ) -> tuple[str, dict[str, Any] | None]:
    """Whether a code could be used now, without using it. Returns (status, row):
    ok | unknown | expired | used | revoked | own."""
    code = code.strip().upper()
    stmt = _GET_CODE_FOR_UPDATE if lock and conn.dialect.name == "postgresql" else _GET_CODE
    row = conn.execute(stmt, {"code": code}).mappings().first()
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
    return "ok", dict(row)


def claim_code(conn: Connection, *, code: str, person_id: int, now: datetime
               ) -> tuple[str, dict[str, Any] | None]:
    """Use a code once. Returns (status, row) as `peek_code` does."""
    status, row = peek_code(conn, code=code, person_id=person_id, now=now, lock=True)
    if status != "ok":
        return status, row
    res = conn.execute(_USE_CODE, {"b_code": code.strip().upper(), "b_person_id": person_id,
                                   "b_now": now})
    return ("ok", row) if res.rowcount == 1 else ("used", row)


def _revoke_code_stmt(by_creator: bool) -> Any:
    cond = [one_time_code_t.c.code == bindparam("b_code"), one_time_code_t.c.used_at.is_(None),
            one_time_code_t.c.revoked_at.is_(None)]
    if by_creator:
        cond.append(one_time_code_t.c.created_by == bindparam("b_created_by"))
    return update(one_time_code_t).where(*cond).values(revoked_at=bindparam("b_now"))


# Keyed by "only the creator's code".
_REVOKE_CODE = {flag: _revoke_code_stmt(flag) for flag in (False, True)}
_REVOKE_ROLES_OF_CODE = (update(role_grant_t)
                         .where(role_grant_t.c.code == bindparam("b_code"),
                                role_grant_t.c.revoked_at.is_(None))
                         .values(revoked_at=bindparam("b_now")))


def revoke_code(conn: Connection, *, code: str, now: datetime,
                created_by: int | None = None) -> bool:
    """Revoke an unused code (only the creator's, when `created_by` is given)."""
    params: dict[str, Any] = {"b_code": code.strip().upper(), "b_now": now}
    if created_by is not None:
        params["b_created_by"] = created_by
    return conn.execute(_REVOKE_CODE[created_by is not None], params).rowcount > 0


def revoke_code_and_roles(conn: Connection, *, code: str, now: datetime) -> tuple[bool, int]:
    """The administrator's revocation: the code if unused, and any role granted through it."""
    code = code.strip().upper()
    revoked = revoke_code(conn, code=code, now=now)
    roles = conn.execute(_REVOKE_ROLES_OF_CODE, {"b_code": code, "b_now": now}).rowcount
    return revoked, roles


_OPEN_CODES = (
    select(one_time_code_t.c.code, one_time_code_t.c.role, one_time_code_t.c.expires_at,
           unit_t.c.name.label("unit_name"))
    .join(unit_t, unit_t.c.id == one_time_code_t.c.unit_id, isouter=True)
    .where(one_time_code_t.c.created_by == bindparam("created_by"),
           one_time_code_t.c.purpose == bindparam("purpose"),
           one_time_code_t.c.used_at.is_(None), one_time_code_t.c.revoked_at.is_(None),
           one_time_code_t.c.expires_at > bindparam("now"))
    .order_by(one_time_code_t.c.created_at)
)


def open_codes(conn: Connection, *, created_by: int, purpose: str, now: datetime
               ) -> list[dict[str, Any]]:
    rows = conn.execute(_OPEN_CODES, {"created_by": created_by, "purpose": purpose,
                                      "now": now}).mappings()
    return [dict(r) for r in rows]


# --------------------------------------------------------------------------- linking


def _move_person_stmts() -> tuple[Any, ...]:
    """Every reference to a person (bind `absorb`) moved onto another (bind `keep`)."""
    refs = [(account_t, "person_id"), (draft_t, "person_id"), (initiative_t, "person_id"),
            (initiative_t, "entered_by"), (initiative_author_t, "person_id"),
            (role_grant_t, "person_id")]
    return tuple(update(t).where(t.c[col] == bindparam("absorb"))
                 .values({col: bindparam("keep")}) for t, col in refs)


_MOVE_PERSON = _move_person_stmts()


def merge_people(conn: Connection, *, keep: int, absorb: int) -> None:
    """Two accounts are one person: move everything of `absorb` onto `keep`."""
    if keep == absorb:
        return
    for stmt in _MOVE_PERSON:
        conn.execute(stmt, {"keep": keep, "absorb": absorb})
    kept = get_person(conn, person_id=keep)
    gone = get_person(conn, person_id=absorb)
    if not kept["onboarded"] and gone["onboarded"]:
        update_person(conn, person_id=keep, name=gone["name"], unit_id=gone["unit_id"],
                      onboarded=True)


_LINK_INITIATIVE = (update(initiative_t).where(initiative_t.c.id == bindparam("b_id"))
                    .values(person_id=bindparam("b_person_id")))
_LINK_FIRST_AUTHOR = (update(initiative_author_t)
                      .where(initiative_author_t.c.initiative_id == bindparam("b_id"),
                             initiative_author_t.c.position == 0)
                      .values(person_id=bindparam("b_person_id")))


def link_initiative(conn: Connection, *, initiative_id: int, person_id: int) -> None:
    """An initiative registered on a worker's behalf now belongs to their account."""
    params = {"b_id": initiative_id, "b_person_id": person_id}
    conn.execute(_LINK_INITIATIVE, params)
    conn.execute(_LINK_FIRST_AUTHOR, params)
