"""Campaign rows, their slots, audiences streamed in batches, the opt-out and the cap.

Keyword-only functions over a synchronous `Connection`, like `storage.queries`. An audience
is never read whole: `audience_batch` returns the next `limit` people after a cursor, in
(unit, person id) order — a walk of the slot's units (`campaign_slot_unit`) joined to
`ix_person_unit_person`, so each batch costs its own size whatever the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from storage.models import (
    account_t,
    draft_t,
    initiative_author_t,
    initiative_t,
    outbox_t,
    person_t,
    role_grant_t,
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


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


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
    if _pg(conn):
        q = q.with_for_update(skip_locked=True)
    return [dict(r) for r in conn.execute(q).mappings()]


def relaxed_commit(conn: Connection) -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL to reach the disk. A
    crash of the database server may then lose the last batches committed — each whole, its
    outbox rows with the cursor that covers them — and they are expanded again: nobody is
    skipped or written twice, and a batch no longer waits for a disk flush.

    And no JIT: the batch's estimates (large before the new tables have statistics) made
    PostgreSQL compile its statements for 244 of the 251 ms a batch took at 775,000 people."""
    if _pg(conn):
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        conn.execute(text("SET LOCAL jit TO OFF"))


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
    if _pg(conn):
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


# --------------------------------------------------------------------------- audiences


def _subtree(root_id: int, cluster: str | None) -> Any:
    """The unit and everything below it, each with whether it is in `cluster` (itself or
    through a unit above it within the subtree)."""
    flag = unit_t.c.cluster == cluster if cluster else literal(True)
    sub = (select(unit_t.c.id, flag.label("inc")).where(unit_t.c.id == root_id)
           .cte("sub", recursive=True))
    child = unit_t.alias("child")
    child_flag = or_(sub.c.inc, child.c.cluster == cluster) if cluster else literal(True)
    return sub.union_all(select(child.c.id, child_flag.label("inc"))
                         .where(child.c.parent_id == sub.c.id))


def fill_slot_units(conn: Connection, *, slot_id: int, root_id: int, bloc: str | None,
                    cluster: str | None) -> int:
    """Write the units of the slot's audience (once per slot, at its start)."""
    conn.execute(delete(campaign_slot_unit_t).where(campaign_slot_unit_t.c.slot_id == slot_id))
    sub = _subtree(root_id, cluster)
    q = (select(literal(slot_id).label("slot_id"), sub.c.id.label("unit_id"))
         .select_from(sub.join(unit_t, unit_t.c.id == sub.c.id)).where(sub.c.inc))
    if bloc:
        q = q.where(unit_t.c.bloc == bloc)
    return conn.execute(insert(campaign_slot_unit_t).from_select(["slot_id", "unit_id"], q)
                        ).rowcount


def subtree_units(conn: Connection, *, root_id: int, bloc: str | None = None,
                  cluster: str | None = None) -> Any:
    """A select of the ids of the audience's units (for counting, without a slot)."""
    sub = _subtree(root_id, cluster)
    q = select(sub.c.id).select_from(sub.join(unit_t, unit_t.c.id == sub.c.id)).where(sub.c.inc)
    return q.where(unit_t.c.bloc == bloc) if bloc else q


@dataclass(frozen=True, slots=True)
class Target:
    account_id: int
    channel: str
    chat_id: str
    locale: str | None


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    unit_id: int
    unit_name: str
    opted_out: bool
    # read with the person when the batch asks for it (one statement for the whole batch):
    target: Target | None = None     # the account to write to
    sent_today: int = 0              # campaign messages queued for them today
    sent_week: int = 0               # … in the cap's 7 days
    prefetched: bool = False


