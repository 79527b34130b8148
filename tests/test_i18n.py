"""The message catalogs: complete for the current source, consistent, and loadable.

The msgids are extracted from `bot/` and `handlers/` in-process, the same way `scripts/i18n`
does it, so a new `_()` / `N_()` string without a translation fails here with its text.
"""

from __future__ import annotations

import gettext
import io
import re
from collections import Counter
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import DEFAULT_LOCALE, LOCALES_DIR, SUPPORTED_LOCALES, gettext_for, translations

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("bot", "handlers")
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
METHOD_MAP = [("**.py", "python")]

_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")
_COMMAND = re.compile(r"(?<![\w/<])/[a-z]+\b")  # /sangkien, not </b>
_QUOTES = "«»"

MsgId = str | tuple[str, ...]


def _key(msgid: MsgId) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def _extracted() -> dict[str, tuple[MsgId, list[str]]]:
    """Every msgid in the source: key → (msgid or (singular, plural), ["file:line", ...])."""
    found: dict[str, tuple[MsgId, list[str]]] = {}
    for folder in SOURCE_DIRS:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=METHOD_MAP, keywords=KEYWORDS, strip_comment_tags=True
        ):
            if isinstance(message, tuple):
                message = tuple(m for m in message if m is not None)
            if not message:
                continue
            where = f"{folder}/{filename}:{lineno}"
            found.setdefault(_key(message), (message, []))[1].append(where)
    return found


SOURCE = _extracted()


def _po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"


def _catalog(locale: str) -> Catalog:
    with _po_path(locale).open("rb") as fp:
        return read_po(fp, locale=locale, abort_invalid=True)


def _messages(catalog: Catalog) -> list[Message]:
    """The live (non-obsolete) entries, header excluded."""
    return [m for m in catalog if m.id]


def _strings(message: Message) -> list[str]:
    s = message.string
    return list(s) if isinstance(s, tuple | list) else [s or ""]


def _ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


def _placeholders(text: str) -> set[str]:
    fields = set()
    for _literal, field, spec, conversion in Formatter().parse(text):
        if field is not None:
            fields.add("{" + field + (f"!{conversion}" if conversion else "")
                       + (f":{spec}" if spec else "") + "}")
    return fields


def _tags(text: str) -> list[str]:
    return [m.group(0) for m in _TAG.finditer(text)]


def _unbalanced(tags: list[str]) -> str | None:
    stack: list[str] = []
    for tag in tags:
        name = _TAG.match(tag).group(1).lower()  # type: ignore[union-attr]
        if tag.startswith("</"):
            if not stack or stack.pop() != name:
                return tag
        else:
            stack.append(name)
    return f"<{stack[-1]}> not closed" if stack else None


def test_source_has_messages() -> None:
    # Guards the guard: an extraction that finds nothing would make every check below vacuous.
    assert len(SOURCE) > 50
    assert "Submit" in SOURCE and "under review" in SOURCE  # a _() and an N_() string


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_source_message_is_translated(locale: str) -> None:
    catalog = _catalog(locale)
    problems = []
    for key, (msgid, where) in sorted(SOURCE.items(), key=lambda kv: kv[1][1][0]):
        entry = catalog.get(key)
        if entry is None:
            problems.append(f"missing   {where[0]}: {msgid!r}")
        elif isinstance(msgid, tuple) and not isinstance(entry.id, tuple):
            problems.append(f"no plural {where[0]}: {msgid!r}")
        elif not all(s.strip() for s in _strings(entry)):
            problems.append(f"empty     {where[0]}: {msgid!r}")
    assert not problems, (
        f"{len(problems)} source message(s) not translated in {_po_path(locale)} "
        "(run `bash scripts/i18n`, then translate):\n" + "\n".join(problems))


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_no_fuzzy_or_empty_entries(locale: str) -> None:
    catalog = _catalog(locale)
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    fuzzy = [m.id for m in _messages(catalog) if m.fuzzy]
    empty = [m.id for m in _messages(catalog) if not all(s.strip() for s in _strings(m))]
    assert not fuzzy, f"fuzzy entries in {locale} (review them, then drop the flag): {fuzzy}"
    assert not empty, f"empty translations in {locale}: {empty}"


def test_english_catalog_is_the_source_text() -> None:
    differs = [m.id for m in _messages(_catalog("en")) if _strings(m) != _ids(m)]
    assert not differs, f"en msgstr should equal the msgid: {differs}"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_translations_keep_placeholders_markup_quotes_and_commands(locale: str) -> None:
    problems = []
    for m in _messages(_catalog(locale)):
        ids = _ids(m)
        for text in _strings(m):
            if not text:
                continue
            label = f"{ids[0]!r} → {text!r}"
            try:
                want = set().union(*(_placeholders(i) for i in ids))
                got = _placeholders(text)
            except ValueError as exc:
                problems.append(f"bad braces ({exc}): {label}")
                continue
            if got != want:
                problems.append(f"placeholders {sorted(got)} ≠ {sorted(want)}: {label}")
            if _tags(text) != _tags(ids[0]):
                problems.append(f"tags {_tags(text)} ≠ {_tags(ids[0])}: {label}")
            elif (bad := _unbalanced(_tags(text))) is not None:
                problems.append(f"unbalanced HTML ({bad}): {label}")
            counts = Counter(c for c in text if c in _QUOTES)
            if counts != Counter(c for c in ids[0] if c in _QUOTES):
                problems.append(f"«» quotes changed: {label}")
            missing = set(_COMMAND.findall(ids[0])) - set(_COMMAND.findall(text))
            if missing:
                problems.append(f"commands {sorted(missing)} translated or lost: {label}")
    assert not problems, f"{len(problems)} problem(s) in {locale}:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_compiles(locale: str) -> None:
    catalog = _catalog(locale)
    errors = [(m.id, [str(e) for e in errs]) for m, errs in catalog.check() if errs]
    assert not errors, errors
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    compiled = gettext.GNUTranslations(buf)
    assert compiled.info().get("content-type", "").lower().endswith("charset=utf-8")
    lost = [m.id for m in _messages(catalog)
            if isinstance(m.id, str) and compiled.gettext(m.id) != m.string]
    assert not lost, f"left out of the compiled {locale} catalog (fuzzy?): {lost}"


def test_runtime_lookup_uses_the_catalogs() -> None:
    vi = {m.id: m.string for m in _messages(_catalog("vi")) if isinstance(m.id, str)}
    assert vi["Submit"] and vi["Submit"] != "Submit"
    assert gettext_for("vi")("Submit") == vi["Submit"]
    assert gettext_for("en")("Submit") == "Submit"
    assert gettext_for("en-US")("Submit") == "Submit"
    assert gettext_for("vi_VN")("Submit") == vi["Submit"]
    for unknown in ("fr", "xx-YY", ""):
        assert gettext_for(unknown)("Submit") == vi["Submit"], unknown
    assert DEFAULT_LOCALE == "vi"
    # Every vi entry is served as written (nothing dropped when compiled in memory or from .mo).
    translations.cache_clear()
    lookup = gettext_for("vi")
    wrong = [k for k, v in vi.items() if lookup(k) != v]
    assert not wrong, f"served differently from the .po: {wrong}"
