"""The directory's and the accounts' side of the rollups: member counts per bloc (the ratio
targets' bases) recomputed after a directory change; a moved union's figures taken from its
old ancestors to its new ones; a union whose bloc changed takes its figures to the new bloc;
two accounts merged into one person count as one author."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from storage.bulk import upsert_add
from storage.models import initiative_author_t, unit_t
from storage.models_progress import (
    phase_t,
    progress_author_t,
    progress_delta_t,
    progress_snapshot_t,
    progress_total_t,
    unit_members_t,
)
from storage.progress import (
    COUNTERS,
    Contribution,
    contribution,
    days,
    figures,
    track,
)


def rebuild_members(conn: Connection) -> int:
    """Recompute the members per bloc of every unit's subtree (after a directory change)."""
    units = conn.execute(select(unit_t.c.id, unit_t.c.parent_id, unit_t.c.kind,
                                unit_t.c.bloc, unit_t.c.member_count)).all()
    parent = {u.id: u.parent_id for u in units}
    acc: dict[tuple[int, str], int] = defaultdict(int)
    for u in units:
        if u.kind != "grassroots" or not u.member_count:
            continue
        node: int | None = u.id
        seen = 0
        while node is not None and seen < 64:
            acc[(node, u.bloc or "other")] += u.member_count
            node = parent.get(node)
            seen += 1
    conn.execute(delete(unit_members_t))
    rows = [{"unit_id": u, "bloc": b, "members": n} for (u, b), n in acc.items()]
    for i in range(0, len(rows), 5000):
        conn.execute(insert(unit_members_t), rows[i:i + 5000])
    return len(rows)


def parents(conn: Connection) -> dict[int, int | None]:
    return dict(conn.execute(select(unit_t.c.id, unit_t.c.parent_id)).all())


def move_units(conn: Connection, before: dict[int, int | None]) -> int:
    """After a directory change: every unit whose parent changed takes its figures (all
    phases) from its old ancestors to its new ones. Moves are applied one at a time on the
    tree as it stands after the previous one, so nested moves count once. Returns how many
    units moved."""
    after = parents(conn)
    tree = dict(before)
    tree.update({u: p for u, p in after.items() if u not in before})
    rebloc(conn, tree)       # on the tree the figures stand on, before any move
    moved = [u for u, p in after.items() if u in before and before[u] != p]
    if not moved:
        return 0
    phases = conn.execute(select(phase_t.c.id)).scalars().all()

    def chain(start: int | None) -> list[int]:
        out: list[int] = []
        while start is not None and len(out) < 64:
            out.append(start)
            start = tree.get(start)
        return out

    for u in moved:
        old, new = chain(tree[u]), chain(after[u])
        rows: list[dict[str, Any]] = []
        for phase_id in phases:
            figs = figures(conn, phase_id=phase_id, unit_ids=[u]).get(u, {})
            for bloc, v in figs.items():
                for sign, chain_ids in ((-1, old), (1, new)):
                    rows += [{"phase_id": phase_id, "unit_id": a, "bloc": bloc, "day": None,
                              "day_registered": 0, **{c: sign * n for c, n in v.items()}}
                             for a in chain_ids]
            for d, n in days(conn, phase_id=phase_id, unit_id=u).items():
                for sign, chain_ids in ((-1, old), (1, new)):
                    rows += [{"phase_id": phase_id, "unit_id": a, "bloc": "other", "day": d,
                              "day_registered": sign * n, **dict.fromkeys(COUNTERS, 0)}
                             for a in chain_ids]
            _move_authors(conn, phase_id, u, old, new)
        for i in range(0, len(rows), 5000):
            conn.execute(insert(progress_delta_t), rows[i:i + 5000])
        # the unit's rows name its new parent; an ended phase's frozen figures stay as
        # they were, listed under the parent the unit has now (as its live totals are)
        for t in (progress_total_t, progress_snapshot_t):
            conn.execute(update(t).where(t.c.unit_id == u).values(parent_id=after[u]))
        tree[u] = after[u]
    return len(moved)


def _move_authors(conn: Connection, phase_id: int, unit_id: int, old: list[int],
                  new: list[int]) -> None:
    t = progress_author_t
    authors = conn.execute(select(t.c.author, t.c.name, t.c.registered, t.c.valid).where(
        t.c.phase_id == phase_id, t.c.unit_id == unit_id)).all()
    for sign, chain_ids in ((-1, old), (1, new)):
        rows = [{"phase_id": phase_id, "unit_id": a, "author": r.author, "name": r.name,
                 "registered": sign * r.registered, "valid": sign * r.valid}
                for a in chain_ids for r in authors]
        upsert_add(conn, t, ("phase_id", "unit_id", "author"), rows, ("registered", "valid"))


def rebloc(conn: Connection, tree: dict[int, int | None] | None = None) -> int:
    """After a directory change: a union with no units below whose bloc changed takes its
    figures (all phases) from its old bloc to its new one, there and in every union above
    (the figures of a union with none below are its own initiatives, all of its bloc).
    Returns how many (unit, phase, old bloc) moved."""
    u, leaf = unit_t, unit_t.alias("below")
    stale: set[tuple[int, int, str]] = set()
    for t in (progress_total_t, progress_delta_t):
        stale.update(conn.execute(
            select(t.c.unit_id, t.c.phase_id, t.c.bloc).distinct()
            .join(u, u.c.id == t.c.unit_id)
            .where(t.c.bloc != func.coalesce(u.c.bloc, "other"),
                   ~select(leaf.c.id).where(leaf.c.parent_id == u.c.id).exists())).all())
    if not stale:
        return 0
    bloc_of = dict(conn.execute(select(u.c.id, u.c.bloc)
                                .where(u.c.id.in_(sorted({s[0] for s in stale})))).all())
    tree = tree if tree is not None else parents(conn)
    rows: list[dict[str, Any]] = []
    for unit_id, phase_id, old in sorted(stale):
        v = figures(conn, phase_id=phase_id, unit_ids=[unit_id]).get(unit_id, {}).get(old)
        if not v or not any(v.values()):
            continue
        chain: list[int] = []
        node: int | None = unit_id
        while node is not None and len(chain) < 64:
            chain.append(node)
            node = tree.get(node)
        for sign, bloc in ((-1, old), (1, bloc_of.get(unit_id) or "other")):
            rows += [{"phase_id": phase_id, "unit_id": a, "bloc": bloc, "day": None,
                      "day_registered": 0, **{c: sign * n for c, n in v.items()}}
                     for a in chain]
    for i in range(0, len(rows), 5000):
        conn.execute(insert(progress_delta_t), rows[i:i + 5000])
    return len(stale)


def merging_people(conn: Connection, *, absorb: int) -> list[tuple[int, Contribution | None]]:
    """Before two accounts become one: the contributions of the initiatives crediting
    `absorb` (their author key changes with the merge: participants, top authors)."""
    a = initiative_author_t
    ids = conn.execute(select(a.c.initiative_id).distinct().where(a.c.person_id == absorb)
                       ).scalars().all()
    return [(i, contribution(conn, initiative_id=i)) for i in sorted(ids)]


def merged_people(conn: Connection, before: list[tuple[int, Contribution | None]]) -> None:
    """After the merge: each of those initiatives' change recorded."""
    for initiative_id, was in before:
        track(conn, initiative_id=initiative_id, before=was)
