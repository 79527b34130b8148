"""Campaign schedules, quiet hours and the cap, with an injected clock (Asia/Ho_Chi_Minh)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.campaign_schedule import (
    Cap,
    Schedule,
    ScheduleError,
    after_quiet,
    days_left,
    local,
    next_slot,
    parse_hhmm,
    parse_local,
    parse_quiet,
    parse_weekday,
    quiet_until,
    slot_key,
)


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A local (UTC+7) wall-clock time, as the UTC instant it is."""
    return parse_local(f"{y:04d}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}")


def test_local_times_are_utc_plus_seven() -> None:
    assert vn(2026, 1, 1, 7, 0) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert slot_key(datetime(2025, 12, 31, 17, 30, tzinfo=UTC)) == "202601010030"


def test_once_is_one_slot() -> None:
    s = Schedule("once", once_at=vn(2026, 3, 1, 9))
    assert next_slot(s, after=vn(2026, 3, 1, 8), inclusive=True) == vn(2026, 3, 1, 9)
    assert next_slot(s, after=vn(2026, 3, 1, 9), inclusive=True) == vn(2026, 3, 1, 9)
    assert next_slot(s, after=vn(2026, 3, 1, 9)) is None


def test_daily_across_midnight_and_month_ends() -> None:
    s = Schedule("daily", at_time=time(8, 0), until=date(2026, 3, 2))
    # 23:30 local on 31 January is 16:30 UTC the same day: the next slot is 1 February.
    assert next_slot(s, after=vn(2026, 1, 31, 23, 30)) == vn(2026, 2, 1, 8)
    # 00:30 local is still the previous day in UTC: today's 08:00 is next.
    assert next_slot(s, after=vn(2026, 2, 28, 0, 30)) == vn(2026, 2, 28, 8)
    assert next_slot(s, after=vn(2026, 2, 28, 8)) == vn(2026, 3, 1, 8)   # no 29 February
    assert next_slot(s, after=vn(2026, 3, 1, 8)) == vn(2026, 3, 2, 8)    # `until` is inclusive
    assert next_slot(s, after=vn(2026, 3, 2, 8)) is None
    assert next_slot(s, after=vn(2026, 3, 2, 8), inclusive=True) == vn(2026, 3, 2, 8)


def test_daily_late_evening_time_crosses_utc_midnight() -> None:
    s = Schedule("daily", at_time=time(6, 30))   # 23:30 UTC the day before
    assert next_slot(s, after=vn(2026, 12, 31, 7)) == vn(2027, 1, 1, 6, 30)
    assert next_slot(s, after=vn(2026, 12, 31, 7)) == datetime(2026, 12, 31, 23, 30, tzinfo=UTC)


def test_weekly() -> None:
    s = Schedule("weekly", at_time=time(9, 0), weekday=parse_weekday("Thứ 2"))  # Monday
    # Sunday 30 November 2025 → Monday 1 December
    assert next_slot(s, after=vn(2025, 11, 30, 12)) == vn(2025, 12, 1, 9)
    assert next_slot(s, after=vn(2025, 12, 1, 9)) == vn(2025, 12, 8, 9)
    assert local(next_slot(s, after=vn(2026, 1, 31)) or vn(2000, 1, 1)).weekday() == 0
    assert parse_weekday("cn") == parse_weekday("sun") == 6
    with pytest.raises(ScheduleError):
        parse_weekday("someday")


def test_countdown_to_the_last_day_of_a_phase() -> None:
    s = Schedule("before_end", at_time=time(8, 0), days=3, end=date(2022, 5, 31))
    first = next_slot(s, after=vn(2022, 5, 1), inclusive=True)
    assert first == vn(2022, 5, 28, 8)
    slots = [first]
    while (nxt := next_slot(s, after=slots[-1])) is not None:
        slots.append(nxt)
    assert slots == [vn(2022, 5, d, 8) for d in (28, 29, 30, 31)]
    assert [days_left(date(2022, 5, 31), t) for t in slots] == [4, 3, 2, 1]
    assert next_slot(s, after=vn(2022, 5, 31, 8, 1)) is None


def test_quiet_hours_across_midnight() -> None:
    q = parse_quiet("21:00-07:00")
    assert quiet_until(q, vn(2026, 1, 31, 20, 59)) is None
    assert quiet_until(q, vn(2026, 1, 31, 21, 0)) == vn(2026, 2, 1, 7)   # month end
    assert quiet_until(q, vn(2026, 2, 1, 3, 0)) == vn(2026, 2, 1, 7)
    assert quiet_until(q, vn(2026, 2, 1, 7, 0)) is None
    assert after_quiet(q, vn(2026, 2, 1, 12)) == vn(2026, 2, 1, 12)
    day = parse_quiet("12:00-13:30")
    assert quiet_until(day, vn(2026, 2, 1, 12, 10)) == vn(2026, 2, 1, 13, 30)
    assert quiet_until(day, vn(2026, 2, 1, 13, 30)) is None
    assert parse_quiet("") is None and parse_quiet("  ") is None
    with pytest.raises(ScheduleError):
        parse_quiet("21:00")


def test_parsing() -> None:
    assert parse_hhmm("7:05") == time(7, 5)
    assert parse_hhmm("20h") == time(20, 0)
    for bad in ("25:00", "abc", "0800"):
        with pytest.raises(ScheduleError):
            parse_hhmm(bad)
    with pytest.raises(ScheduleError):
        parse_local("2026-02-30 08:00")
    # As a Vietnamese chair writes it: day first, the hour as "8h".
    assert parse_local("25/12/2026 08:00") == parse_local("2026-12-25 08:00")
    assert parse_local("25/12/2026 8h") == parse_local("2026-12-25 08:00")
    for bad in ("30/02/2026 08:00", "25/12/2026", "12/25/2026 08:00"):
        with pytest.raises(ScheduleError):
            parse_local(bad)


def test_cap() -> None:
    cap = Cap(per_day=1, per_week=3)
    assert cap.allows(today=0, week=2)
    assert not cap.allows(today=1, week=1)
    assert not cap.allows(today=0, week=3)
