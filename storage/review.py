"""Review queries: initiatives with their context, status transitions with an audit log,
reviewer queues, whom to notify, and daily digests.

Statements are built once, at import, with every value a bind parameter (a set of ids an
expanding one): they run on every chat message, and building a statement costs more CPU than
running it, while a prebuilt one keeps SQLAlchemy's cache key and compiled form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from storage.models import (
    account_t,
    draft_t,
    initiative_author_t,
    initiative_event_t,
    initiative_t,
    pending_alert_t,
    person_t,
    role_grant_t,
    unit_t,
)

# Who may move an initiative from one status to another.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("under_review", "valid"): "reviewer",
    ("under_review", "needs_revision"): "reviewer",
    ("under_review", "invalid"): "reviewer",
    ("under_review", "withdrawn"): "author",
    ("needs_revision", "under_review"): "author",  # resubmitted after editing
    ("valid", "under_review"): "chair",  # reopened
    ("invalid", "under_review"): "chair",
}
REVIEWER_ROLES = ("support", "chair")


def _initiative_stmts() -> dict[str, Any]:
    parent = aliased(unit_t, name="p")
    author_unit = aliased(unit_t, name="au")
    base = (select(initiative_t, unit_t.c.name.label("unit_name"),
                   parent.c.name.label("unit_parent_name"),
                   author_unit.c.name.label("author_unit_name"))
            .join(unit_t, unit_t.c.id == initiative_t.c.unit_id)
            .outerjoin(parent, parent.c.id == unit_t.c.parent_id)
            .outerjoin(author_unit, author_unit.c.id == initiative_t.c.author_unit_id))
    return {"id": base.where(initiative_t.c.id == bindparam("key")),
            "code": base.where(initiative_t.c.code == bindparam("key"))}


_INITIATIVE = _initiative_stmts()
_AUTHORS = (select(initiative_author_t.c.name, initiative_author_t.c.person_id)
            .where(initiative_author_t.c.initiative_id == bindparam("initiative_id"))
            .order_by(initiative_author_t.c.position))


def initiative(conn: Connection, *, initiative_id: int | None = None,
               code: str | None = None) -> dict[str, Any] | None:
    """An initiative with its receiving union (and parent), its author's grassroots union,
    its authors' names and the people among them who use the bot (`author_ids`)."""
    if initiative_id is not None:
        stmt, key = _INITIATIVE["id"], initiative_id
    else:
        stmt, key = _INITIATIVE["code"], (code or "").strip().upper()
    row = conn.execute(stmt, {"key": key}).mappings().first()
    if row is None:
        return None
    out = dict(row)
    authors = conn.execute(_AUTHORS, {"initiative_id": out["id"]}).all()
    out["authors"] = [name for name, _person in authors]
    out["author_ids"] = {person for _name, person in authors if person is not None}
    return out


# Bind names differ from column names: those of an UPDATE's SET clause are reserved. The SET
# clause itself comes from the parameters (status, and any `values` given).
_TRANSITION = update(initiative_t).where(initiative_t.c.id == bindparam("b_id"),
                                         initiative_t.c.status == bindparam("b_from"))
_LOG_EVENT = insert(initiative_event_t)


def transition(conn: Connection, *, initiative_id: int, from_status: str, to_status: str,
               actor_id: int | None, reason: str | None, now: datetime,
               values: dict[str, Any] | None = None) -> bool:
    """Move the status if it still is `from_status`: of two reviewers acting at once, exactly
    one wins (the other's UPDATE matches no row). The change is logged with its reason."""
    res = conn.execute(_TRANSITION, {"b_id": initiative_id, "b_from": from_status,
                                     "status": to_status, **(values or {})})
    if res.rowcount != 1:
        return False
    conn.execute(_LOG_EVENT, {"initiative_id": initiative_id, "actor_id": actor_id, "at": now,
                              "from_status": from_status, "to_status": to_status,
                              "reason": reason})
    return True


_DROP_COAUTHORS = delete(initiative_author_t).where(
    initiative_author_t.c.initiative_id == bindparam("initiative_id"),
    initiative_author_t.c.position > 0)
_ADD_AUTHORS = insert(initiative_author_t)
_DROP_DRAFT = delete(draft_t).where(draft_t.c.id == bindparam("draft_id"))


