"""What comes in from a chat, made safe before any step sees it.

- Text is stripped of control characters (NUL and the rest of C0 but tab, line feed and
  carriage return; DEL) and of lone surrogates: PostgreSQL refuses NUL in text, and a lone
  surrogate cannot even be encoded. Nobody types them on purpose; they are dropped.
- A number the user gives as an id (a menu's number, "/xem 123", a button's token) is read
  only from ASCII digits ("²" and "①" pass `str.isdigit()` but are no numbers) and only up
  to the largest id a column holds; anything else is "not found".
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.events import Inbound

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")
MAX_ID = 2**31 - 1    # INTEGER columns on PostgreSQL


def clean(text: str) -> str:
    return _UNSAFE.sub("", text) if _UNSAFE.search(text) else text


def clean_inbound(ev: Inbound) -> Inbound:
    """The event with every text field cleaned (the same object when nothing needed it)."""
    fields = {name: getattr(ev, name) for name in (
        "event_id", "user_id", "chat_id", "text", "args", "display_name")}
    dirty = {name: clean(value) for name, value in fields.items() if _UNSAFE.search(value)}
    return replace(ev, **dirty) if dirty else ev


def parse_id(text: str) -> int | None:
    """A positive id typed or sent by the user, or None when it cannot be one."""
    text = text.strip()
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
