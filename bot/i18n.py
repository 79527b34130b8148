"""Gettext catalogs from `locales/`, chosen per user.

Catalogs are compiled from the `.po` files on first use when no up-to-date `.mo` is present,
so a fresh checkout works without a build step.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SUPPORTED_LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where the locale is known."""
    return message


def normalise_locale(code: str | None, default: str = DEFAULT_LOCALE) -> str:
    if not code:
        return default
    base = code.replace("-", "_").split("_")[0].lower()
    return base if base in SUPPORTED_LOCALES else default


@cache
def translations(locale: str) -> gettext.NullTranslations:
    po = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and po.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_for(locale: str) -> Gettext:
    return translations(normalise_locale(locale)).gettext