def _people_filter(audience: str, *, since: datetime | None, idle_before: datetime | None
                   ) -> list[Any]:
    p = person_t.c
    if audience == "no_initiative":
        assert since is not None
        own = exists().where(initiative_t.c.person_id == p.id,
                             initiative_t.c.submitted_at >= since,
                             initiative_t.c.status != "withdrawn")
        coauthor = exists().where(
            initiative_author_t.c.person_id == p.id,
            initiative_t.c.id == initiative_author_t.c.initiative_id,
            initiative_t.c.submitted_at >= since, initiative_t.c.status != "withdrawn")
        return [~own, ~coauthor]
    if audience == "idle_drafts":
        assert idle_before is not None
        return [exists().where(draft_t.c.person_id == p.id, draft_t.c.updated_at < idle_before)]
    return []


ROLE_AUDIENCES = {"lagging_units": ("chair", "support"), "leaderboard": ("chair",)}


def _holders_batch(conn: Connection, *, slot_id: int, roles: tuple[str, ...],
                   after_unit: int | None, after: int | None, limit: int) -> list[Person]:
    """Audiences 4 and 5: the holders of `roles` on the slot's units, one row per (unit,
    person) — `unit_id` is the unit they hold the role on, the one they are told about."""
    su, g, p = campaign_slot_unit_t.c, role_grant_t.c, person_t.c
    opted = exists().where(campaign_opt_out_t.c.person_id == p.id)
    q = (select(su.unit_id, p.id, p.name, unit_t.c.name.label("unit_name"),
                opted.label("opted_out"))
         .select_from(campaign_slot_unit_t
                      .join(role_grant_t, g.unit_id == su.unit_id)
                      .join(person_t, p.id == g.person_id)
                      .join(unit_t, unit_t.c.id == su.unit_id))
         .where(su.slot_id == slot_id, g.revoked_at.is_(None), g.role.in_(list(roles)))
         .group_by(su.unit_id, p.id, p.name, unit_t.c.name)
         .order_by(su.unit_id, p.id).limit(limit))
    if after_unit is not None:
        q = q.where(su.unit_id >= after_unit, or_(su.unit_id > after_unit, p.id > (after or 0)))
    return [Person(r.id, r.name, r.unit_id, r.unit_name, bool(r.opted_out))
            for r in conn.execute(q)]


def audience_batch(conn: Connection, *, slot_id: int, audience: str, after_unit: int | None,
                   after: int | None, limit: int, since: datetime | None = None,
                   idle_before: datetime | None = None, today: date | None = None,
                   week_from: date | None = None) -> list[Person]:
    """The next `limit` people of the slot's audience after (`after_unit`, `after`); with
    `today` and `week_from`, each with the account to write to (the most recently used
    reachable one) and the campaign messages queued for them today and since `week_from`."""
    if audience in ROLE_AUDIENCES:
        return _holders_batch(conn, slot_id=slot_id, roles=ROLE_AUDIENCES[audience],
                              after_unit=after_unit, after=after, limit=limit)
    su, p = campaign_slot_unit_t.c, person_t.c
    opted = exists().where(campaign_opt_out_t.c.person_id == p.id)
    cols: list[Any] = [p.id, p.name, p.unit_id, unit_t.c.name.label("unit_name"),
                       opted.label("opted_out")]
    joined = (campaign_slot_unit_t.join(person_t, p.unit_id == su.unit_id)
              .join(unit_t, unit_t.c.id == su.unit_id))
    prefetch = today is not None and week_from is not None
    if prefetch:
        a, sc = account_t.c, campaign_send_t.c
        pick = (select(a.id, a.channel, a.chat_id, a.locale)
                .where(a.person_id == p.id, a.reachable.is_(True))
                .order_by(a.updated_at.desc(), a.id.desc()).limit(1))
        if _pg(conn):   # PostgreSQL plans the join on a correlated subquery as a scan
            acc = pick.lateral("acc")
            joined = joined.outerjoin(acc, true())
        else:
            acc = account_t.alias("acc")
            joined = joined.outerjoin(acc, acc.c.id == pick.with_only_columns(a.id)
                                      .correlate(person_t).scalar_subquery())
        a = acc.c
        sent = (select(func.coalesce(func.sum(sc.n), 0))
                .where(sc.person_id == p.id, sc.day >= week_from)
                .correlate(person_t).scalar_subquery())
        sent_today = (select(func.coalesce(func.sum(sc.n), 0))
                      .where(sc.person_id == p.id, sc.day == today)
                      .correlate(person_t).scalar_subquery())
        cols += [a.id.label("aid"), a.channel, a.chat_id, a.locale, sent.label("week"),
                 sent_today.label("today")]
    q = (select(*cols).select_from(joined)
         .where(su.slot_id == slot_id,
                *_people_filter(audience, since=since, idle_before=idle_before))
         .order_by(su.unit_id, p.id).limit(limit))
    if after_unit is not None:
        # On the person's (unit, id) index itself: a condition on the slot's units only
        # would let PostgreSQL walk the index from its start for every batch.
        q = q.where(su.unit_id >= after_unit, p.unit_id >= after_unit,
                    tuple_(p.unit_id, p.id) > tuple_(after_unit, after or 0))
    if not prefetch:
        return [Person(r.id, r.name, r.unit_id, r.unit_name, bool(r.opted_out))
                for r in conn.execute(q)]
    return [Person(r.id, r.name, r.unit_id, r.unit_name, bool(r.opted_out),
                   Target(r.aid, r.channel, r.chat_id, r.locale) if r.aid else None,
                   int(r.today), int(r.week), True)
            for r in conn.execute(q)]


