"""Fields (lĩnh vực) of initiatives: a configurable list, labelled in each language.

The defaults are the 2021 drive's (bot/data/fields.csv); the `SANGKIEN_FIELDS_FILE` setting
points at another file with the same columns (code, vi, en).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from storage.textfold import fold

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "fields.csv"
_source = [DEFAULT_FILE]


def use_file(path: Path | None) -> None:
    """Read the fields from `path` (None: the defaults) from now on."""
    _source[0] = path or DEFAULT_FILE
    fields.cache_clear()


@cache
def fields() -> dict[str, dict[str, str]]:
    with _source[0].open(encoding="utf-8-sig", newline="") as fp:
        return {r["code"]: {"vi": r["vi"], "en": r["en"]} for r in csv.DictReader(fp)}


def field_label(code: str | None, locale: str) -> str | None:
    if code is None:
        return None
    names = fields().get(code)
    return (names.get(locale) or names["vi"]) if names else code


def field_code_of(typed: str) -> str:
    """A field as a file gives it — its code, or its label in either language, accents
    optional, or the start of one ("san xuat") — as its code; anything else as typed."""
    wanted = fold(typed)
    if not wanted:
        return typed
    found = set()
    for code, names in fields().items():
        labels = [fold(code), *(fold(name) for name in names.values())]
        if wanted in labels:
            return code
        if any(label.startswith(wanted) for label in labels):
            found.add(code)
    return found.pop() if len(found) == 1 else typed
