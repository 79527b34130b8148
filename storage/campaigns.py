"""Campaign rows, their slots, audiences streamed in batches, the opt-out and the cap.

Keyword-only functions over a synchronous `Connection`, like `storage.queries`. An audience
is never read whole: `audience_batch` returns the next `limit` people after a cursor, in
(unit, person id) order — a walk of the slot's units (`campaign_slot_unit`) joined to
`ix_person_unit_person`, so each batch costs its own size whatever the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from storage.campaign_audiences import (
    ROLE_AUDIENCES as ROLE_AUDIENCES,
)
from storage.campaign_audiences import (  # the audiences, re-exported
    Person as Person,
)
from storage.campaign_audiences import (
    Target as Target,
)
from storage.campaign_audiences import (
    audience_batch as audience_batch,
)
from storage.campaign_audiences import (
    count_audience as count_audience,
)
from storage.campaign_audiences import (
    fill_slot_units as fill_slot_units,
)
from storage.campaign_audiences import (
    filter_values as filter_values,
)
from storage.campaign_audiences import (
    first_person as first_person,
)
from storage.campaign_audiences import (
    grants_of as grants_of,
)
from storage.campaign_audiences import (
    idle_drafts as idle_drafts,
)
from storage.campaign_audiences import is_pg
from storage.campaign_audiences import (
    subtree_units as subtree_units,
)
from storage.campaign_audiences import (
    targets as targets,
)
from storage.models import (
    outbox_t,
    unit_t,
)
from storage.models_campaigns import (
    campaign_opt_out_t,
    campaign_send_t,
    campaign_slot_t,
    campaign_slot_unit_t,
    campaign_t,
)
from storage.queries import per_dialect

ACTIVE = ("scheduled", "running")   # states whose slots are made and expanded
OPEN = ("draft", "scheduled", "running", "paused")


# --------------------------------------------------------------------------- campaigns


def create(conn: Connection, *, values: dict[str, Any], now: datetime) -> int:
    row = {"skipped_opted_out": 0, "skipped_capped": 0, "held_quiet": 0, **values,
           "created_at": now, "updated_at": now}
    return conn.execute(insert(campaign_t).values(row).returning(campaign_t.c.id)).scalar_one()


_GET = (select(campaign_t, unit_t.c.code.label("unit_code"), unit_t.c.name.label("unit_name"))
        .join(unit_t, unit_t.c.id == campaign_t.c.unit_id)
        .where(campaign_t.c.id == bindparam("id")))


def get(conn: Connection, *, campaign_id: int) -> dict[str, Any] | None:
    row = conn.execute(_GET, {"id": campaign_id}).mappings().first()
    return dict(row) if row else None


def listing(conn: Connection, *, owner_id: int | None, limit: int, offset: int = 0
            ) -> list[dict[str, Any]]:
    """Newest first: an owner's campaigns, or (owner None) everybody's."""
    q = (select(campaign_t, unit_t.c.code.label("unit_code"), unit_t.c.name.label("unit_name"))
         .join(unit_t, unit_t.c.id == campaign_t.c.unit_id))
    if owner_id is not None:
        q = q.where(campaign_t.c.owner_id == owner_id)
    q = q.order_by(campaign_t.c.id.desc()).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(q).mappings()]


def set_state(conn: Connection, *, campaign_id: int, from_states: Sequence[str],
              to_state: str, now: datetime, **values: Any) -> bool:
    """Move the campaign to `to_state` if it is in one of `from_states` (one wins a race)."""
    res = conn.execute(update(campaign_t).where(
        campaign_t.c.id == campaign_id, campaign_t.c.state.in_(list(from_states)))
        .values(state=to_state, updated_at=now, **values))
    return res.rowcount == 1


def add_counts(conn: Connection, *, campaign_id: int, opted_out: int = 0, capped: int = 0,
               quiet: int = 0) -> None:
    if opted_out or capped or quiet:
        c = campaign_t.c
        conn.execute(update(campaign_t).where(c.id == campaign_id).values(
            skipped_opted_out=c.skipped_opted_out + opted_out,
            skipped_capped=c.skipped_capped + capped, held_quiet=c.held_quiet + quiet))


def due_campaigns(conn: Connection, *, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Active campaigns whose next slot is due, locked (PostgreSQL: others skip them)."""
    q = (select(campaign_t).where(campaign_t.c.state.in_(ACTIVE),
                                  campaign_t.c.next_due_at <= now)
         .order_by(campaign_t.c.next_due_at).limit(limit))
    if is_pg(conn):
        q = q.with_for_update(skip_locked=True)
    return [dict(r) for r in conn.execute(q).mappings()]


