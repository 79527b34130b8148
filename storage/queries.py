"""Queries: keyword-only functions over a synchronous SQLAlchemy `Connection`.

They run inside `AsyncConnection.run_sync`, so one inbound event (or one batch of them) is a
single greenlet hop into plain code, and each statement is one round trip to the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from storage import bulk
from storage.models import (
    account_t,
    directory_version_t,
    draft_t,
    initiative_event_t,
    initiative_t,
    person_t,
    role_grant_t,
    unit_t,
    unit_term_count_t,
    unit_term_t,
)
from storage.textfold import MAX_TERM, terms

# Statements are built once, at import, with bound parameters, and run with
# `Connection.execute`: building a SQLAlchemy statement per call costs more than running it,
# while a prebuilt one keeps its cache key and so hits SQLAlchemy's compiled cache. An IN list
# (an expanding parameter) is rendered anew on every execution, so the per-message path binds
# one only where the number of values varies. Those whose form depends on the dialect
# (ON CONFLICT, FOR UPDATE) come in one variant per dialect.

# --------------------------------------------------------------------------- events


def per_dialect(build: Any) -> dict[str, Any]:
    """`build(dialect module)` for each dialect, by dialect name (`conn.dialect.name`)."""
    return {name: build(d) for name, d in bulk.DIALECTS.items()}


# --------------------------------------------------------------------------- accounts

# What a conversation needs: no timestamps (each would be parsed from text on SQLite for
# every message; a changed row gets `updated_at` on write-back).
_STAMPS = ("created_at", "updated_at")
_ACCOUNT_COLS = [c for c in account_t.c if c.name not in _STAMPS]
_DRAFT_COLS = [c for c in draft_t.c if c.name not in _STAMPS]
# The account's person row as `storage.access.get_person` reads it: a step that needs it
# (most do, sooner or later) finds it read with the account, not one round trip more.
_PERSON_COLS = [c for c in person_t.c if c.name != "created_at"]


# Whether the person holds any role: most people hold none, and their home menu then needs
# no look at their grants.
_HAS_GRANT = (select(role_grant_t.c.id)
              .where(role_grant_t.c.person_id == account_t.c.person_id,
                     role_grant_t.c.revoked_at.is_(None))
              .exists().label("has_grant"))


# The unit directory's version, read with the accounts: a batch's unit lookups check their
# kept rows against it without a round trip of their own (storage/unit_cache.py).
_DIRECTORY_VERSION = (select(directory_version_t.c.n).where(directory_version_t.c.id == 1)
                      .scalar_subquery().label("directory_version"))


def _load_stmt(*, one: bool, locked: bool) -> Any:
    # One account (bind `external_id`), the usual case, is an equality, so no IN list is
    # rendered per call; several (bind `external_ids`) an IN list.
    ext = account_t.c.external_id
    stmt = (
        select(*_ACCOUNT_COLS, *(c.label(f"d_{c.name}") for c in _DRAFT_COLS),
               *(c.label(f"p_{c.name}") for c in _PERSON_COLS), _HAS_GRANT,
               _DIRECTORY_VERSION)
        .select_from(account_t.outerjoin(draft_t, draft_t.c.id == account_t.c.draft_id)
                     .outerjoin(person_t, person_t.c.id == account_t.c.person_id))
        .where(account_t.c.channel == bindparam("channel"),
               ext == bindparam("external_id") if one
               else ext.in_(bindparam("external_ids", expanding=True)))
        .order_by(account_t.c.id)
    )
    # Rows locked in id order: two transactions locking overlapping sets cannot deadlock.
    return stmt.with_for_update(of=account_t) if locked else stmt


# Keyed by (one account, locked).
_LOAD_ACCOUNTS = {(one, locked): _load_stmt(one=one, locked=locked)
                  for one in (False, True) for locked in (False, True)}
_ACCOUNT_KEYS = tuple(c.key for c in _ACCOUNT_COLS)
_DRAFT_KEYS = tuple(c.key for c in _DRAFT_COLS)
_PERSON_KEYS = tuple(c.key for c in _PERSON_COLS)
_N_ACCOUNT = len(_ACCOUNT_KEYS)
_N_DRAFT = _N_ACCOUNT + len(_DRAFT_KEYS)


def load_accounts(
    conn: Connection, *, channel: str, external_ids: Sequence[str], lock: bool
) -> dict[str, dict[str, Any]]:
    """Accounts keyed by external id, each with its active draft under "draft" (or None),
    its person's row under "person", whether that person holds a role ("has_grant") and
    the unit directory's version ("directory_version"); without their timestamps."""
    one = len(external_ids) == 1
    stmt = _LOAD_ACCOUNTS[(one, lock and conn.dialect.name == "postgresql")]
    params = ({"channel": channel, "external_id": external_ids[0]} if one
              else {"channel": channel, "external_ids": list(external_ids)})
    out = {}
    for row in conn.execute(stmt, params):
        account = dict(zip(_ACCOUNT_KEYS, row[:_N_ACCOUNT], strict=True))
        account["draft"] = (dict(zip(_DRAFT_KEYS, row[_N_ACCOUNT:_N_DRAFT], strict=True))
                            if row[_N_ACCOUNT] is not None else None)   # the draft's id
        account["person"] = (dict(zip(_PERSON_KEYS, row[_N_DRAFT:-2], strict=True))
                             if row[_N_DRAFT] is not None else None)
        account["has_grant"] = bool(row[-2])
        account["directory_version"] = row[-1]
        out[account["external_id"]] = account
    return out


