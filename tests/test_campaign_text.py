"""A campaign message written per recipient the fast way (framed once per union and
language, then the name) reads exactly as the plain way (`campaign_text.fill`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import campaign_text as ct
from bot.campaign_scheduler import _name
from bot.formatting import esc, name_case

WORDS = st.sampled_from(["{ten}", "{name}", "{donvi}", "{unit}", "{hang}", "{phantram}",
                         "{songayconlai}", "{x}", "{", "}", "<b>", "&", " ", "Chào", "đ"])
NAMES = st.text(alphabet=st.sampled_from("aAđĐễỄ -1{}<&"), max_size=20)


@given(parts=st.lists(WORDS, max_size=12), name=NAMES, unit=NAMES)
def test_framed_reads_as_fill(parts: list[str], name: str, unit: str) -> None:
    text = "".join(parts)
    figures = ct.UnitFigures(pct=41.6, shortfall=3, rank=2)
    values = ct.values_for(locale="vi", name=name, unit=unit, days_left=5, figures=figures)
    others = ct.values_for(locale="vi", name="", unit=unit, days_left=5, figures=figures,
                           used=ct.fields_used(text) - {"name"})
    framed = ct.Template(text).framed(others, head="H<", foot=">F")
    assert framed.fill(values["name"]) == "H<" + ct.fill(text, values) + ">F"
    # …and as the database writes it: the text around the names, joined by the name
    assert esc(values["name"]).join(framed.around()) == framed.fill(values["name"])


@given(name=NAMES)
def test_names_are_cased_as_everywhere(name: str) -> None:
    assert _name(name) == (name_case(name) if name else ct.MISSING)
