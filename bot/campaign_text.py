"""A campaign message for one recipient: the owner's text as written (HTML-escaped), its
placeholders filled with that recipient's live figures, and how to stop such messages.

Placeholders (Vietnamese, or their English aliases):

| placeholder | alias | value |
|---|---|---|
| `{ten}` | `{name}` | the recipient's name |
| `{donvi}` | `{unit}` | the recipient's union |
| `{songayconlai}` | `{days_left}` | days left to the campaign's (or the phase's) end |
| `{phantram}` | `{pct}` | % of the union's main target reached |
| `{conthieu}` | `{shortfall}` | initiatives still needed to reach it |
| `{hang}` | `{rank}` | the union's rank among its siblings |

Anything else in braces is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.formatting import esc, name_case, number, percent
from bot.i18n import Gettext

PLACEHOLDERS = {
    "ten": "name", "donvi": "unit", "songayconlai": "days_left", "phantram": "pct",
    "conthieu": "shortfall", "hang": "rank",
}
ALIASES = {**PLACEHOLDERS, **{v: v for v in PLACEHOLDERS.values()}}
_FIELD = re.compile(r"\{([a-z_]+)\}")
FIGURES = frozenset({"pct", "shortfall", "rank"})   # read from the progress figures
TEXT_MAX = 1500   # Zalo takes 2,000 characters: room for the header, figures and the footer
MISSING = "–"


def fields_used(text: str) -> frozenset[str]:
    """The canonical names of the placeholders `text` uses."""
    return frozenset(ALIASES[m] for m in _FIELD.findall(text) if m in ALIASES)


@dataclass(frozen=True, slots=True)
class UnitFigures:
    """The figures a message may quote for one union (None: not known)."""

    pct: float | None = None
    shortfall: int | None = None
    rank: int | None = None


def fill(text: str, values: Mapping[str, str]) -> str:
    """Escape `text`, then put the (escaped) values in its placeholders."""

    def one(m: re.Match[str]) -> str:
        name = ALIASES.get(m.group(1))
        return esc(values.get(name, MISSING)) if name else m.group(0)

    return _FIELD.sub(one, esc(text))


def values_for(*, locale: str, name: str, unit: str, days_left: int | None,
               figures: UnitFigures | None, used: frozenset[str] | None = None
               ) -> dict[str, str]:
    """The placeholders' values (only those in `used`, when given)."""
    f = figures or UnitFigures()
    out: dict[str, str] = {}
    if used is None or "name" in used:
        out["name"] = name_case(name) if name else MISSING
    if used is None or "unit" in used:
        out["unit"] = unit or MISSING
    if used is None or "days_left" in used:
        out["days_left"] = number(days_left, locale) if days_left is not None else MISSING
    if used is None or "pct" in used:
        out["pct"] = percent(f.pct, locale) if f.pct is not None else MISSING
    if used is None or "shortfall" in used:
        out["shortfall"] = number(f.shortfall, locale) if f.shortfall is not None else MISSING
    if used is None or "rank" in used:
        out["rank"] = number(f.rank, locale) if f.rank is not None else MISSING
    return out


class Template:
    """One campaign's text, escaped once; `fill` puts a recipient's values in, in one pass
    (a value that looks like a placeholder stays as it is). `framed` fills everything but the
    name once (for a union and a language), so that each recipient costs a join."""

    def __init__(self, text: str) -> None:
        self.escaped = esc(text)
        self.used = fields_used(text)
        tokens = sorted({m.group(0) for m in _FIELD.finditer(self.escaped)
                         if m.group(1) in ALIASES})
        # literal, placeholder, literal, …, literal
        self._parts = (re.split("(" + "|".join(map(re.escape, tokens)) + ")", self.escaped)
                       if tokens else [self.escaped])

    def fill(self, values: Mapping[str, str]) -> str:
        return self.framed(values).fill(values.get("name", MISSING))

    def framed(self, values: Mapping[str, str], *, head: str = "", foot: str = "") -> Framed:
        """The message between `head` and `foot` with every placeholder but the name filled
        with its (escaped) value from `values`."""
        parts = [head, *self._parts, foot]
        names = []
        for i in range(2, len(parts) - 1, 2):
            field_ = ALIASES[parts[i][1:-1]]
            if field_ == "name":
                names.append(i)
            else:
                parts[i] = esc(values.get(field_, MISSING))
        if not names:
            return Framed(["".join(parts)], ())
        return Framed(parts, tuple(names))


class Framed:
    """A message with only its name placeholders left: `fill(name)` (not escaped yet)."""

    __slots__ = ("parts", "names")

    def __init__(self, parts: list[str], names: tuple[int, ...]) -> None:
        self.parts, self.names = parts, names

    def around(self) -> list[str]:
        """The message's text between its names: `fill(name)` is `esc(name).join(around())`
        (the database joins them so: `storage.campaigns.queue_campaign`)."""
        if not self.names:
            return [self.parts[0]]
        out, start = [], 0
        for i in self.names:
            out.append("".join(self.parts[start:i]))
            start = i + 1
        out.append("".join(self.parts[start:]))
        return out

    def fill(self, name: str) -> str:
        if not self.names:
            return self.parts[0]
        parts = self.parts.copy()
        value = esc(name)
        for i in self.names:
            parts[i] = value
        return "".join(parts)


def footer(_: Gettext) -> str:
    return _("To stop campaign messages, type /tatthongbao (review alerts still come).")


def message(_: Gettext, *, sender: str, body: str) -> str:
    """The whole message: who sends it, the body (HTML, already escaped), how to stop."""
    return f"📣 <b>{esc(sender)}</b>\n{body}\n\n<i>{footer(_)}</i>"