# executemany with RETURNING, ids in the order of the parameter rows.
_NEW_PERSON = insert(person_t).returning(person_t.c.id, sort_by_parameter_order=True)
_NEW_ACCOUNT = per_dialect(lambda d: d.insert(account_t).on_conflict_do_nothing())


def create_accounts(
    conn: Connection, *, channel: str, new: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """Create a person and an account for each (external_id, chat_id, name) not yet known."""
    if not new:
        return
    people = conn.execute(
        _NEW_PERSON, [{"name": name[:128], "created_at": now} for _e, _c, name in new]
    ).scalars().all()
    conn.execute(_NEW_ACCOUNT[conn.dialect.name], [
        {"channel": channel, "external_id": external_id, "chat_id": chat_id,
         "person_id": person_id, "step": "idle", "state": "{}", "created_at": now,
         "updated_at": now}
        for (external_id, chat_id, _name), person_id in zip(new, people, strict=True)])


_ACCOUNT_UPDATE = (
    update(account_t)
    .where(account_t.c.id == bindparam("_id"))
    .values(
        step=bindparam("step"), state=bindparam("state"), draft_id=bindparam("draft_id"),
        locale=bindparam("locale"), updated_at=bindparam("updated_at"),
    )
)

DRAFT_FIELDS = (
    "step", "title", "description", "benefit_vnd", "benefit_known", "unit_id", "field_code",
    "applied_on", "applied_month_only", "recognized", "coauthors", "attachments", "on_behalf",
    "author_name", "author_phone", "author_unit_id", "initiative_id",
)
_DRAFT_UPDATE = (
    update(draft_t)
    .where(draft_t.c.id == bindparam("_id"))
    .values({f: bindparam(f) for f in (*DRAFT_FIELDS, "updated_at")})
)
_MARK_REACHABLE = (update(account_t)
                   .where(account_t.c.id.in_(bindparam("ids", expanding=True)))
                   .values(reachable=True))


def mark_reachable(conn: Connection, *, account_ids: Sequence[int]) -> None:
    """A user who had blocked the bot wrote again: messages can reach them once more."""
    if account_ids:
        conn.execute(_MARK_REACHABLE, {"ids": list(account_ids)})


def save_accounts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write back changed conversation state (one statement)."""
    _save(conn, account_t, _ACCOUNT_UPDATE, rows, ("step", "state", "draft_id", "locale"))


def save_drafts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write back changed drafts (one statement)."""
    _save(conn, draft_t, _DRAFT_UPDATE, rows, DRAFT_FIELDS)


def _save(conn: Connection, table: Any, stmt: Any, rows: list[dict[str, Any]],
          fields: Sequence[str]) -> None:
    if rows and conn.dialect.name == "postgresql":
        bulk.update_rows(conn, table, [{**r, "id": r["_id"]} for r in rows], key=("id",),
                         cols=(*fields, "updated_at"))
    elif rows:
        conn.execute(stmt, rows)


# --------------------------------------------------------------------------- drafts

# Its timestamps are not read back (parsed from text on SQLite): they are the `now` given.
_CREATE_DRAFT = insert(draft_t).returning(*_DRAFT_COLS)
_GET_DRAFT = select(draft_t).where(draft_t.c.id == bindparam("draft_id"),
                                   draft_t.c.person_id == bindparam("person_id"))
_LIST_DRAFTS = (
    select(draft_t.c.id, draft_t.c.title, draft_t.c.step, draft_t.c.updated_at)
    .where(draft_t.c.person_id == bindparam("person_id"))
    .order_by(draft_t.c.updated_at.desc(), draft_t.c.id.desc())
    .limit(bindparam("limit"))
)
_DELETE_DRAFT = delete(draft_t).where(draft_t.c.id == bindparam("draft_id"),
                                      draft_t.c.person_id == bindparam("person_id"))


# PostgreSQL: the new draft, and the title of the person's latest draft before it (the
# RETURNING's subquery does not see the row its own statement inserts).
_LATEST_TITLE = (select(draft_t.c.title).where(draft_t.c.person_id == bindparam("b_person"))
                 .order_by(draft_t.c.updated_at.desc(), draft_t.c.id.desc()).limit(1)
                 .scalar_subquery().label("latest_title"))
_CREATE_DRAFT_AFTER = insert(draft_t).returning(*_DRAFT_COLS, _LATEST_TITLE)


def create_draft(conn: Connection, *, person_id: int, now: datetime, step: str = "title",
                 on_behalf: bool = False) -> dict[str, Any]:
    return _create_draft(conn, _CREATE_DRAFT, person_id=person_id, now=now, step=step,
                         on_behalf=on_behalf)[0]


def create_draft_after(conn: Connection, *, person_id: int, now: datetime
                       ) -> tuple[dict[str, Any], str | None]:
    """A new draft, and the title of the person's most recently touched draft before it
    (None: none, or untitled). One round trip on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        draft, row = _create_draft(conn, _CREATE_DRAFT_AFTER, person_id=person_id, now=now,
                                   extra={"b_person": person_id})
        return draft, row[-1]
    latest = list_drafts(conn, person_id=person_id, limit=1)
    draft = create_draft(conn, person_id=person_id, now=now)
    return draft, latest[0]["title"] if latest else None


def _create_draft(conn: Connection, stmt: Any, *, person_id: int, now: datetime,
                  step: str = "title", on_behalf: bool = False,
                  extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    row = conn.execute(stmt, {
        "person_id": person_id, "step": step, "on_behalf": on_behalf, "created_at": now,
        "updated_at": now, **(extra or {})}).one()
    draft = dict(zip(_DRAFT_KEYS, row[:len(_DRAFT_KEYS)], strict=True))
    draft["created_at"] = draft["updated_at"] = now.astimezone(UTC)  # as the column gives it
    return draft, row


def get_draft(conn: Connection, *, draft_id: int, person_id: int) -> dict[str, Any] | None:
    row = conn.execute(_GET_DRAFT, {"draft_id": draft_id, "person_id": person_id}
                       ).mappings().first()
    return dict(row) if row is not None else None


def list_drafts(conn: Connection, *, person_id: int, limit: int) -> list[dict[str, Any]]:
    """A person's drafts, most recently touched first."""
    rows = conn.execute(_LIST_DRAFTS, {"person_id": person_id, "limit": limit}).mappings()
    return [dict(r) for r in rows]


def delete_draft(conn: Connection, *, draft_id: int, person_id: int) -> bool:
    res = conn.execute(_DELETE_DRAFT, {"draft_id": draft_id, "person_id": person_id})
    return res.rowcount > 0


# --------------------------------------------------------------------------- initiatives

# The reason given with the initiative's current status (returned or invalid), if any.
_STATUS_REASON = (
    select(initiative_event_t.c.reason)
    .where(initiative_event_t.c.initiative_id == initiative_t.c.id,
           initiative_event_t.c.to_status == initiative_t.c.status)
    .order_by(initiative_event_t.c.id.desc()).limit(1).scalar_subquery()
)
_LIST_INITIATIVES = (
    select(
        initiative_t.c.id, initiative_t.c.code, initiative_t.c.title, initiative_t.c.status,
        initiative_t.c.submitted_at, unit_t.c.name.label("unit_name"),
        _STATUS_REASON.label("reason"),
    )
    .join(unit_t, unit_t.c.id == initiative_t.c.unit_id)
    .where(initiative_t.c.person_id == bindparam("person_id"))
    .order_by(initiative_t.c.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)


def list_initiatives(
    conn: Connection, *, person_id: int, offset: int, limit: int
) -> list[dict[str, Any]]:
    """A person's initiatives, newest first; ask for limit+1 to learn whether more follow."""
    rows = conn.execute(_LIST_INITIATIVES,
                        {"person_id": person_id, "offset": offset, "limit": limit})
    return [dict(r) for r in rows.mappings()]


# --------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True)
class UnitRow:
    """A unit as the directory file describes it."""

    code: str
    name: str
    parent_code: str | None
    kind: str
    bloc: str = "other"
    member_count: int = 0
    cluster: str | None = None
    is_demo: bool = False


class UnitHit(NamedTuple):
    """A unit found (a tuple: a search builds up to 200 of them per message)."""

    id: int
    code: str
    name: str
    parent_name: str | None
    depth: int


def count_units(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(unit_t)).scalar_one()


GRASSROOTS = "grassroots"


def is_grassroots(kind: str) -> bool:
    return kind == GRASSROOTS


_CANDIDATES = 200
_MAX_QUERY_TERMS = 6
# Rows read for the candidates: a unit comes once per word of its own in the scanned range,
# so a short prefix ("t") repeats units; this many rows give _CANDIDATES distinct ones.
_RAW_CANDIDATES = 4 * (_CANDIDATES + 1)
# Terms are [a-z0-9]; every word starting with `term` sorts inside [term, term + DEL).
_PAST = "\x7f"


def _term_in(col: Any, i: int) -> Any:
    return and_(col >= bindparam(f"lo{i}"), col < bindparam(f"hi{i}"))


def _kind_filter(col: Any, grassroots: bool | None) -> Any:
    # Equality (or IN) on the key's first column keeps the term range an index range scan.
    if grassroots is None:
        return col.in_([False, True])
    return col == grassroots


_UNIT_PARENT = aliased(unit_t, name="p")
_UNIT_HIT_COLS = (unit_t.c.id, unit_t.c.code, unit_t.c.name,  # in UnitHit's order
                  _UNIT_PARENT.c.name.label("parent_name"), unit_t.c.depth)
_UNIT_WITH_PARENT = unit_t.outerjoin(_UNIT_PARENT, _UNIT_PARENT.c.id == unit_t.c.parent_id)
_UNITS_BY_IDS = (select(*_UNIT_HIT_COLS).select_from(_UNIT_WITH_PARENT)
                 .where(unit_t.c.id.in_(bindparam("ids", expanding=True))))


def _count_stmt(n: int, grassroots: bool | None) -> Any:
    """How many units have a word in each of the ranges 0…n-1: one row, one round trip."""
    c = unit_term_count_t.c
    return select(*(
        select(func.coalesce(func.sum(c.units), 0))
        .where(_kind_filter(c.grassroots, grassroots), _term_in(c.term, i))
        .scalar_subquery() for i in range(n)))


def _search_stmt(n: int, grassroots: bool | None) -> Any:
    """Ids of units having a word in range 0 (the rarest, scanned) and in ranges 1…n-1
    (seeked per candidate). No DISTINCT: it would sort the whole range before the LIMIT could
    stop the scan; a unit with two words in range 0 comes twice and is deduplicated later."""
    t0 = aliased(unit_term_t, name="t0")
    conds = [_kind_filter(t0.c.grassroots, grassroots), _term_in(t0.c.term, 0)]
    for i in range(1, n):
        ti = aliased(unit_term_t, name=f"t{i}")
        conds.append(exists().where(ti.c.unit_id == t0.c.unit_id, _term_in(ti.c.term, i)))
    return select(t0.c.unit_id).where(*conds).limit(_RAW_CANDIDATES)


_KINDS = (None, True, False)
_COUNT_STMTS = {(n, g): _count_stmt(n, g)
                for n in range(1, _MAX_QUERY_TERMS + 1) for g in _KINDS}
_SEARCH_STMTS = {(n, g): _search_stmt(n, g)
                 for n in range(1, _MAX_QUERY_TERMS + 1) for g in _KINDS}


def search_terms(query: str) -> tuple[str, ...]:
    """The words a search looks for, as stored (folded, cut), at most six."""
    return tuple(dict.fromkeys(t[:MAX_TERM] for t in terms(query)))[:_MAX_QUERY_TERMS]


def search_units(
    conn: Connection, query: str, *, grassroots: bool | None = None,
    rows_of: Callable[[list[int]], dict[int, UnitHit]] | None = None,
) -> tuple[list[UnitHit], bool]:
    """Units whose name (or an ancestor's) has a word starting with each query word.

    `grassroots` keeps only grassroots unions (True) or only the unions above them (False).

    Returns the best matches first and whether the candidate list was cut short. The rarest
    query word drives an index range scan; the others are checked per candidate with an index
    seek, so the work is bounded whatever the size of the directory. The statements are built
    once, at import; a search only binds its words. `rows_of` reads the candidates' rows
    (default `units_by_ids`; storage.unit_cache passes its own).
    """
    q_terms = search_terms(query)
    if not q_terms:
        return [], False
    counts = conn.execute(_COUNT_STMTS[(len(q_terms), grassroots)], _ranges(q_terms)).one()
    by_rarity = sorted(range(len(q_terms)), key=counts.__getitem__)
    if counts[by_rarity[0]] == 0:
        return [], False
    raw = conn.execute(_SEARCH_STMTS[(len(q_terms), grassroots)],
                       _ranges([q_terms[k] for k in by_rarity])).scalars().all()
    ids = list(dict.fromkeys(raw))
    truncated = len(ids) > _CANDIDATES or len(raw) == _RAW_CANDIDATES
    rows = list((rows_of or partial(units_by_ids, conn))(ids[:_CANDIDATES]).values())

    def score(row: UnitHit) -> tuple[int, int, str, int]:
        own = _name_terms(row.name)
        s = 0
        for q in q_terms:
            if q in own:
                s += 3
            elif any(w.startswith(q) for w in own):
                s += 2
        return (-s, row.depth, row.name, row.id)

    return sorted(rows, key=score)[:_CANDIDATES], truncated


@lru_cache(maxsize=16_384)
def _name_terms(name: str) -> frozenset[str]:
    """A unit name's words, remembered: the same units come up search after search."""
    return frozenset(terms(name))


def _ranges(words: Sequence[str]) -> dict[str, str]:
    """The bounds lo{i} ≤ term < hi{i} of each word's prefix range, in the order given."""
    out: dict[str, str] = {}
    for i, w in enumerate(words):
        out[f"lo{i}"], out[f"hi{i}"] = w, w + _PAST
    return out


_UNIT_BY_CODE = {
    g: select(*_UNIT_HIT_COLS).select_from(_UNIT_WITH_PARENT).where(
        unit_t.c.code == bindparam("code"),
        *(() if g is None else
          ((unit_t.c.kind == GRASSROOTS) if g else (unit_t.c.kind != GRASSROOTS),)))
    for g in _KINDS
}


def unit_by_code(
    conn: Connection, code: str, *, grassroots: bool | None = None
) -> UnitHit | None:
    r = conn.execute(_UNIT_BY_CODE[grassroots], {"code": code.strip().upper()}).first()
    return UnitHit(*r) if r else None


_UNIT_BY_ID = select(*_UNIT_HIT_COLS).select_from(_UNIT_WITH_PARENT).where(
    unit_t.c.id == bindparam("id"))


_CHILD = aliased(unit_t, name="c")
_PARENT_OF = select(*_UNIT_HIT_COLS).select_from(_UNIT_WITH_PARENT).where(
    unit_t.c.id == select(_CHILD.c.parent_id).where(_CHILD.c.id == bindparam("id"))
    .scalar_subquery())


def parent_of(conn: Connection, unit_id: int) -> UnitHit | None:
    """The unit's parent union (None at the top, or for no such unit)."""
    r = conn.execute(_PARENT_OF, {"id": unit_id}).first()
    return UnitHit(*r) if r else None


def units_by_ids(conn: Connection, ids: Iterable[int]) -> dict[int, UnitHit]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    if len(ids) == 1:   # the usual case, without re-rendering an IN list
        rows = conn.execute(_UNIT_BY_ID, {"id": ids[0]})
    else:
        rows = conn.execute(_UNITS_BY_IDS, {"ids": ids})
    return {r[0]: UnitHit(*r) for r in rows}
