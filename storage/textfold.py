"""Accent folding and search terms for Vietnamese union names.

"LĐLĐ huyện Phú Riềng" and "liên đoàn lao động huyen phu rieng" must meet: both are folded to
ASCII lower case, and the usual long forms are folded to their abbreviations
("liên đoàn lao động" → "ldld", "công đoàn" → "cd"), so either spelling finds the other.
"""

from __future__ import annotations

import re
import unicodedata

# Longest first: "cong doan co so" must win over "cong doan".
_PHRASES: tuple[tuple[str, str], ...] = (
    ("lien doan lao dong", "ldld"),
    ("cong doan co so", "cdcs"),
    ("cong doan", "cd"),
    ("khu cong nghiep", "kcn"),
    ("khu kinh te", "kkt"),
    ("uy ban nhan dan", "ubnd"),
    ("trach nhiem huu han", "tnhh"),
    ("thanh pho", "tp"),
    ("trung hoc co so", "thcs"),
    ("trung hoc pho thong", "thpt"),
)
_PHRASE_RE = re.compile(r"\b(" + "|".join(p for p, _ in _PHRASES) + r")\b")
_PHRASE_MAP = dict(_PHRASES)
_NON_WORD = re.compile(r"[^a-z0-9]+")
MAX_TERM = 64


def _fold_table() -> dict[int, str | None]:
    """Latin letters with diacritics → their ASCII base; combining marks → nothing."""
    table: dict[int, str | None] = {ord("đ"): "d", ord("Đ"): "D"}
    for cp in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        c = chr(cp)
        base = "".join(x for x in unicodedata.normalize("NFD", c) if not unicodedata.combining(x))
        if base != c and base.isascii():
            table[cp] = base
    for cp in range(0x300, 0x370):
        table[cp] = None
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Lower-case ASCII without diacritics; đ → d; punctuation becomes spaces."""
    stripped = text.translate(_FOLD)   # Vietnamese text: one C-level pass
    if not stripped.isascii():         # anything else: decompose and drop the marks
        decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", stripped.lower()).split())


def fold_phrases(text: str) -> str:
    """`fold`, then long forms replaced by their abbreviations."""
    return _PHRASE_RE.sub(lambda m: _PHRASE_MAP[m.group(1)], fold(text))


def terms(text: str) -> list[str]:
    """Distinct search terms of a name, in order of appearance."""
    seen: dict[str, None] = {}
    for word in fold_phrases(text).split():
        seen.setdefault(word[:MAX_TERM], None)
    return list(seen)