def resubmit(conn: Connection, *, draft: dict[str, Any], coauthors: list[str], actor_id: int,
             now: datetime) -> bool:
    """A returned initiative, edited, goes back under review with the edited fields."""
    values = {k: draft.get(k) for k in (
        "title", "description", "field_code", "applied_on", "benefit_vnd", "attachments",
        "unit_id")}
    values["applied_month_only"] = bool(draft.get("applied_month_only"))
    values["benefit_known"] = bool(draft.get("benefit_known"))
    values["recognized"] = bool(draft.get("recognized"))
    ok = transition(conn, initiative_id=draft["initiative_id"], from_status="needs_revision",
                    to_status="under_review", actor_id=actor_id, reason=None, now=now,
                    values=values)
    if ok:
        conn.execute(_DROP_COAUTHORS, {"initiative_id": draft["initiative_id"]})
        if coauthors:
            conn.execute(_ADD_AUTHORS, [
                {"initiative_id": draft["initiative_id"], "position": i, "name": name}
                for i, name in enumerate(coauthors, 1)])
        conn.execute(_DROP_DRAFT, {"draft_id": draft["id"]})
    return ok


_HISTORY = (
    select(initiative_event_t.c.at, initiative_event_t.c.from_status,
           initiative_event_t.c.to_status, initiative_event_t.c.reason,
           person_t.c.name.label("actor_name"))
    .outerjoin(person_t, person_t.c.id == initiative_event_t.c.actor_id)
    .where(initiative_event_t.c.initiative_id == bindparam("initiative_id"))
    .order_by(initiative_event_t.c.id)
)