def count_audience(conn: Connection, *, units: Any, audience: str,
                   since: datetime | None = None, idle_before: datetime | None = None
                   ) -> dict[str, int]:
    """How many people, and how many of them per channel of their latest reachable account
    (for the estimate) — one pass over the audience, for a preview."""
    p = person_t.c
    if audience in ROLE_AUDIENCES:
        g = role_grant_t.c
        holders = (select(g.person_id).where(g.unit_id.in_(units), g.revoked_at.is_(None),
                                             g.role.in_(list(ROLE_AUDIENCES[audience])))
                   .distinct().subquery())
        n = conn.execute(select(func.count()).select_from(holders).where(
            ~exists().where(campaign_opt_out_t.c.person_id == holders.c.person_id))).scalar_one()
        return {"telegram": n} if n else {}
    latest = (select(func.max(account_t.c.id)).where(account_t.c.person_id == p.id,
                                                    account_t.c.reachable.is_(True))
              .scalar_subquery())
    people = (select(p.id.label("pid"), latest.label("aid"))
              .where(p.unit_id.in_(units),
                     ~exists().where(campaign_opt_out_t.c.person_id == p.id),
                     *_people_filter(audience, since=since, idle_before=idle_before))
              .subquery())
    rows = conn.execute(select(account_t.c.channel, func.count())
                        .select_from(people.outerjoin(account_t, account_t.c.id == people.c.aid))
                        .group_by(account_t.c.channel))
    return {(channel or "none"): n for channel, n in rows}


def targets(conn: Connection, *, person_ids: Sequence[int]) -> dict[int, Target]:
    """For each person, the account to write to: the most recently used reachable one."""
    if not person_ids:
        return {}
    a = account_t.c
    rows = conn.execute(select(a.id, a.person_id, a.channel, a.chat_id, a.locale, a.updated_at)
                        .where(a.person_id.in_(list(person_ids)), a.reachable.is_(True)))
    best: dict[int, Any] = {}
    for r in rows:
        cur = best.get(r.person_id)
        if cur is None or (r.updated_at, r.id) > (cur.updated_at, cur.id):
            best[r.person_id] = r
    return {pid: Target(r.id, r.channel, r.chat_id, r.locale) for pid, r in best.items()}


def idle_drafts(conn: Connection, *, person_ids: Sequence[int], idle_before: datetime
                ) -> dict[int, dict[str, Any]]:
    """Each person's most recently touched draft among those idle since `idle_before`."""
    if not person_ids:
        return {}
    d = draft_t.c
    out: dict[int, dict[str, Any]] = {}
    for r in conn.execute(select(d.id, d.person_id, d.title, d.updated_at)
                          .where(d.person_id.in_(list(person_ids)), d.updated_at < idle_before)
                          .order_by(d.updated_at)).mappings():
        out[r["person_id"]] = dict(r)
    return out


