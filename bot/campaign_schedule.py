"""Campaign schedules, quiet hours and the per-person cap: pure functions of an injected time.

Everything is reckoned in Asia/Ho_Chi_Minh (no daylight saving) and handed back in UTC.

- `once`: one slot at `once_at`;
- `daily` / `weekly`: at `at_time` every day / every `weekday` (0 = Monday), up to `until`
  (a local date, inclusive);
- `before_end`: a countdown — every day at `at_time` from `days` days before `end` (the
  campaign's or the phase's last day) up to that last day itself.

Quiet hours ("21:00-07:00"; across midnight when the start is after the end): a slot that
falls inside waits for their end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.textfold import fold

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
KINDS = ("once", "daily", "weekly", "before_end")
DEFAULT_TIME = time(8, 0)

# Weekday words: English, and Vietnamese as written on calendars (Thứ 2 = Monday … Chủ nhật).
_WEEKDAYS = {
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday",
                                         "friday", "saturday", "sunday"))},
    **{f"t{n}": n - 2 for n in range(2, 8)}, **{f"thu {n}": n - 2 for n in range(2, 8)},
    **{f"thu{n}": n - 2 for n in range(2, 8)}, "cn": 6, "chu nhat": 6,
}


class ScheduleError(ValueError):
    """A schedule that cannot be: the message says which part."""


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str
    once_at: datetime | None = None     # once: UTC
    at_time: time | None = None         # daily, weekly, before_end: local
    weekday: int | None = None          # weekly: 0 = Monday
    days: int | None = None             # before_end: how many days before the end
    until: date | None = None           # daily, weekly: the last local day (inclusive)
    end: date | None = None             # before_end: the last day counted down to


def local(moment: datetime) -> datetime:
    return moment.astimezone(TZ)


def local_today(now: datetime) -> date:
    return local(now).date()


def at_local(day: date, at: time) -> datetime:
    """A local day and time, in UTC."""
    return datetime.combine(day, at, tzinfo=TZ).astimezone(UTC)


def parse_hhmm(text: str) -> time:
    hh, sep, mm = text.strip().replace("h", ":").partition(":")
    if not (hh.isascii() and hh.isdigit() and len(hh) <= 2
            and (not mm or (mm.isascii() and mm.isdigit() and len(mm) <= 2))):
        raise ScheduleError(f"not a time of day (HH:MM): {text!r}")
    try:
        value = time(int(hh), int(mm or 0))
    except ValueError as exc:
        raise ScheduleError(f"not a time of day (HH:MM): {text!r}") from exc
    if not sep and not mm and len(hh) > 2:
        raise ScheduleError(f"not a time of day (HH:MM): {text!r}")
    return value


def parse_weekday(text: str) -> int:
    word = fold(text).replace(".", "").strip()
    if word.isdigit() and 0 <= int(word) <= 6:
        return int(word)
    if word in _WEEKDAYS:
        return _WEEKDAYS[word]
    raise ScheduleError(f"not a day of the week: {text!r}")


def parse_local(text: str) -> datetime:
    """ "YYYY-MM-DD HH:MM", or as written in Vietnam "DD/MM/YYYY HH:MM" (the time may be
    "8h"), local → UTC."""
    day_text, _sep, time_text = text.strip().partition(" ")
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            day = datetime.strptime(day_text, fmt).date()
            break
        except ValueError:
            continue
    else:
        raise ScheduleError(f"not a date and time (YYYY-MM-DD HH:MM): {text!r}")
    naive = datetime.combine(day, parse_hhmm(time_text))
    return naive.replace(tzinfo=TZ).astimezone(UTC)


def next_slot(s: Schedule, *, after: datetime, inclusive: bool = False) -> datetime | None:
    """The schedule's first slot after `after` (at it too when `inclusive`), or None when
    the schedule has ended."""

    def later(moment: datetime) -> bool:
        return moment >= after if inclusive else moment > after

    if s.kind == "once":
        return s.once_at if s.once_at is not None and later(s.once_at) else None
    at = s.at_time or DEFAULT_TIME
    day = local(after).date()
    if s.kind == "daily":
        first, last, step = day, s.until, 1
    elif s.kind == "weekly":
        if s.weekday is None:
            raise ScheduleError("a weekly schedule needs a day of the week")
        first, last, step = day + timedelta(days=(s.weekday - day.weekday()) % 7), s.until, 7
    elif s.kind == "before_end":
        if s.end is None or s.days is None:
            raise ScheduleError("a countdown needs an end date and a number of days")
        first, last, step = max(day, s.end - timedelta(days=s.days)), s.end, 1
    else:
        raise ScheduleError(f"unknown schedule kind {s.kind!r}")
    for candidate in (first, first + timedelta(days=step)):
        if last is not None and candidate > last:
            return None
        moment = at_local(candidate, at)
        if later(moment):
            return moment
    return None   # not reached: the second candidate is always a day or more later


def slot_key(moment: datetime) -> str:
    """A slot's name: its nominal local time, YYYYMMDDHHMM."""
    return local(moment).strftime("%Y%m%d%H%M")


def days_left(end: date | None, now: datetime) -> int | None:
    """Days left until `end` (local), both counted as /tiendo counts them: 1 on the last
    day, 0 once it has passed."""
    return None if end is None else max(0, (end - local_today(now)).days + 1)


# ============================================================================ quiet hours


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time


def parse_quiet(text: str | None) -> QuietHours | None:
    """ "21:00-07:00" → QuietHours; empty → None (no quiet hours)."""
    if not text or not text.strip():
        return None
    first, sep, second = text.strip().partition("-")
    if not sep:
        raise ScheduleError(f"quiet hours are written HH:MM-HH:MM: {text!r}")
    start, end = parse_hhmm(first), parse_hhmm(second)
    return None if start == end else QuietHours(start, end)


def quiet_until(quiet: QuietHours | None, moment: datetime) -> datetime | None:
    """When `moment` falls inside quiet hours, their end (UTC); else None."""
    if quiet is None:
        return None
    here = local(moment)
    t, day = here.time(), here.date()
    if quiet.start < quiet.end:               # e.g. 12:00-13:30, within one day
        inside = quiet.start <= t < quiet.end
        end_day = day
    else:                                     # across midnight, e.g. 21:00-07:00
        inside = t >= quiet.start or t < quiet.end
        end_day = day + timedelta(days=1) if t >= quiet.start else day
    return at_local(end_day, quiet.end) if inside else None


def after_quiet(quiet: QuietHours | None, moment: datetime) -> datetime:
    """`moment`, or the end of the quiet hours it falls in."""
    return quiet_until(quiet, moment) or moment


# ============================================================================ the cap


@dataclass(frozen=True, slots=True)
class Cap:
    """At most `per_day` campaign messages a person a local day, `per_week` in 7 days."""

    per_day: int = 1
    per_week: int = 3

    def allows(self, *, today: int, week: int) -> bool:
        return today < self.per_day and week < self.per_week


def week_start(today: date) -> date:
    """The first of the 7 local days (today included) the weekly cap counts."""
    return today - timedelta(days=6)
