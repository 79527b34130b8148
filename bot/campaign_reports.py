"""Live figures for campaign messages, read from the progress service (bot.services.progress)
and rendered with /tiendo's and /bangxephang's own code (bot.render_progress), so that a
chair reads the same figures in a reminder as in the chat.

- `unit_figures`: % of the main target, the shortfall and the rank among its siblings, for
  the placeholders {phantram} {conthieu} {hang};
- `report`: audience 4 — a unit below the campaign's percentage gets its /tiendo body and
  its children that are below it too (None when the unit is not behind: nothing is sent);
  audience 5 — the leaderboard of the campaign's unit (its children; the cluster's units
  with a cluster filter), for the chairs of the units ranked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot import campaign_text as ct
from bot import render_progress as rp
from bot.formatting import percent
from bot.i18n import gettext_for
from bot.services import progress as ps
from bot.services.actor import Actor
from storage import campaigns as store

SHELL = Actor.shell()
RANK_ALL = 100_000
CHILDREN_SHOWN = 20
_leaderboards: dict[tuple[int, str, str], str | None] = {}


def unit_figures(*, conn: Connection, unit_id: int, now: datetime) -> ct.UnitFigures:
    unit = store.unit_by_id(conn, unit_id=unit_id)
    if unit is None:
        return ct.UnitFigures()
    p = ps.progress(conn=conn, actor=SHELL, now=now, unit_code=unit["code"])
    if isinstance(p, ps.Refused):
        return ct.UnitFigures()
    main = p.unit.targets[0] if p.unit.targets else None
    rank = None
    parent = store.unit_by_id(conn, unit_id=unit["parent_id"]) if unit["parent_id"] else None
    if parent is not None:
        r = ps.ranking(conn=conn, actor=SHELL, now=now, unit_code=parent["code"], limit=RANK_ALL)
        if not isinstance(r, ps.Refused):
            rank = next((row.rank for row in r.rows if row.unit.unit_id == unit_id), None)
    return ct.UnitFigures(pct=p.unit.pct, shortfall=main.shortfall if main else None,
                          rank=rank)


def report(*, conn: Connection, campaign: dict[str, Any], unit_id: int, locale: str,
           now: datetime) -> str | None:
    if campaign["audience"] == "lagging_units":
        return _lagging(conn, campaign, unit_id, locale, now)
    if campaign["audience"] == "leaderboard":
        return _leaderboard(conn, campaign, unit_id, locale, now)
    return None


def _lagging(conn: Connection, c: dict[str, Any], unit_id: int, locale: str, now: datetime
             ) -> str | None:
    unit = store.unit_by_id(conn, unit_id=unit_id)
    if unit is None:
        return None
    p = ps.progress(conn=conn, actor=SHELL, now=now, unit_code=unit["code"])
    below = float(c["below_pct"] or 50)
    if isinstance(p, ps.Refused) or p.unit.pct is None or p.unit.pct >= below:
        return None
    _ = gettext_for(locale)
    out = [rp.progress_text(p, locale=locale)]
    page = ps.children(conn=conn, actor=SHELL, now=now, unit_id=unit_id, phase_id=p.phase.id,
                       page_size=CHILDREN_SHOWN)
    lagging = [u for u in page.rows if u.pct is not None and u.pct < below] if isinstance(
        page, ps.Page) else []
    if lagging:
        out += ["", _("<b>Unions below {pct} of their target</b>:").format(
            pct=percent(below, locale))]
        out += [rp.child_line(u, locale) for u in lagging]
    return "\n".join(out)


def _leaderboard(conn: Connection, c: dict[str, Any], unit_id: int, locale: str,
                 now: datetime) -> str | None:
    unit = store.unit_by_id(conn, unit_id=unit_id)
    if unit is None or (unit["parent_id"] != c["unit_id"] and not c["cluster"]):
        return None   # the chairs of the units ranked: the campaign unit's children
    key = (c["id"], locale, now.strftime("%Y%m%d%H%M"))
    if key not in _leaderboards:
        if len(_leaderboards) > 64:
            _leaderboards.clear()
        root = store.unit_by_id(conn, unit_id=c["unit_id"])
        r = ps.ranking(conn=conn, actor=SHELL, now=now, unit_code=root["code"] if root else None)
        _leaderboards[key] = (None if isinstance(r, ps.Refused)
                              else rp.ranking_text(r, locale=locale))
    return _leaderboards[key]
