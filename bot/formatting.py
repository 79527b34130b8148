"""Money, numbers, dates and HTML: formatted by Babel for the user's locale."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal

from bot.events import Outcome, Reply
from bot.i18n import N_, gettext_for

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


def merge_replies(replies: Sequence[Reply], limit: int) -> list[Reply]:
    """The replies as few messages: a reply without options is joined, after a blank line, to
    the reply that follows it, while the message's text stays within `limit` characters
    ("Saved: …" and the next question arrive as one message). A
    reply with options ends its message, since the options belong under its text, and a
    `separate` reply (a code to forward) stays alone. Fewer messages: one notification on the
    phone instead of two or three, and fewer calls to a rate-limited API."""
    out: list[Reply] = []
    for reply in replies:
        if out and _joins(out[-1], reply) and len(out[-1].text) + 2 + len(reply.text) <= limit:
            reply = replace(reply, text=f"{out.pop().text}\n\n{reply.text}")
        out.append(reply)
    return out


def _joins(first: Reply, then: Reply) -> bool:
    return not (first.options or first.separate or then.separate)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Closes a numbered list where there are no buttons (Zalo, the terminal).
HINT = N_("(Reply with a number, or type your answer.)")


def plain_blocks(outcome: Outcome, *, indent: str = "", limit: int = 4096) -> list[str]:
    """An outcome for channels without markup or buttons: the toast (a stale-button notice
    can only be said), then each message (joined as `merge_replies` does, up to `limit`
    characters with the options) as plain text with its options listed under it.

    An option that carries a command (in messages the bot sends on its own) is answered by
    typing it; the others by their number, which is their position in the core's menu, so
    the numbering keeps counting past a command option."""
    _ = gettext_for(outcome.locale)

    def block(reply: Reply) -> str:
        lines = [html_to_plain(reply.text)]
        for i, opt in enumerate(reply.options, 1):
            lines.append(f"{indent}• {opt.label}: {opt.command}" if opt.command
                         else f"{indent}{i}. {opt.label}")
        if any(not opt.command for opt in reply.options):
            lines.append(_(HINT))
        return "\n".join(lines)

    blocks = [outcome.toast] if outcome.toast else []
    # Each reply drawn once, options included, so the limit counts what is sent; only
    # replies without options are joined, and their plain text joins as their HTML does.
    drawn = [replace(r, text=block(r)) for r in outcome.replies]
    blocks += [r.text for r in merge_replies(drawn, limit)]
    return blocks