def history(conn: Connection, *, initiative_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(_HISTORY, {"initiative_id": initiative_id}).mappings()
    return [dict(r) for r in rows]


def _one_of(col: Any, values: tuple[str, ...]) -> Any:
    """`col` equal to one of a fixed set of values. Not IN: SQLAlchemy would render an IN
    list anew on every execution, while these comparisons are compiled once."""
    return or_(*(col == v for v in values))


def _scope_units(roles: tuple[str, ...]) -> Any:
    """A CTE of every unit under the units where the person (bind `person_id`) holds one of
    `roles`."""
    base = (select(role_grant_t.c.unit_id.label("id"))
            .where(role_grant_t.c.person_id == bindparam("person_id"),
                   role_grant_t.c.revoked_at.is_(None),
                   _one_of(role_grant_t.c.role, (*roles, "admin")))
            .cte("scope", recursive=True))
    return base.union_all(select(unit_t.c.id).where(unit_t.c.parent_id == base.c.id))


def _pending_stmt() -> Any:
    scope = _scope_units(REVIEWER_ROLES)
    return (
        select(initiative_t.c.id, initiative_t.c.code, initiative_t.c.title,
               initiative_t.c.submitted_at, unit_t.c.name.label("unit_name"))
        .join(unit_t, unit_t.c.id == initiative_t.c.unit_id)
        .where(initiative_t.c.status == "under_review",
               or_(initiative_t.c.unit_id.in_(select(scope.c.id)),
                   initiative_t.c.author_unit_id.in_(select(scope.c.id))))
        .order_by(initiative_t.c.submitted_at, initiative_t.c.id)
        .offset(bindparam("offset", type_=Integer)).limit(bindparam("limit", type_=Integer))
    )


_PENDING = _pending_stmt()


def pending_in_scope(conn: Connection, *, person_id: int, offset: int, limit: int
                     ) -> list[dict[str, Any]]:
    """Initiatives under review in the reviewer's scope, oldest first: sent to a union there
    (to decide), or written by a member of a union there (to help the author)."""
    rows = conn.execute(_PENDING, {"person_id": person_id, "offset": offset,
                                   "limit": limit}).mappings()
    return [dict(r) for r in rows]


def _alert_recipients_stmt(with_author_unit: bool) -> Any:
    cond = and_(role_grant_t.c.unit_id == bindparam("unit_id"),
                _one_of(role_grant_t.c.role, REVIEWER_ROLES))
    if with_author_unit:
        cond = or_(cond, and_(role_grant_t.c.unit_id == bindparam("author_unit_id"),
                              role_grant_t.c.role == "support"))
    return (select(role_grant_t.c.person_id).distinct()
            .where(cond, role_grant_t.c.revoked_at.is_(None)))


# Keyed by "is there an author's unit".
_ALERT_RECIPIENTS = {flag: _alert_recipients_stmt(flag) for flag in (False, True)}
# The same people as one array, for a statement that binds `unit_id` and `author_unit_id`
# itself (PostgreSQL: a submission's, storage/submitting.py).
_people = _ALERT_RECIPIENTS[True].subquery()
ALERT_RECIPIENTS_ARRAY = (select(func.array_agg(_people.c.person_id)).scalar_subquery()
                          .label("reviewers"))


def alert_recipients(conn: Connection, *, unit_id: int, author_unit_id: int | None
                     ) -> list[int]:
    """The support teams and chair of the receiving union, and the support team of the
    author's grassroots union."""
    rows = conn.execute(_ALERT_RECIPIENTS[author_unit_id is not None],
                        {"unit_id": unit_id, "author_unit_id": author_unit_id})
    return sorted(rows.scalars())


@dataclass(frozen=True, slots=True)
class Target:
    person_id: int
    account_id: int
    channel: str
    chat_id: str
    locale: str | None
    alert_mode: str


def _notify_targets_stmt() -> Any:
    ranked = (select(account_t.c.id, account_t.c.person_id, account_t.c.channel,
                     account_t.c.chat_id, account_t.c.locale,
                     func.row_number().over(partition_by=account_t.c.person_id,
                                            order_by=account_t.c.updated_at.desc()).label("rn"))
              .where(account_t.c.person_id.in_(bindparam("person_ids", expanding=True)),
                     account_t.c.reachable.is_(True))
              .subquery())
    return (select(ranked, person_t.c.alert_mode)
            .join(person_t, person_t.c.id == ranked.c.person_id)
            .where(ranked.c.rn == 1))


_NOTIFY_TARGETS = _notify_targets_stmt()


def notify_targets(conn: Connection, *, person_ids: list[int]) -> dict[int, Target]:
    """For each person, the account to write to: the most recently used reachable one."""
    if not person_ids:
        return {}
    rows = conn.execute(_NOTIFY_TARGETS, {"person_ids": list(person_ids)}).mappings()
    return {r["person_id"]: Target(r["person_id"], r["id"], r["channel"], r["chat_id"],
                                   r["locale"], r["alert_mode"]) for r in rows}


_HOLD_ALERT = insert(pending_alert_t)


def hold_alert(conn: Connection, *, person_id: int, initiative_id: int, now: datetime) -> None:
    conn.execute(_HOLD_ALERT, {"person_id": person_id, "initiative_id": initiative_id,
                               "created_at": now})


def _digest_stmt() -> Any:
    waiting = and_(pending_alert_t.c.digested_at.is_(None),
                   pending_alert_t.c.created_at < bindparam("before"))
    people = (select(pending_alert_t.c.person_id).where(waiting).distinct()
              .limit(bindparam("limit", type_=Integer)))
    return (
        select(pending_alert_t.c.id, pending_alert_t.c.person_id, initiative_t.c.code,
               initiative_t.c.title, initiative_t.c.status, unit_t.c.name.label("unit_name"))
        .join(initiative_t, initiative_t.c.id == pending_alert_t.c.initiative_id)
        .join(unit_t, unit_t.c.id == initiative_t.c.unit_id)
        .where(waiting, pending_alert_t.c.person_id.in_(people))
        .order_by(pending_alert_t.c.person_id, pending_alert_t.c.id)
    )


_DIGEST = _digest_stmt()


def digest_batch(conn: Connection, *, before: datetime, limit: int) -> dict[int, list[dict]]:
    """Held alerts, grouped by person, for up to `limit` people."""
    rows = conn.execute(_DIGEST, {"before": before, "limit": limit}).mappings()
    out: dict[int, list[dict]] = {}
    for r in rows:
        out.setdefault(r["person_id"], []).append(dict(r))
    return out


_MARK_DIGESTED = (update(pending_alert_t)
                  .where(pending_alert_t.c.id.in_(bindparam("alert_ids", expanding=True)))
                  .values(digested_at=bindparam("now")))


def mark_digested(conn: Connection, *, alert_ids: list[int], now: datetime) -> None:
    conn.execute(_MARK_DIGESTED, {"alert_ids": list(alert_ids), "now": now})


def is_author(row: dict[str, Any], person_id: int) -> bool:
    return person_id in (row.get("person_id"), row.get("entered_by"))

