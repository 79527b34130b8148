"""Money, numbers, dates and HTML: formatted by Babel for the user's locale."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
_TAG = re.compile(r"<[^>]+>")


def esc(text: str) -> str:
    """Escape user text for an HTML reply: `<b>` and `&` are shown, never interpreted."""
    return html.escape(text, quote=False)


@lru_cache(maxsize=4096)
def vnd(amount: int, locale: str) -> str:
    return format_currency(amount, "VND", locale=locale)


@lru_cache(maxsize=4096)
def number(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


def local_datetime(moment: datetime, locale: str) -> str:
    """A stored timestamp (UTC) shown in Vietnam's time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment, "short", tzinfo=TIMEZONE, locale=locale)


def html_to_plain(text: str) -> str:
    """For channels without markup: drop our tags, unescape entities."""
    return html.unescape(_TAG.sub("", text))


def split_message(text: str, limit: int) -> list[str]:
    """Split at line, then word, boundaries so each part is at most `limit` characters."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not parts:
        parts.append(rest)
    return parts


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