def relaxed_commit(conn: Connection) -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL to reach the disk. A
    crash of the database server may then lose the last batches committed — each whole, its
    outbox rows with the cursor that covers them — and they are expanded again: nobody is
    skipped or written twice, and a batch no longer waits for a disk flush.

    And no JIT: the batch's estimates (large before the new tables have statistics) made
    PostgreSQL compile its statements for 244 of the 251 ms a batch took at 775,000 people.
    And a plan for each union's values: the driver prepares statements, and the generic plan
    PostgreSQL settles on after five runs of the audience's query read a union's accounts
    whole (38 s of the server's CPU for 200,000 people, against 8 planned each time). And
    index walks only: every statement of a batch is one by design (a union's people from the
    cursor on, in index order, then lookups per person), but before the tables have
    statistics PostgreSQL read a union's people by a scan of the whole table, or of the
    union, and sorted them."""
    if is_pg(conn):
        conn.execute(_RELAXED)


_RELAXED = text("SELECT set_config('synchronous_commit', 'off', true), "
                "set_config('jit', 'off', true), "
                "set_config('plan_cache_mode', 'force_custom_plan', true), "
                "set_config('enable_seqscan', 'off', true), "
                "set_config('enable_bitmapscan', 'off', true)")


# --------------------------------------------------------------------------- slots

_ADD_SLOT = per_dialect(lambda d: d.insert(campaign_slot_t).on_conflict_do_nothing(
    index_elements=[campaign_slot_t.c.campaign_id, campaign_slot_t.c.slot_key]))


def add_slot(conn: Connection, *, campaign_id: int, slot_key: str, due_at: datetime,
             now: datetime) -> None:
    """The slot, once: a second scheduler adding the same slot changes nothing."""
    conn.execute(_ADD_SLOT[conn.dialect.name], {
        "campaign_id": campaign_id, "slot_key": slot_key, "due_at": due_at,
        "state": "pending", "queued": 0, "created_at": now})


def pick_slot(conn: Connection, *, now: datetime, campaign_id: int | None = None
              ) -> dict[str, Any] | None:
    """The oldest due slot of a running campaign (of `campaign_id`), locked for this
    transaction (PostgreSQL: another scheduler skips it and takes the next; SQLite:
    transactions are serial)."""
    s = campaign_slot_t
    q = (select(s).join(campaign_t, campaign_t.c.id == s.c.campaign_id)
         .where(s.c.state == "pending", s.c.due_at <= now, campaign_t.c.state.in_(ACTIVE))
         .order_by(s.c.due_at, s.c.id).limit(1))
    if campaign_id is not None:
        q = q.where(s.c.campaign_id == campaign_id)
    if is_pg(conn):
        q = q.with_for_update(of=s, skip_locked=True)
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def slots(conn: Connection, *, campaign_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        select(campaign_slot_t).where(campaign_slot_t.c.campaign_id == campaign_id)
        .order_by(campaign_slot_t.c.id)).mappings()]


def advance_slot(conn: Connection, *, slot_id: int, cursor_unit: int, cursor: int,
                 queued: int) -> None:
    s = campaign_slot_t.c
    conn.execute(update(campaign_slot_t).where(s.id == slot_id).values(
        cursor_unit=cursor_unit, cursor=cursor, queued=s.queued + queued))


def finish_slot(conn: Connection, *, slot_id: int, now: datetime, state: str = "done") -> None:
    conn.execute(update(campaign_slot_t).where(campaign_slot_t.c.id == slot_id)
                 .values(state=state, done_at=now))
    conn.execute(delete(campaign_slot_unit_t).where(campaign_slot_unit_t.c.slot_id == slot_id))


def cancel_slots(conn: Connection, *, campaign_id: int, now: datetime) -> list[int]:
    ids = list(conn.execute(select(campaign_slot_t.c.id).where(
        campaign_slot_t.c.campaign_id == campaign_id,
        campaign_slot_t.c.state == "pending")).scalars())
    for slot_id in ids:
        finish_slot(conn, slot_id=slot_id, now=now, state="cancelled")
    return ids


def open_slots(conn: Connection, *, campaign_id: int) -> int:
    return conn.execute(select(func.count()).select_from(campaign_slot_t).where(
        campaign_slot_t.c.campaign_id == campaign_id,
        campaign_slot_t.c.state == "pending")).scalar_one()


# --------------------------------------------------------------------------- queueing

# A campaign's outbox rows (the outbox contract's row: `storage.outbox.enqueue_many`), as
# plain tuples, the batch's constants bound once: (channel, chat_id, account_id, text: its
# number in the batch's texts, name: escaped, options as JSON or None for none). A text is
# (locale, the message around the recipient's name): the message is its parts joined by the
# name. Keyed by (slot, account): a row queued already is skipped.
CAMPAIGN_ROW = ("channel", "chat_id", "account_id", "text", "name", "options")

# PostgreSQL: the whole batch as arrays, one statement (an executemany there is one round of
# the protocol per row: measured 76 µs a row against ~15), and each message written by the
# database from its text's parts and the name (array_to_string joins a row of the parts with
# the name): a name travels instead of the message, a tenth of the bytes to encode and send.
_QUEUE_PG = text("""
INSERT INTO outbox (channel, chat_id, account_id, kind, locale, text, options,
                    campaign_slot_id, status, not_before, attempts, created_at, priority)
SELECT channel, chat_id, account_id, 'campaign', (:locales)[r.text + 1],
       array_to_string((:parts)[r.text + 1:r.text + 1], r.name), coalesce(r.options, '[]'),
       :slot_id, 'pending', :not_before, 0, :now, :priority
FROM unnest(:channel, :chat_id, :account_id, :text, :name, :options)
     AS r(channel, chat_id, account_id, text, name, options)
ON CONFLICT (campaign_slot_id, account_id) WHERE campaign_slot_id IS NOT NULL DO NOTHING
""").bindparams(
    bindparam("channel", type_=ARRAY(String)), bindparam("chat_id", type_=ARRAY(String)),
    bindparam("account_id", type_=ARRAY(Integer)), bindparam("text", type_=ARRAY(Integer)),
    bindparam("name", type_=ARRAY(Text)), bindparam("options", type_=ARRAY(Text)),
    bindparam("locales", type_=ARRAY(String)),
    bindparam("parts", type_=ARRAY(Text, dimensions=2)),
    bindparam("slot_id", type_=Integer), bindparam("not_before", type_=DateTime(timezone=True)),
    bindparam("now", type_=DateTime(timezone=True)), bindparam("priority", type_=Integer))

# Other backends: one prebuilt statement run as an executemany (compiled once).
_QUEUE = per_dialect(lambda d: d.insert(outbox_t).on_conflict_do_nothing(
    index_elements=[outbox_t.c.campaign_slot_id, outbox_t.c.account_id],
    index_where=outbox_t.c.campaign_slot_id.is_not(None)))


def queue_campaign(conn: Connection, *, slot_id: int, texts: Sequence[tuple[str, list[str]]],
                   rows: Sequence[tuple[Any, ...]], not_before: datetime, now: datetime,
                   priority: int) -> int:
    """A batch of the slot's messages (`CAMPAIGN_ROW` tuples, `texts` (locale, the text
    around the name) the messages they are made of); a row for an account the slot has
    queued a message for already is skipped. Returns the rows written."""
    if not rows:
        return 0
    if is_pg(conn):
        # A two-dimensional array: every text has as many parts (one template's names).
        if len({len(parts) for _locale, parts in texts}) != 1:
            raise ValueError("a batch's texts must have as many names each")
        columns = dict(zip(CAMPAIGN_ROW, zip(*rows, strict=True), strict=True))
        return conn.execute(_QUEUE_PG, {**{k: list(v) for k, v in columns.items()},
                                        "locales": [locale for locale, _parts in texts],
                                        "parts": [parts for _locale, parts in texts],
                                        "slot_id": slot_id, "not_before": not_before,
                                        "now": now, "priority": priority}).rowcount
    whole = [(channel, chat_id, account_id, texts[n][0], name.join(texts[n][1]),
              options or "[]") for channel, chat_id, account_id, n, name, options in rows]
    if conn.dialect.name == "sqlite":
        return _queue_sqlite(conn, slot_id, whole, not_before, now, priority)
    keys = ("channel", "chat_id", "account_id", "locale", "text", "options")
    values = [{**dict(zip(keys, r, strict=True)), "kind": "campaign",
               "status": "pending", "attempts": 0, "created_at": now, "campaign_slot_id": slot_id,
               "not_before": not_before, "priority": priority} for r in whole]
    written = conn.execute(_QUEUE[conn.dialect.name], values).rowcount
    return written if written is not None and written >= 0 else len(values)


def campaign_rows(campaign_id: int) -> Any:
    """The condition for a campaign's outbox rows: those of its slots (`uq_outbox_campaign`)."""
    return outbox_t.c.campaign_slot_id.in_(
        select(campaign_slot_t.c.id).where(campaign_slot_t.c.campaign_id == campaign_id))


