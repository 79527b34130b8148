"""A complete draft becomes an initiative under review: its row and code, its authors, the
first event of its history, its terms in the similarity index (storage/similar.py), and
the draft gone.

On PostgreSQL all of it is one statement (data-modifying WITH: the id drawn from the
table's sequence, the code made from it), which also reads whom to alert: a submission is
the heaviest step of a chat, and each statement there is a round trip. SQLite runs the same
writes one by one (no round trips there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Text,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.types import ARRAY

from storage import similar
from storage.models import (
    draft_t,
    initiative_author_t,
    initiative_event_t,
    initiative_t,
    initiative_term_t,
)
from storage.review import ALERT_RECIPIENTS_ARRAY

# The initiative's values as bound parameters (named as its columns), code and id aside.
_VALUES = ("person_id", "entered_by", "author_name", "author_phone", "author_unit_id", "title",
           "description", "field_code", "applied_on", "applied_month_only", "recognized",
           "benefit_vnd", "benefit_known", "attachments", "unit_id", "status", "channel",
           "submitted_at")
CODE_DIGITS = 6


def code_of(initiative_id: int) -> str:
    """SK-000241: the code an initiative submitted here gets from its id."""
    return f"SK-{initiative_id:0{CODE_DIGITS}d}"


def credited(authors: list[str], author_person_id: int | None) -> list[tuple[str, int | None]]:
    """Each author's (name, person id) as `submit_initiative` stores them: only the first
    author's account is known."""
    return [(name, author_person_id if i == 0 else None) for i, name in enumerate(authors)]


def _one_statement() -> Any:
    new_id = select(func.nextval(func.pg_get_serial_sequence("initiative", "id"))
                    .label("id")).cte("n")
    digits = cast(new_id.c.id, Text)
    code = literal("SK-") + case((new_id.c.id < 10 ** CODE_DIGITS,
                                  func.lpad(digits, CODE_DIGITS, "0")), else_=digits)
    ini = (insert(initiative_t)
           .from_select(["id", "code", *_VALUES], select(
               new_id.c.id, code,
               *(bindparam(c, type_=initiative_t.c[c].type) for c in _VALUES)))
           .returning(initiative_t.c.id, initiative_t.c.code, initiative_t.c.unit_id)
           .cte("ini"))
    names = (func.unnest(bindparam("a_position", type_=ARRAY(Integer)),
                         bindparam("a_name", type_=ARRAY(String)),
                         bindparam("a_person_id", type_=ARRAY(Integer)))
             .table_valued(column("position", Integer), column("name", String),
                           column("person_id", Integer))
             .render_derived(name="u"))
    authors = insert(initiative_author_t).from_select(
        ["initiative_id", "position", "name", "person_id"],
        select(ini.c.id, names.c.position, names.c.name, names.c.person_id)
        .select_from(ini.join(names, true()))).cte("a")
    event = insert(initiative_event_t).from_select(
        ["initiative_id", "actor_id", "at", "to_status"],
        select(ini.c.id, bindparam("actor_id", type_=Integer),
               bindparam("submitted_at", type_=initiative_t.c.submitted_at.type),
               literal("under_review"))).cte("e")
    words = (func.unnest(bindparam("t_term", type_=ARRAY(String)))
             .table_valued(column("term", String)).render_derived(name="w"))
    index = insert(initiative_term_t).from_select(
        ["unit_id", "term", "initiative_id"],
        select(ini.c.unit_id, words.c.term, ini.c.id).select_from(ini.join(words, true()))
    ).cte("t")
    drop = delete(draft_t).where(draft_t.c.id == bindparam("draft_id")).cte("d")
    # Whom to alert of it, read in the same round trip (storage.review.alert_recipients).
    return select(ini.c.id, ini.c.code, ALERT_RECIPIENTS_ARRAY).add_cte(
        authors, event, index, drop)


_SUBMIT_PG = _one_statement()
_NEW_INITIATIVE = insert(initiative_t).returning(initiative_t.c.id)
_SET_CODE = (update(initiative_t).where(initiative_t.c.id == bindparam("_id"))
             .values(code=bindparam("code")))
_NEW_AUTHOR = insert(initiative_author_t)
_LOG_EVENT = insert(initiative_event_t)
_DROP_DRAFT = delete(draft_t).where(draft_t.c.id == bindparam("_id"))


class Submission(NamedTuple):
    id: int
    code: str
    # Whom to alert (storage.review.alert_recipients), when read with it (PostgreSQL).
    reviewers: list[int] | None = None


def submit_initiative(
    conn: Connection, *, draft: dict[str, Any], authors: list[str], author_person_id: int | None,
    channel: str, now: datetime, actor_id: int | None,
) -> Submission:
    """Turn a complete draft into an initiative under review, logged as submitted by
    `actor_id` and indexed for the similarity search; return its id and code.

    `authors` is the author group, first author first; `author_person_id` the first author's
    account (None when a support team registered it for someone not using the bot).
    """
    values = {
        "person_id": author_person_id, "entered_by": draft["person_id"],
        "author_name": authors[0], "author_phone": draft.get("author_phone"),
        "author_unit_id": draft.get("author_unit_id"), "title": draft["title"],
        "description": draft["description"], "field_code": draft.get("field_code"),
        "applied_on": draft.get("applied_on"),
        "applied_month_only": bool(draft.get("applied_month_only")),
        "recognized": bool(draft.get("recognized")),
        "benefit_vnd": draft["benefit_vnd"], "benefit_known": bool(draft["benefit_known"]),
        "attachments": draft.get("attachments"), "unit_id": draft["unit_id"],
        "status": "under_review", "channel": channel, "submitted_at": now,
    }
    named = credited(authors, author_person_id)
    if conn.dialect.name == "postgresql":
        row = conn.execute(_SUBMIT_PG, {
            **values, "actor_id": actor_id, "draft_id": draft["id"],
            "a_position": list(range(len(named))), "a_name": [n for n, _p in named],
            "a_person_id": [p for _n, p in named],
            "t_term": similar.index_terms(draft["title"], draft["description"])}).one()
        return Submission(row.id, row.code, sorted(row.reviewers or []))
    new_id = conn.execute(_NEW_INITIATIVE, values).scalar_one()
    code = code_of(new_id)
    conn.execute(_SET_CODE, {"_id": new_id, "code": code})
    conn.execute(_NEW_AUTHOR, [
        {"initiative_id": new_id, "position": i, "name": name, "person_id": person_id}
        for i, (name, person_id) in enumerate(named)])
    conn.execute(_LOG_EVENT, {"initiative_id": new_id, "actor_id": actor_id, "at": now,
                              "from_status": None, "to_status": "under_review",
                              "reason": None})
    conn.execute(_DROP_DRAFT, {"_id": draft["id"]})
    similar.index_initiative(conn, initiative_id=new_id, unit_id=draft["unit_id"],
                             title=draft["title"], description=draft["description"])
    return Submission(new_id, code)
