"""Dates as people type them in Vietnam: day first."""

from __future__ import annotations

import re
from datetime import date

_DMY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{2}|\d{4})\s*$")
_MY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
EARLIEST = date(1975, 1, 1)


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
