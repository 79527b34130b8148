"""Odd and hostile input never reaches the user as "something went wrong", on SQLite and on
PostgreSQL: look-alike digits, ids too large for any column, NUL and lone surrogates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core import Core
from bot.i18n import SUPPORTED_LOCALES, gettext_for
from bot.inputs import clean, parse_id
from storage.models import draft_t, person_t
from tests.driver import Chat
from tests.test_flow import rows

# The apology for an unhandled error, in both languages (lower case, as compared).
APOLOGY = "Sorry, something went wrong on our side. What you had saved is safe; please try " \
          "again in a moment."
SORRIES = [gettext_for(locale)(APOLOGY)[:30].lower() for locale in SUPPORTED_LOCALES]


def failed(seen: str) -> bool:
    return any(s in seen.lower() for s in SORRIES)


@pytest.mark.parametrize("text", ["²", "①", "¹", "٣", "00", "2147483648", "9" * 20, " 7 "])
def test_parse_id_reads_only_ascii_ids_a_column_can_hold(text: str) -> None:
    assert parse_id(text) == (7 if text.strip() == "7" else None)


def test_clean_drops_nul_controls_and_lone_surrogates() -> None:
    assert clean("Tiết\x00 kiệm\x07 điện\ud800\n\ttab") == "Tiết kiệm điện\n\ttab"
    assert clean("ok") == "ok"


async def test_look_alike_digits_and_huge_ids_are_not_found(core: Core) -> None:
    chat = Chat(core)
    await chat.say("/start")
    for text in ("²", "①", "/xem ²", "/xem 99999999999999999999", "/rut " + "9" * 20,
                 "/hople ¹", "/xem " + "1" * 57):
        seen = await chat.say(text)
        assert not failed(seen), (text, seen)
    for token in ("a:view:¹", "a:view:" + "9" * 57, "a:valid:²", "¹.0", "1.²",
                  "9" * 30 + ".0", "1." + "9" * 30):
        seen = chat.text_of(await chat.event("choice", token))
        assert not failed(seen), (token, seen)


async def test_nul_and_lone_surrogates_are_dropped_not_fatal(core: Core) -> None:
    chat = Chat(core)
    await chat.say("/start BPC-PR-001\x00")
    for text in ("/xem SK-\x00", "/sangkien"):
        assert not failed(await chat.say(text))
    seen = await chat.say("Cải tiến\x00 máy hàn\ud800 tự động")
    assert not failed(seen) and "Cải tiến máy hàn tự động" in seen
    [draft] = await rows(core, select(draft_t))
    assert draft["title"] == "Cải tiến máy hàn tự động"


async def test_a_nul_in_the_display_name_is_dropped(core: Core) -> None:
    from bot.events import Inbound

    out = await core.handle(Inbound("telegram", "n1", "42", "42", "command", text="start",
                                    display_name="Nguyễn\x00 Văn A\ud83d"))
    assert not failed(" ".join(r.text for r in out.replies))
    [person] = await rows(core, select(person_t))
    assert person["name"] == "Nguyễn Văn A"
