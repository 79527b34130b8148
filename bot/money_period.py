"""The period typed with a benefit value: "200tr/năm", "hằng tháng 20 triệu", "500k/ngày".

`bot.money` finds the phrase at either end of its tokens and asks `period_of` what it says. The
programme sums yearly figures, so a year or a month is read and any "other" period is refused:
a day, a week or a shift does not say how many of them make a year.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

PeriodKind = Literal["year", "month", "other"]


class Token(Protocol):
    """A token of folded text (lower case, no accents, đ -> d), as `bot.money` makes them."""

    @property
    def kind(self) -> str: ...  # "num", "word", "slash" (/)…

    @property
    def text(self) -> str: ...


_UNITS: dict[str, PeriodKind] = {
    **dict.fromkeys(("nam", "year"), "year"),  # năm
    **dict.fromkeys(("thang", "th", "month"), "month"),  # tháng, "20tr/th"
    # ngày, tuần, quý, ca (a shift), giờ and tiếng (an hour)
    **dict.fromkeys("ngay day tuan week quy quarter ca shift gio tieng hour".split(), "other"),
}
_ADVERBS: dict[str, PeriodKind] = {
    **dict.fromkeys(("yearly", "annually"), "year"),
    "monthly": "month",
    **dict.fromkeys(("daily", "weekly", "quarterly", "hourly"), "other"),
}
# mỗi/mọi, hàng/hằng, cả ("cả năm": the whole year), trong ("trong 1 năm": in one year).
_HEADS = frozenset({"/", "moi", "hang", "ca", "trong", "per", "a", "every", "each"})
_ONE = frozenset({"1", "mot"})  # một: "200 triệu một năm"


def period_of(phrase: Sequence[Token]) -> PeriodKind | None:
    """What "monthly", "/năm", "mỗi tháng", "một năm", "mỗi 2 năm" say; None if no period.

    A unit needs a head ("/", "mỗi"…) or a count before it: a bare "năm" is also "five".
    """
    *marks, last = phrase
    if last.kind != "word":
        return None
    if not marks:
        return _ADVERBS.get(last.text)
    kind = _UNITS.get(last.text)
    if kind and (marks[-1].kind == "num" or marks[-1].text in _ONE):  # "1 năm", "6 tháng"
        kind = kind if marks.pop().text in _ONE else "other"
    if kind and marks and marks[0].kind in ("word", "slash") and marks[0].text in _HEADS:
        marks.pop()
    return None if marks else kind
