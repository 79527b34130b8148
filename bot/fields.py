"""Fields (lĩnh vực) of initiatives: a configurable list, labelled in each language.

The defaults are the 2021 drive's (bot/data/fields.csv); the `SANGKIEN_FIELDS_FILE` setting
points at another file with the same columns (code, vi, en).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

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