def outbox_counts(conn: Connection, *, campaign_id: int) -> dict[str, int]:
    """The campaign's outbox rows per status."""
    return {status: n for status, n in conn.execute(
        select(outbox_t.c.status, func.count()).where(campaign_rows(campaign_id))
        .group_by(outbox_t.c.status))}


# --------------------------------------------------------------------------- opt-out


def opted_out(conn: Connection, *, person_id: int) -> bool:
    return conn.execute(select(campaign_opt_out_t.c.person_id).where(
        campaign_opt_out_t.c.person_id == person_id)).first() is not None


_OPT_OUT = per_dialect(lambda d: d.insert(campaign_opt_out_t).on_conflict_do_nothing(
    index_elements=[campaign_opt_out_t.c.person_id]))


def set_opt_out(conn: Connection, *, person_id: int, off: bool, now: datetime) -> None:
    if off:
        conn.execute(_OPT_OUT[conn.dialect.name], {"person_id": person_id, "at": now})
    else:
        conn.execute(delete(campaign_opt_out_t).where(
            campaign_opt_out_t.c.person_id == person_id))


# --------------------------------------------------------------------------- the cap


def sends(conn: Connection, *, person_ids: Sequence[int], since: date
          ) -> dict[int, dict[date, int]]:
    """Campaign messages queued per person and local day, from `since` on."""
    if not person_ids:
        return {}
    s = campaign_send_t.c
    out: dict[int, dict[date, int]] = {}
    for pid, day, n in conn.execute(select(s.person_id, s.day, s.n).where(
            s.person_id.in_(list(person_ids)), s.day >= since)):
        out.setdefault(pid, {})[day] = n
    return out