def grants_of(conn: Connection, *, person_ids: Sequence[int]) -> dict[int, list[int]]:
    """Units on which each person is a chair or support team member."""
    if not person_ids:
        return {}
    g = role_grant_t.c
    out: dict[int, list[int]] = {}
    for pid, unit_id in conn.execute(select(g.person_id, g.unit_id).where(
            g.person_id.in_(list(person_ids)), g.revoked_at.is_(None),
            g.role.in_(("chair", "support"))).order_by(g.id)):
        out.setdefault(pid, []).append(unit_id)
    return out


def first_person(conn: Connection, *, units: Any, audience: str, since: datetime | None = None,
                 idle_before: datetime | None = None) -> dict[str, Any] | None:
    """One real recipient, for a preview (audiences 4 and 5: with the unit they hold)."""
    p = person_t.c
    if audience in ROLE_AUDIENCES:
        g = role_grant_t.c
        row = conn.execute(
            select(p.id, p.name, g.unit_id, unit_t.c.name.label("unit_name"))
            .join(role_grant_t, g.person_id == p.id).join(unit_t, unit_t.c.id == g.unit_id)
            .where(g.unit_id.in_(units), g.revoked_at.is_(None),
                   g.role.in_(list(ROLE_AUDIENCES[audience])))
            .order_by(g.unit_id, p.id).limit(1)).mappings().first()
        return dict(row) if row else None
    row = conn.execute(
        select(p.id, p.name, p.unit_id, unit_t.c.name.label("unit_name"))
        .join(unit_t, unit_t.c.id == p.unit_id)
        .where(p.unit_id.in_(units), exists().where(account_t.c.person_id == p.id),
               *_people_filter(audience, since=since, idle_before=idle_before))
        .order_by(p.id).limit(1)).mappings().first()
    return dict(row) if row else None


# --------------------------------------------------------------------------- queueing

# The outbox contract's row (storage.outbox.enqueue_many), written by one prebuilt statement
# run as an executemany: compiled once, where a multi-row VALUES is compiled anew for every
# batch (measured: 10 of 17 s for 20,000 rows on SQLite, 60% of an expansion).
_QUEUE = per_dialect(lambda d: d.insert(outbox_t).on_conflict_do_nothing(
    index_elements=[outbox_t.c.dedupe_key]))


# PostgreSQL: the whole batch as arrays, one statement (an executemany there is one round of
# the protocol per row: measured 76 µs a row against ~15).
_QUEUE_PG = text("""
INSERT INTO outbox (channel, chat_id, account_id, kind, locale, text, options, dedupe_key,
                    status, not_before, attempts, created_at, priority)
SELECT channel, chat_id, account_id, kind, locale, text, options, dedupe_key, 'pending',
       not_before, 0, :now, priority
FROM unnest(:channel, :chat_id, :account_id, :kind, :locale, :text, :options, :dedupe_key,
            :not_before, :priority)
     AS r(channel, chat_id, account_id, kind, locale, text, options, dedupe_key, not_before,
          priority)
ON CONFLICT (dedupe_key) DO NOTHING
""").bindparams(
    bindparam("channel", type_=ARRAY(String)), bindparam("chat_id", type_=ARRAY(String)),
    bindparam("account_id", type_=ARRAY(Integer)), bindparam("kind", type_=ARRAY(String)),
    bindparam("locale", type_=ARRAY(String)), bindparam("text", type_=ARRAY(Text)),
    bindparam("options", type_=ARRAY(Text)), bindparam("dedupe_key", type_=ARRAY(String)),
    bindparam("not_before", type_=ARRAY(DateTime(timezone=True))),
    bindparam("priority", type_=ARRAY(Integer)),
    bindparam("now", type_=DateTime(timezone=True)))
_COLUMNS = ("channel", "chat_id", "account_id", "kind", "locale", "text", "options",
            "dedupe_key", "not_before", "priority")


