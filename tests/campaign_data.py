"""Generated people for the campaign tests: accounts in the demo directory's grassroots
unions, some opted out, some unreachable, some with two accounts, drafts and initiatives —
and the direct queries each audience must equal."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from storage import access
from storage import campaigns as store
from storage.models import account_t, draft_t, initiative_author_t, initiative_t, person_t, unit_t
from storage.models_campaigns import campaign_opt_out_t


@dataclass
class World:
    people: dict[int, dict[str, Any]] = field(default_factory=dict)  # person id → facts
    units: dict[str, int] = field(default_factory=dict)              # code → id


def units(conn: Connection) -> dict[str, dict[str, Any]]:
    return {r["code"]: dict(r) for r in conn.execute(select(unit_t)).mappings()}


def generate(conn: Connection, *, now: datetime, n: int = 120, seed: int = 7) -> World:
    rnd = random.Random(seed)
    all_units = units(conn)
    grassroots = sorted(code for code, u in all_units.items() if u["kind"] == "grassroots")
    world = World(units={code: u["id"] for code, u in all_units.items()})
    ini_no = 0
    for i in range(n):
        code = rnd.choice(grassroots)
        pid = conn.execute(insert(person_t).values(
            name=f"nguyễn văn <{i}>", unit_id=all_units[code]["id"], onboarded=True,
            alert_mode="instant", created_at=now).returning(person_t.c.id)).scalar_one()
        facts: dict[str, Any] = {"unit": code, "accounts": [], "reachable": True,
                                 "opted_out": False, "initiative_at": None, "draft_at": None}
        channels = ["telegram"] + (["zalo"] if rnd.random() < 0.1 else [])
        for k, channel in enumerate(channels):
            reachable = rnd.random() > 0.08
            aid = conn.execute(insert(account_t).values(
                channel=channel, external_id=f"g{i}-{k}", chat_id=f"{channel[0]}{i}-{k}",
                person_id=pid, locale=rnd.choice(["vi", "en", None]), step="idle",
                state="{}", reachable=reachable, created_at=now,
                updated_at=now - timedelta(minutes=k)).returning(account_t.c.id)).scalar_one()
            facts["accounts"].append((aid, reachable))
        facts["reachable"] = any(r for _a, r in facts["accounts"])
        if rnd.random() < 0.15:
            facts["opted_out"] = True
            conn.execute(insert(campaign_opt_out_t).values(person_id=pid, at=now))
        roll = rnd.random()
        if roll < 0.3:
            ini_no += 1
            at = now - timedelta(days=rnd.choice([1, 40]))
            ini = conn.execute(insert(initiative_t).values(
                code=f"SK-9{ini_no:05d}", person_id=pid, entered_by=pid, author_name="x",
                title="t", description="d", unit_id=all_units["BPC-PR"]["id"],
                status=rnd.choice(["under_review", "valid", "withdrawn"]), channel="telegram",
                submitted_at=at, recognized=False, benefit_known=True)
                .returning(initiative_t.c.id, initiative_t.c.status)).first()
            assert ini is not None
            conn.execute(insert(initiative_author_t).values(initiative_id=ini.id, position=0,
                                                            name="x", person_id=pid))
            facts["initiative_at"] = (at, ini.status)
        if rnd.random() < 0.3:
            at = now - timedelta(days=rnd.choice([2, 10, 30]))
            conn.execute(insert(draft_t).values(person_id=pid, step="description", title="d",
                                                on_behalf=False, created_at=at, updated_at=at))
            facts["draft_at"] = at
        world.people[pid] = facts
    return world


def subtree(conn: Connection, code: str, *, bloc: str | None = None,
            cluster: str | None = None) -> set[str]:
    """Unit codes under (and with) `code`, filtered, by walking parents in Python."""
    us = units(conn)
    by_id = {u["id"]: u for u in us.values()}
    root = us[code]["id"]
    out = set()
    for u in us.values():
        chain, cur, inside = [], u, False
        while cur is not None:
            chain.append(cur)
            if cur["id"] == root:
                inside = True
                break
            cur = by_id.get(cur["parent_id"])
        if not inside:
            continue
        if cluster and not any(c["cluster"] == cluster for c in chain):
            continue
        if bloc and u["bloc"] != bloc:
            continue
        out.add(u["code"])
    return out


def expected(world: World, unit_codes: set[str], audience: str, *, since: datetime | None = None,
             idle_before: datetime | None = None) -> set[int]:
    """Person ids the audience must reach (opted-out and unreachable people left out)."""
    out = set()
    for pid, f in world.people.items():
        if f["unit"] not in unit_codes or f["opted_out"] or not f["reachable"]:
            continue
        if audience == "no_initiative" and f["initiative_at"] is not None:
            at, status = f["initiative_at"]
            if since is not None and at >= since and status != "withdrawn":
                continue
        if audience == "idle_drafts" and (f["draft_at"] is None or idle_before is None
                                          or f["draft_at"] >= idle_before):
            continue
        out.add(pid)
    return out


def chair(conn: Connection, *, unit_code: str, now: datetime, role: str = "chair",
          name: str = "chair") -> int:
    """A person (with a Telegram account) holding `role` on the unit."""
    unit = store.unit_by_code(conn, code=unit_code)
    assert unit is not None
    pid = conn.execute(insert(person_t).values(
        name=name, unit_id=unit["id"], onboarded=True, alert_mode="instant",
        created_at=now).returning(person_t.c.id)).scalar_one()
    conn.execute(insert(account_t).values(
        channel="telegram", external_id=f"{role}-{unit_code}-{pid}", chat_id=f"c{pid}",
        person_id=pid, locale="en", step="idle", state="{}", reachable=True, created_at=now,
        updated_at=now))
    access.grant_role(conn, person_id=pid, role=role, unit_id=unit["id"], granted_by=None,
                      code=None, now=now)
    return pid


def units_codes(world: World) -> set[str]:
    """Every unit: an audience over the whole directory."""
    return set(world.units)


def subtree_codes_of(engine: Any, code: str) -> set[str]:
    with engine.connect() as conn:
        return subtree(conn, code)
