"""Campaign audiences, streamed: `audience_batch` returns the next `limit` people after a
cursor, in (unit, person id) order — a walk of the slot's units (`campaign_slot_unit`) joined
to `ix_person_unit_person`, so each batch costs its own size whatever the table holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)

from storage.models import (
    account_t,
    draft_t,
    initiative_author_t,
    initiative_t,
    person_t,
    role_grant_t,
    unit_t,
)
from storage.models_campaigns import (
    campaign_opt_out_t,
    campaign_send_t,
    campaign_slot_unit_t,
)


def is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


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


def filter_values(conn: Connection, *, root_id: int) -> tuple[list[str], list[str]]:
    """The blocs and the emulation clusters found in the unit's subtree (a campaign's
    filters offered in the chat), each sorted."""
    sub = _subtree(root_id, None)
    rows = conn.execute(select(unit_t.c.bloc, unit_t.c.cluster).distinct()
                        .select_from(sub.join(unit_t, unit_t.c.id == sub.c.id))).all()
    return (sorted({r.bloc for r in rows if r.bloc}),
            sorted({r.cluster for r in rows if r.cluster}))


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
    reachable one) and the campaign messages queued for them today and since `week_from`.

    One union at a time, each read in the order of `ix_person_unit_person` from the cursor
    on: a query over all the slot's unions at once sorted each union's remaining people
    (PostgreSQL: and looked up their accounts) before keeping the batch — up to thirty times
    the batch's own work with 30,000 people in a union."""
    if audience in ROLE_AUDIENCES:
        return _holders_batch(conn, slot_id=slot_id, roles=ROLE_AUDIENCES[audience],
                              after_unit=after_unit, after=after, limit=limit)
    prefetch = today is not None and week_from is not None
    q = _people_query(conn, audience=audience, since=since, idle_before=idle_before,
                      prefetch=prefetch)
    out: list[Person] = []
    for unit_id, unit_name in _slot_units(conn, slot_id=slot_id, after_unit=after_unit):
        start = (after or 0) if unit_id == after_unit else 0
        rows = conn.execute(q, {"unit": unit_id, "after": start, "n": limit - len(out),
                                "today": today, "week_from": week_from}).all()
        # Rows unpacked as tuples: reading them by name cost more than the query (a million
        # people, ten columns each).
        if prefetch:
            out += [Person(pid, name, unit_id, unit_name, bool(opted),
                           Target(aid, channel, chat_id, locale) if aid else None,
                           int(today), int(week), True)
                    for pid, name, opted, aid, channel, chat_id, locale, week, today in rows]
        else:
            out += [Person(pid, name, unit_id, unit_name, bool(opted))
                    for pid, name, opted in rows]
        if len(out) >= limit:
            break
    return out


def _slot_units(conn: Connection, *, slot_id: int, after_unit: int | None,
                chunk: int = 500) -> Iterator[tuple[int, str]]:
    """The slot's unions from `after_unit` on, in order, read `chunk` at a time."""
    su = campaign_slot_unit_t.c
    q = (select(su.unit_id, unit_t.c.name)
         .join(unit_t, unit_t.c.id == su.unit_id)
         .where(su.slot_id == slot_id, su.unit_id >= bindparam("from_unit"))
         .order_by(su.unit_id).limit(chunk))
    from_unit = after_unit if after_unit is not None else -1
    while True:
        rows = conn.execute(q, {"from_unit": from_unit}).all()
        yield from ((r.unit_id, r.name) for r in rows)
        if len(rows) < chunk:
            return
        from_unit = rows[-1].unit_id + 1


def _people_query(conn: Connection, *, audience: str, since: datetime | None,
                  idle_before: datetime | None, prefetch: bool) -> Any:
    """One union's people of the audience after a person id (:unit, :after, :n; with
    `prefetch`, :today and :week_from), in id order.

    The batch is chosen first (a subquery with its limit), then each of its people's account
    and messages are looked up: however the database reads the union (without statistics,
    PostgreSQL read its remaining people and sorted them), only the batch's people cost a
    lookup."""
    p = person_t.c
    # Not correlated: one read of the (short) opt-out list, then a lookup per person.
    opted = p.id.in_(select(campaign_opt_out_t.c.person_id))
    people = (select(p.id, p.name, opted.label("opted_out"))
              .where(p.unit_id == bindparam("unit"), p.id > bindparam("after"),
                     *_people_filter(audience, since=since, idle_before=idle_before))
              .order_by(p.id).limit(bindparam("n")))
    if not prefetch:
        return people
    batch = people.subquery("batch")
    b, a, sc = batch.c, account_t.c, campaign_send_t.c
    pick = (select(a.id, a.channel, a.chat_id, a.locale)
            .where(a.person_id == b.id, a.reachable.is_(True))
            .order_by(a.updated_at.desc(), a.id.desc()).limit(1))
    week_from, today = bindparam("week_from", type_=Date), bindparam("today", type_=Date)
    week = func.coalesce(func.sum(sc.n), 0)
    if is_pg(conn):   # PostgreSQL plans the join on a correlated subquery as a scan
        acc = pick.lateral("acc")
        on_day = func.coalesce(func.sum(case((sc.day == today, sc.n), else_=0)), 0)
        sent = (select(week.label("week"), on_day.label("today"))   # one read of both sums
                .where(sc.person_id == b.id, sc.day >= week_from).lateral("sent"))
        joined = batch.outerjoin(acc, true()).join(sent, true())
        sums = [sent.c.week, sent.c.today]
    else:
        acc = account_t.alias("acc")
        joined = batch.outerjoin(acc, acc.c.id == pick.with_only_columns(a.id)
                                 .correlate(batch).scalar_subquery())
        sums = [select(week).where(sc.person_id == b.id, sc.day >= week_from)
                .correlate(batch).scalar_subquery().label("week"),
                select(week).where(sc.person_id == b.id, sc.day == today)
                .correlate(batch).scalar_subquery().label("today")]
    return (select(b.id, b.name, b.opted_out, acc.c.id.label("aid"), acc.c.channel,
                   acc.c.chat_id, acc.c.locale, *sums)
            .select_from(joined).order_by(b.id))


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
