"""Dates as people type them in Vietnam: day first."""

from __future__ import annotations

import re
from datetime import date

from babel.dates import format_skeleton

from storage.textfold import fold

_DMY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{2}|\d{4})\s*$")
_MY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
EARLIEST = date(1975, 1, 1)
# A month and a year, folded ("tháng 3/2025" → "thang 3 2025", "thang 3 nam 2025", "T3/2025").
_MONTH = re.compile(r"^(?:thang|th|t)?\s*(\d{1,2}) (?:nam )?(\d{4})$")


def parse_day(text: str, *, today: date) -> date | str:
    """A date, or an error key: "unreadable", "future", "too_old".

    "15/3/2023", "15-03-2023", "15.3.23", "2023-03-15", and "3/2023" (the first of the month).
    """
    if m := _ISO.match(text):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := _DMY.match(text):
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
        y += 2000 if y < 100 else 0
    elif m := _MY.match(text):
        d, mo, y = 1, int(m[1]), int(m[2])
    else:
        return "unreadable"
    try:
        day = date(y, mo, d)
    except ValueError:
        return "unreadable"
    if day > today:
        return "future"
    if day < EARLIEST:
        return "too_old"
    return day


def parse_applied(text: str, *, today: date) -> tuple[date, bool] | str:
    """A day, or a month typed as a month ("3/2025", "tháng 3/2025", "thang 3 nam 2025",
    "T3/2025"): (the day — the first of the month for a month —, whether it is a month only),
    or an error key as `parse_day` gives."""
    if m := _MONTH.match(fold(text)):
        mo, y = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            return "unreadable"
        first = date(y, mo, 1)
        if first > today:
            return "future"
        if first < EARLIEST:
            return "too_old"
        return first, True
    day = parse_day(text, today=today)
    return day if isinstance(day, str) else (day, False)


def applied_text(day: date, month_only: bool, locale: str) -> str:
    """A date as shown: "15/03/2023", or a month as a month ("tháng 3 năm 2025", "March 2025")."""
    if month_only:
        return format_skeleton("yMMMM", day, locale=locale)
    return day.strftime("%d/%m/%Y")