def queue(conn: Connection, *, rows: Sequence[dict[str, Any]], now: datetime) -> int:
    """Outbox rows as `storage.outbox.enqueue_many` takes them (options already JSON);
    a row whose dedupe key is queued already is skipped. Returns the rows written."""
    if not rows:
        return 0
    if _pg(conn):
        arrays = {c: [r.get(c) for r in rows] for c in _COLUMNS}
        arrays["not_before"] = [r.get("not_before") or now for r in rows]
        return conn.execute(_QUEUE_PG, {**arrays, "now": now}).rowcount
    if conn.dialect.name == "sqlite":
        return _queue_sqlite(conn, rows, now)
    values = [{**r, "status": "pending", "attempts": 0, "created_at": now,
               "not_before": r.get("not_before") or now} for r in rows]
    written = conn.execute(_QUEUE[conn.dialect.name], values).rowcount
    return written if written is not None and written >= 0 else len(values)


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
# the timestamps, the same for the whole batch, are converted once by the columns' own types.
_QUEUE_SQLITE = (
    "INSERT INTO outbox (channel, chat_id, account_id, kind, locale, text, options, "
    "dedupe_key, status, not_before, attempts, created_at, priority) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0, ?, ?) "
    "ON CONFLICT (dedupe_key) DO NOTHING")


def _stamp(conn: Connection, column: Any, value: Any) -> Any:
    convert = column.type.bind_processor(conn.dialect)
    return convert(value) if convert is not None else value


def _queue_sqlite(conn: Connection, rows: Sequence[dict[str, Any]], now: datetime) -> int:
    created = _stamp(conn, outbox_t.c.created_at, now)
    stamps: dict[datetime, Any] = {}
    params = []
    for r in rows:
        nb = r.get("not_before") or now
        if nb not in stamps:
            stamps[nb] = _stamp(conn, outbox_t.c.not_before, nb)
        params.append((r["channel"], str(r["chat_id"]), r["account_id"], r["kind"],
                       r["locale"], r["text"], r["options"], r["dedupe_key"], stamps[nb],
                       created, r["priority"]))
    result = conn.exec_driver_sql(_QUEUE_SQLITE, params)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 \
        else len(params)


_BUMP_SQLITE = ("INSERT INTO campaign_send (person_id, day, n) VALUES (?, ?, 1) "
                "ON CONFLICT (person_id, day) DO UPDATE SET n = n + 1")


_BUMP_PG = text("""
INSERT INTO campaign_send (person_id, day, n)
SELECT person_id, day, 1 FROM unnest(:person_id, :day) AS r(person_id, day)
ON CONFLICT (person_id, day) DO UPDATE SET n = campaign_send.n + 1
""").bindparams(bindparam("person_id", type_=ARRAY(Integer)),
                bindparam("day", type_=ARRAY(Date)))


def bump_sends(conn: Connection, *, rows: Sequence[tuple[int, date]]) -> None:
    """One more message for each (person, day) — each pair at most once per call."""
    if rows and _pg(conn):
        conn.execute(_BUMP_PG, {"person_id": [p for p, _d in rows], "day": [d for _p, d in rows]})
    elif rows and conn.dialect.name == "sqlite":
        days = {d: _stamp(conn, campaign_send_t.c.day, d) for d in {d for _p, d in rows}}
        conn.exec_driver_sql(_BUMP_SQLITE, [(p, days[d]) for p, d in rows])
    elif rows:
        conn.execute(_BUMP[conn.dialect.name],
                     [{"person_id": pid, "day": day, "n": 1} for pid, day in rows])


def forget_sends(conn: Connection, *, before: date) -> int:
    return conn.execute(delete(campaign_send_t).where(campaign_send_t.c.day < before)).rowcount


def unit_by_code(conn: Connection, *, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(unit_t).where(unit_t.c.code == code)).mappings().first()
    return dict(row) if row else None


def unit_by_id(conn: Connection, *, unit_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(unit_t).where(unit_t.c.id == unit_id)).mappings().first()
    return dict(row) if row else None