def _bump_stmt(d: Any) -> Any:
    ins = d.insert(campaign_send_t)
    return ins.on_conflict_do_update(
        index_elements=[campaign_send_t.c.person_id, campaign_send_t.c.day],
        set_={"n": campaign_send_t.c.n + ins.excluded.n})


_BUMP = per_dialect(_bump_stmt)


# SQLite: the driver's own executemany of tuples. SQLAlchemy's executemany builds and
# converts every row's parameters in Python (measured: 40 µs a row, 40% of an expansion);
# the batch's constants (timestamps, priority) are bound in the statement, converted once by
# the columns' own types.
_QUEUE_SQLITE = (
    "INSERT INTO outbox (channel, chat_id, account_id, kind, locale, text, options, "
    "campaign_slot_id, status, not_before, attempts, created_at, priority) "
    "VALUES (?, ?, ?, 'campaign', ?, ?, ?, {slot_id}, 'pending', {not_before}, 0, {now}, "
    "{priority}) ON CONFLICT (campaign_slot_id, account_id) WHERE campaign_slot_id IS NOT NULL "
    "DO NOTHING")


def _stamp(conn: Connection, column: Any, value: Any) -> Any:
    convert = column.type.bind_processor(conn.dialect)
    return convert(value) if convert is not None else value


