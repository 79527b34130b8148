"""Fields (lĩnh vực) of initiatives: a configurable list, labelled in each language.

The defaults are the 2021 drive's (bot/data/fields.csv); `SANGKIEN_FIELDS_FILE` points at
another file with the same columns (code, vi, en).
"""

from __future__ import annotations

import csv
import os
from functools import cache
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "fields.csv"


@cache
def fields() -> dict[str, dict[str, str]]:
    path = Path(os.environ.get("SANGKIEN_FIELDS_FILE") or DEFAULT_FILE)
    with path.open(encoding="utf-8-sig", newline="") as fp:
        return {r["code"]: {"vi": r["vi"], "en": r["en"]} for r in csv.DictReader(fp)}


def field_label(code: str | None, locale: str) -> str | None:
    if code is None:
        return None
    names = fields().get(code)
    return (names.get(locale) or names["vi"]) if names else code
