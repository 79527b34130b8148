"""Catalog chores after `scripts/i18n`:

    python scripts/po_tool.py todo          # vi entries untranslated or fuzzy, as JSON
    python scripts/po_tool.py fill FILE     # apply {"msgid": "bản dịch", …} to vi (clears fuzzy)
    python scripts/po_tool.py en            # en: msgstr = msgid everywhere, no fuzzy

Plural entries are keyed by the singular msgid and take a list of forms.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent.parent / "locales"


def _path(locale: str) -> Path:
    return LOCALES / locale / "LC_MESSAGES" / "messages.po"


def _load(locale: str):  # noqa: ANN202
    with _path(locale).open("rb") as fp:
        return read_po(fp, locale=locale)


def _save(locale: str, catalog) -> None:  # noqa: ANN001
    with _path(locale).open("wb") as fp:
        write_po(fp, catalog, width=0, sort_by_file=True)


def _key(message) -> str:  # noqa: ANN001
    return message.id[0] if isinstance(message.id, tuple) else message.id


def todo() -> None:
    out = {}
    for m in _load("vi"):
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy or not all(strings):
            out[_key(m)] = "" if not isinstance(m.id, tuple) else ["", ""]
    print(json.dumps(out, ensure_ascii=False, indent=1))


def fill(path: str) -> None:
    wanted = json.loads(Path(path).read_text(encoding="utf-8"))
    catalog = _load("vi")
    done = 0
    for m in catalog:
        if m.id and _key(m) in wanted:
            value = wanted[_key(m)]
            m.string = tuple(value) if isinstance(m.id, tuple) else value
            m.flags.discard("fuzzy")
            done += 1
    _save("vi", catalog)
    print(f"filled {done} of {len(wanted)}")


def english() -> None:
    catalog = _load("en")
    for m in catalog:
        if m.id:
            m.string = m.id
            m.flags.discard("fuzzy")
    _save("en", catalog)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "todo"
    {"todo": todo, "en": english}.get(command, lambda: fill(sys.argv[2]))()
