"""A campaign row read as a schedule and an audience window: shared by the services, the
scheduler and the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from bot.campaign_schedule import TZ, Schedule, parse_hhmm

AUDIENCES = ("members", "no_initiative", "idle_drafts", "lagging_units", "leaderboard")
DEFAULT_IDLE_DAYS = 7
DEFAULT_BELOW_PCT = 50


def schedule_of(c: dict[str, Any], *, end: date | None = None) -> Schedule:
    at = parse_hhmm(c["at_time"]) if c.get("at_time") else None
    once_at = c.get("once_at")
    if once_at is not None and once_at.tzinfo is None:
        once_at = once_at.replace(tzinfo=UTC)
    return Schedule(kind=c["kind"], once_at=once_at, at_time=at, weekday=c.get("weekday"),
                    days=c.get("days"), until=c.get("ends_on"), end=end or c.get("ends_on"))


def phase_dates(conn: Connection, now: datetime) -> tuple[date, date] | None:
    """The current phase's first and last day (bot.services.progress), when there is one."""
    try:
        from bot.services import progress
    except ImportError:   # targets and phases not installed in this build
        return None
    phase = progress.current_phase(conn=conn, now=now)
    return (phase.starts_on, phase.ends_on) if phase is not None else None


def end_of(conn: Connection, c: dict[str, Any], now: datetime) -> date | None:
    """What a countdown counts to: the campaign's last day, else the current phase's."""
    if c.get("ends_on") is not None:
        return c["ends_on"]
    dates = phase_dates(conn, now)
    return dates[1] if dates else None


def since_of(conn: Connection, c: dict[str, Any], now: datetime
             ) -> tuple[datetime | None, datetime | None]:
    """(since, idle_before): "no initiative" counts initiatives from the current phase's
    first day (else the campaign's, else its creation); "idle drafts" are drafts untouched
    since `idle_before`."""
    since = idle_before = None
    if c["audience"] == "no_initiative":
        dates = phase_dates(conn, now)
        first = dates[0] if dates else c.get("starts_on")
        since = (datetime.combine(first, time(0), tzinfo=TZ).astimezone(UTC) if first
                 else c["created_at"])
    if c["audience"] == "idle_drafts":
        idle_before = now - timedelta(days=c.get("idle_days") or DEFAULT_IDLE_DAYS)
    return since, idle_before
