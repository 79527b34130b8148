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


PERCENT_PATTERN = "#,##0.#"   # one decimal at most: 40%, 62,5%, 351,4%


def percent(pct: float | None, locale: str) -> str:
    """40 → "40%", 351.43 → "351,4%" (vi); None → "–". The one rule for a percentage shown
    anywhere: Babel rounds it (no Python round() before), so a bar, a forecast and a campaign
    message show the same figure for the same number."""
    if pct is None:
        return "–"
    return format_decimal(pct, format=PERCENT_PATTERN, locale=locale) + "%"


# Dates are written day first in both languages, with a four-digit year, as people here
# write them (Babel's short English pattern would say 3/15/23).
DATETIME_PATTERN = "dd/MM/yyyy HH:mm"
DATE_PATTERN = "dd/MM/yyyy"


def local_datetime(moment: datetime, locale: str) -> str:
    """A stored timestamp (UTC) shown in Vietnam's time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment, DATETIME_PATTERN, tzinfo=TIMEZONE, locale=locale)


def name_case(name: str) -> str:
    """A person's name as shown: each word starting with a capital, as Vietnamese names are
    written ("nguyễn văn a" typed → "Nguyễn Văn A"); stored as typed."""
    return " ".join(w[:1].upper() + w[1:] if w[:1].islower() else w for w in name.split(" "))


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


_HTML_TOKEN = re.compile(r"<(/?)([a-zA-Z]+)[^>]*>|&(?:#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_WORD = re.compile(r"[^\s]*\s*|\s+")


def _width(text: str) -> int:
    """What Telegram counts: UTF-16 code units of the visible text."""
    return len(text.encode("utf-16-le")) // 2


def _units(text: str, limit: int) -> list[tuple[str, int, str]]:
    """HTML as (raw, visible width, kind) units: tags (kind "open"/"close", width 0), entities
    (width 1) and words with their trailing spaces (a word wider than `limit` in pieces)."""
    out: list[tuple[str, int, str]] = []

    def words(chunk: str) -> None:
        for w in _WORD.findall(chunk):
            while w:
                piece = w[:limit]
                while _width(piece) > limit:   # characters outside the BMP count twice
                    piece = piece[:len(piece) // 2 or 1]
                out.append((piece, _width(piece), "text"))
                w = w[len(piece):]

    pos = 0
    for m in _HTML_TOKEN.finditer(text):
        words(text[pos:m.start()])
        if m.group(2):
            out.append((m.group(0), 0, "close" if m.group(1) else "open"))
        else:
            out.append((m.group(0), 1, "entity"))
        pos = m.end()
    words(text[pos:])
    return out


def split_html(text: str, limit: int) -> list[str]:
    """Split an HTML reply so that each part shows at most `limit` characters (as Telegram
    counts them, after parsing). Parts break after a line if they can, else after a word,
    never inside a tag or an entity ("&amp;" stays whole); a tag open at a break is closed
    at the end of the part and opened again at the start of the next."""
    if _width(text) <= limit:
        return [text]
    units = _units(text, limit)
    parts: list[str] = []
    carried: list[str] = []          # open tags carried into the part being built
    buf: list[tuple[str, int, str]] = []
    width = 0

    def cut_at() -> int:
        """Where to end the part: after its last line, else its last word, else here (a
        line or word that would leave the part less than half full does not count)."""
        seen = 0
        best_line = best_space = 0
        for i, (raw, w, kind) in enumerate(buf):
            seen += w
            if kind == "text" and raw.endswith("\n") and seen >= limit // 2:
                best_line = i + 1
            elif kind == "text" and raw[-1:].isspace() and seen >= limit // 2:
                best_space = i + 1
        return best_line or best_space or len(buf)

    def flush(n: int) -> None:
        nonlocal carried, buf, width
        head, buf = buf[:n], buf[n:]
        stack = list(carried)
        for raw, _w, kind in head:
            if kind == "open":
                stack.append(raw)
            elif kind == "close" and stack:
                stack.pop()
        body = "".join(carried) + "".join(raw for raw, _w, _k in head)
        closing = "".join(f"</{_HTML_TOKEN.match(t)[2]}>" for t in reversed(stack))
        parts.append(body.rstrip() + closing)
        carried = stack
        while buf and buf[0][2] == "text" and not buf[0][0].strip():
            buf.pop(0)
        width = sum(w for _r, w, _k in buf)

    for unit in units:
        buf.append(unit)
        width += unit[1]
        while width > limit:
            n = cut_at()
            if n == len(buf):   # the unit just added does not fit: it starts the next part
                n -= 1
            flush(max(n, 1))
    if buf:
        flush(len(buf))
    return [p for p in parts if p.strip()] or [text[:limit]]


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
