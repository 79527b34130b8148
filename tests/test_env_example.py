"""`.env.example` documents every setting (bot/config.py)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def test_every_setting_is_in_the_example() -> None:
    written = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(encoding="utf-8"),
                             re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} - written == set()