def _literal(value: Any) -> str:
    """A constant for `_QUEUE_SQLITE`: a number, or text quoted as SQL quotes it."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _queue_sqlite(conn: Connection, slot_id: int, rows: Sequence[tuple[Any, ...]],
                  not_before: datetime, now: datetime, priority: int) -> int:
    sql = _QUEUE_SQLITE.format(
        slot_id=int(slot_id),
        not_before=_literal(_stamp(conn, outbox_t.c.not_before, not_before)),
        now=_literal(_stamp(conn, outbox_t.c.created_at, now)), priority=int(priority))
    result = conn.exec_driver_sql(sql, rows)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 \
        else len(rows)


_BUMP_SQLITE = ("INSERT INTO campaign_send (person_id, day, n) VALUES (?, {day}, 1) "
                "ON CONFLICT (person_id, day) DO UPDATE SET n = n + 1")


# In person order (two batches lock their people's rows in one order: no deadlock). Returns
# the people this makes more than one message today: counted by another campaign's batch
# since this one read their counts, they are checked against the cap again.
_BUMP_PG = text("""
WITH bumped AS (
    INSERT INTO campaign_send (person_id, day, n)
    SELECT person_id, :day, 1 FROM unnest(:person_id) AS r(person_id) ORDER BY person_id
    ON CONFLICT (person_id, day) DO UPDATE SET n = campaign_send.n + 1
    RETURNING person_id, n)
SELECT person_id, n FROM bumped WHERE n > 1
""").bindparams(bindparam("person_id", type_=ARRAY(Integer)), bindparam("day", type_=Date))

_UNBUMP_PG = text("""
UPDATE campaign_send SET n = n - 1 WHERE day = :day AND person_id = ANY(:person_id)
""").bindparams(bindparam("person_id", type_=ARRAY(Integer)), bindparam("day", type_=Date))


def bump_sends(conn: Connection, *, person_ids: Sequence[int], day: date
               ) -> dict[int, int] | None:
    """One more message on `day` for each person — each at most once per call.

    PostgreSQL: returns each person whose count for `day` is now above one, with that count,
    read under the row's lock (a second scheduler expanding another campaign to the same
    people waits here for this one's commit, then sees its count); the caller checks them
    against the cap again and takes back (`unbump_sends`) those over it. Elsewhere None: one
    writer at a time (SQLite), the counts read with the batch are the counts."""
    if not person_ids:
        return {} if is_pg(conn) else None
    if is_pg(conn):
        return dict(conn.execute(_BUMP_PG, {"person_id": list(person_ids), "day": day}).all())
    if conn.dialect.name == "sqlite":
        sql = _BUMP_SQLITE.format(day=_literal(_stamp(conn, campaign_send_t.c.day, day)))
        conn.exec_driver_sql(sql, [(p,) for p in person_ids])
    else:
        conn.execute(_BUMP[conn.dialect.name],
                     [{"person_id": pid, "day": day, "n": 1} for pid in person_ids])
    return None


def unbump_sends(conn: Connection, *, person_ids: Sequence[int], day: date) -> None:
    """Take back `bump_sends`'s count for these people (their message is not queued)."""
    if not person_ids:
        return
    if is_pg(conn):
        conn.execute(_UNBUMP_PG, {"person_id": list(person_ids), "day": day})
        return
    s = campaign_send_t.c
    conn.execute(update(campaign_send_t).where(s.day == day, s.person_id.in_(list(person_ids)))
                 .values(n=s.n - 1))


def forget_sends(conn: Connection, *, before: date) -> int:
    return conn.execute(delete(campaign_send_t).where(campaign_send_t.c.day < before)).rowcount


def unit_by_code(conn: Connection, *, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(unit_t).where(unit_t.c.code == code)).mappings().first()
    return dict(row) if row else None


def unit_by_id(conn: Connection, *, unit_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(unit_t).where(unit_t.c.id == unit_id)).mappings().first()
    return dict(row) if row else None

