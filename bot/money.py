"""Parse an initiative's benefit value (giá trị làm lợi) typed the way Vietnamese people type money.

Accepted, case- and accent-insensitively: plain numbers with "." / "," / space grouping
("15.000.000", "15,000,000", "15 000 000"), units ("500k", "200 triệu", "1,5 tỷ", "2 nghìn tỷ",
"5 trăm nghìn"), compounds ("1 tỷ 200 triệu", "1 triệu rưỡi"), a bare number after a unit as
the leading digits of the next lower group ("1tr5" and "1 triệu 5" = 1,5 triệu; "1 tỷ 25" and
"1 tỷ 250" = 1,25 tỷ), currency markers ("đ", "đồng", "VNĐ", "₫"), approximation prefixes
("khoảng 200 triệu"), and phrases saying the benefit cannot be put in money ("không",
"chưa tính được").

The benefit value the programme sums is per year. A period typed first or last
(`bot.money_period`) is read: per year ("200tr/năm", "mỗi năm 200 triệu") as the amount, per
month ("20tr/tháng", "hằng tháng 20 triệu") times 12; any other ("500k/ngày") is refused.

Everything is a single linear pass over the text: no regular expressions, so no backtracking, and
no `int()` on digit strings long enough to be slow or to hit Python's int-string limit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal, NamedTuple

from bot.money_period import PeriodKind, period_of

__all__ = [
    "MAX_BENEFIT_VND",
    "BenefitAmount",
    "BenefitError",
    "BenefitNotQuantifiable",
    "BenefitParse",
    "BenefitPeriod",
    "ErrorReason",
    "format_examples",
    "parse_benefit",
]

ErrorReason = Literal[
    "empty", "negative", "too_large", "ambiguous", "unreadable", "fraction_of_dong", "period"
]
BenefitPeriod = Literal["year", "month"]


@dataclass(frozen=True, slots=True)
class BenefitAmount:
    """An amount in whole đồng; with a period typed, `vnd` is the yearly figure."""

    vnd: int  # >= 0: what the programme sums
    period: BenefitPeriod | None = None  # the period typed with the amount, if any
    typed_vnd: int | None = None  # the amount as typed for that period; None without a period


@dataclass(frozen=True, slots=True)
class BenefitNotQuantifiable:
    pass


@dataclass(frozen=True, slots=True)
class BenefitError:
    reason: ErrorReason


BenefitParse = BenefitAmount | BenefitNotQuantifiable | BenefitError

MAX_BENEFIT_VND: int = 10**15  # 1 triệu tỷ; anything larger is absurd -> "too_large"

_EMPTY = BenefitError("empty")
_NEGATIVE = BenefitError("negative")
_TOO_LARGE = BenefitError("too_large")
_AMBIGUOUS = BenefitError("ambiguous")
_UNREADABLE = BenefitError("unreadable")
_FRACTION = BenefitError("fraction_of_dong")
_PERIOD = BenefitError("period")

_THOUSAND = 10**3
_MILLION = 10**6
_BILLION = 10**9

# Keys are accent-folded, lower case (see _fold).
_UNITS: dict[str, int] = {
    "k": _THOUSAND,
    "nghin": _THOUSAND,
    "ngan": _THOUSAND,
    "tr": _MILLION,
    "trieu": _MILLION,
    "ty": _BILLION,
    "ti": _BILLION,
    # As an English speaker writes it ("200 million", "1.5bn").
    "thousand": _THOUSAND, "million": _MILLION, "millions": _MILLION, "m": _MILLION,
    "mn": _MILLION, "billion": _BILLION, "billions": _BILLION, "bn": _BILLION,
}
_HUNDRED_WORD = "tram"  # trăm
_HALF_WORD = "ruoi"  # rưỡi: "1 triệu rưỡi" = 1,5 triệu
_NEGATIVE_WORD = "am"  # âm
_TRIEU_DONG = "trd"  # "trđ", the press abbreviation of "triệu đồng"
_CURRENCY_WORDS = frozenset({"dong", "d", "vnd"})
_DONG_SIGN = "₫"
_LEADING_CURRENCY = frozenset({"vnd", _DONG_SIGN})  # "VND 15,000,000", "₫15,000,000"
_APPROX_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("khoang",),
    ("tam",),
    ("uoc", "tinh"),
    ("du", "kien"),
    ("tren",),
    ("hon",),
    ("gan",),
    ("about",), ("around",), ("approximately",), ("roughly",), ("over",), ("nearly",),
)
_DIGITS = frozenset("0123456789")  # ASCII only: int() would also accept other scripts' digits
_DASHES = frozenset("-\u2212\u2013\u2014")  # hyphen, minus sign, en and em dash
_NUMBER_SEPARATORS = frozenset(".,")


def _not_quantifiable_phrases() -> frozenset[str]:
    """Folded ways of saying "cannot be put in money" (the union's forms allow that answer)."""
    phrases = {"khong", "khong co", "chua co", "n/a"}
    for head in ("khong", "chua", "khong the", "chua the"):
        for core in (
            "tinh",
            "tinh duoc",
            "xac dinh",
            "xac dinh duoc",
            "luong hoa",
            "luong hoa duoc",
        ):
            for tail in ("", " thanh tien"):
                phrases.add(f"{head} {core}{tail}")
    return frozenset(phrases)


_NOT_QUANTIFIABLE = _not_quantifiable_phrases()


def format_examples() -> list[str]:
    """Inputs to show in an error message, all accepted by `parse_benefit`."""
    return ["200 triệu", "1,5 tỷ", "500k", "15.000.000", "không tính được"]


class _Tok(NamedTuple):
    kind: str  # "num", "word", "dash" (-), "approx" (~), "sign" (₫), "slash" (/) or "colon"
    text: str
    glued: bool  # no whitespace before it: only spaced 3-digit groups join ("15 000 000")


class _Item(NamedTuple):
    """A classified token of the amount itself."""

    kind: str  # "num", "unit", "hundred" (trăm), "half" (rưỡi) or "dash"
    text: str
    unit: int = 0


def parse_benefit(text: str) -> BenefitParse:
    """Parse what a worker typed as the benefit value, in VND."""
    s = " ".join(unicodedata.normalize("NFC", text).split())  # also folds NBSP, tabs, newlines
    if not s:
        return _EMPTY
    if s.endswith("."):
        s = s[:-1].rstrip()
    folded = _fold(s)
    if folded in _NOT_QUANTIFIABLE:
        return BenefitNotQuantifiable()
    toks = _tokenize(folded)
    if toks is None:
        return _UNREADABLE
    start, end = _skip_approx_prefixes(toks, 0), len(toks)
    period: PeriodKind | None = None
    for size in (3, 2, 1):  # typed first: "mỗi năm 200 triệu", "hằng tháng: khoảng 20tr"
        if start + size <= end and (period := period_of(toks[start : start + size])):
            start += size
            if start < end and toks[start].kind == "colon":
                start += 1  # "Mỗi năm: 200 triệu"
            start = _skip_approx_prefixes(toks, start)
            break
    for size in (3, 2, 1):  # typed last: "200tr/năm", "20 triệu mỗi tháng"
        if end - size >= start and (last := period_of(toks[end - size : end])):
            if period:
                return _UNREADABLE  # "mỗi tháng 20tr/năm"
            period, end = last, end - size
            break
    amount = _parse_signed(toks[start:end])
    if period is None or not isinstance(amount, BenefitAmount):
        return amount  # an error in the amount is the first thing to fix
    if period == "other":
        return _PERIOD
    yearly = amount.vnd * (12 if period == "month" else 1)
    if yearly > MAX_BENEFIT_VND:
        return _TOO_LARGE
    return BenefitAmount(yearly, period=period, typed_vnd=amount.vnd)


def _parse_signed(toks: list[_Tok]) -> BenefitParse:
    """An amount with its sign, if any: a negative one is an error."""
    if toks and (
        toks[0].kind == "dash" or (toks[0].kind == "word" and toks[0].text == _NEGATIVE_WORD)
    ):
        rest = _parse_amount(toks[1:])
        if isinstance(rest, BenefitAmount):
            return rest if rest.vnd == 0 else _NEGATIVE  # "-0" is still zero
        if isinstance(rest, BenefitError) and rest.reason in (
            "ambiguous",
            "too_large",
            "fraction_of_dong",
        ):
            return _NEGATIVE  # a number was there; its sign is the first thing to fix
        return _UNREADABLE
    return _parse_amount(toks)


def _fold(s: str) -> str:
    """Lower case without diacritics, đ -> d, so "Tỷ", "tỉ", "ty" all read "ty"/"ti"."""
    decomposed = unicodedata.normalize("NFD", s.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("đ", "d")


def _tokenize(s: str) -> list[_Tok] | None:
    """Split folded text into numbers, words and symbols; None on any other character."""
    toks: list[_Tok] = []
    i, n = 0, len(s)
    spaced = True
    while i < n:
        c = s[i]
        if c == " ":
            spaced = True
            i += 1
            continue
        j = i + 1
        if c in _DIGITS:
            # A separator belongs to the number only when a digit follows it.
            while j < n:
                if s[j] in _DIGITS:
                    j += 1
                elif s[j] in _NUMBER_SEPARATORS and j + 1 < n and s[j + 1] in _DIGITS:
                    j += 2
                else:
                    break
            kind = "num"
        elif c.isalpha():
            while j < n and s[j].isalpha():
                j += 1
            kind = "word"
        elif c in _DASHES:
            kind = "dash"
        elif c == "~":
            kind = "approx"
        elif c == _DONG_SIGN:
            kind = "sign"
        elif c == "/":
            kind = "slash"
        elif c == ":":
            kind = "colon"
        else:
            return None
        toks.append(_Tok(kind, s[i:j], not spaced))
        spaced = False
        i = j
    return _merge_space_groups(toks)


def _merge_space_groups(toks: list[_Tok]) -> list[_Tok]:
    """Join "15 000 000" into one number: a 1–3 digit head followed by spaced 3-digit groups."""
    out: list[_Tok] = []
    parts: list[str] = []  # pending groups of the number being merged

    def flush() -> None:
        if parts:
            out[-1] = out[-1]._replace(text=" ".join(parts))
            parts.clear()

    for tok in toks:
        is_group = tok.kind == "num" and not tok.glued and len(tok.text) == 3 and tok.text.isdigit()
        if is_group and parts:
            parts.append(tok.text)
            continue
        if (
            is_group
            and out
            and out[-1].kind == "num"
            and out[-1].text.isdigit()
            and len(out[-1].text) <= 3
        ):
            parts.extend((out[-1].text, tok.text))
            continue
        flush()
        out.append(tok)
    flush()
    return out


def _skip_approx_prefixes(toks: list[_Tok], i: int) -> int:
    """Index of the first token from i on after "khoảng", "ước tính", "~" and the like."""
    while i < len(toks):
        if toks[i].kind == "approx":
            i += 1
            continue
        for prefix in _APPROX_PREFIXES:
            words = toks[i : i + len(prefix)]
            if len(words) == len(prefix) and all(
                t.kind == "word" and t.text == w for t, w in zip(words, prefix, strict=True)
            ):
                i += len(prefix)
                break
        else:
            return i
    return i


def _parse_amount(toks: list[_Tok]) -> BenefitParse:
    """An amount with its currency marker, if any; the sign and prefixes are already gone."""
    toks = list(toks)
    has_currency = False
    if toks and toks[0].text in _LEADING_CURRENCY:
        toks.pop(0)
        has_currency = True
    if toks and (
        toks[-1].kind == "sign" or (toks[-1].kind == "word" and toks[-1].text in _CURRENCY_WORDS)
    ):
        if has_currency:
            return _UNREADABLE  # "₫15.000 đ"
        toks.pop()
        has_currency = True
    items: list[_Item] = []
    for k, tok in enumerate(toks):
        if tok.kind in ("num", "dash"):
            items.append(_Item(tok.kind, tok.text))
        elif tok.kind != "word":
            return _UNREADABLE  # "~" or "₫" in the middle
        elif tok.text in _UNITS:
            items.append(_Item("unit", tok.text, _UNITS[tok.text]))
        elif tok.text == _HUNDRED_WORD:
            items.append(_Item("hundred", tok.text))
        elif tok.text == _HALF_WORD:
            items.append(_Item("half", tok.text))
        elif tok.text == _TRIEU_DONG and k == len(toks) - 1 and not has_currency:
            items.append(_Item("unit", tok.text, _MILLION))
            has_currency = True
        else:
            return _UNREADABLE
    for k, item in enumerate(items):
        if item.kind == "dash":
            # "100-200 triệu" is a range: a number is there, but which one?
            is_range = (
                0 < k < len(items) - 1
                and items[k - 1].kind in ("num", "unit")
                and items[k + 1].kind == "num"
            )
            return _AMBIGUOUS if is_range else _UNREADABLE
    return _parse_items(items, has_currency)


def _parse_items(items: list[_Item], has_currency: bool) -> BenefitParse:
    """Groups "NUMBER [trăm] UNIT" in descending units, then an optional colloquial tail."""
    if not items:
        return _UNREADABLE
    total = 0
    prev_unit = 0  # 0: no unit seen yet
    prev_decimal = False
    i, n = 0, len(items)
    while i < n:
        num = items[i]
        if num.kind != "num":
            return _UNREADABLE  # a unit with no number: "tỷ", "999999 tỷ tỷ"
        i += 1
        hundreds = i < n and items[i].kind == "hundred"
        if hundreds:
            i += 1
            if len(num.text) != 1 or num.text == "0":
                return _AMBIGUOUS  # "15 trăm", "1,5 trăm": not how anyone says it
        unit = 0
        if i < n and items[i].kind == "unit":
            unit = items[i].unit
            i += 1
            # "nghìn tỷ", "triệu tỷ" are single units in Vietnamese.
            if (
                i < n
                and items[i].kind == "unit"
                and items[i].unit == _BILLION
                and unit in (_THOUSAND, _MILLION)
            ):
                unit *= _BILLION
                i += 1

        if unit:
            if prev_unit and unit >= prev_unit:
                return _AMBIGUOUS  # "200 triệu 1 tỷ", "1 triệu 2 triệu"
            split = _split_number(num.text)
            if isinstance(split, BenefitError):
                return split
            value = _exact_vnd(*split, unit * (100 if hundreds else 1))
            if isinstance(value, BenefitError):
                return value
            if prev_unit and value >= prev_unit:
                return _AMBIGUOUS  # "1 tỷ 1500 triệu"
            total += value
            prev_unit = unit
            prev_decimal = bool(split[1])
            if i < n and items[i].kind == "half":
                i += 1
                if prev_decimal or hundreds or i < n:
                    return _AMBIGUOUS  # "1,5 triệu rưỡi", "1 tỷ rưỡi 200 triệu"
                total += unit // 2
            continue

        if i < n:
            return _AMBIGUOUS  # two numbers in a row: "200 50", "5 trăm 50"

        if not prev_unit:  # a plain number, no unit at all
            if hundreds:
                # "5 trăm" alone is often said for 500 nghìn; "5 trăm đồng" is explicit.
                if not has_currency:
                    return _AMBIGUOUS
                total = int(num.text) * 100
                break
            split = _split_number(num.text)
            if isinstance(split, BenefitError):
                return split
            if len(split[1]) >= 3:
                return _AMBIGUOUS  # "15,0000": a mistyped grouping more likely than decimals
            value = _exact_vnd(*split, 1)
            if isinstance(value, BenefitError):
                return value
            total = value
            break

        # Colloquial tail after a unit, spaced or glued alike: the leading digits of the next
        # lower group, as said aloud. "1tr5" = "1 triệu 5" = 1,5 triệu; "1 tỷ 25" = 1,25 tỷ;
        # "1 tỷ 200" = 1 tỷ 200 triệu.
        if has_currency or prev_decimal:
            return _AMBIGUOUS  # "1 tỷ 200 đồng": 200 triệu or 200 đồng? "1,5tr5": ?
        if hundreds:
            total += int(num.text) * 100 * (prev_unit // 1000)  # "1 triệu 2 trăm" = 1.200.000
        elif not num.text.isdigit() or len(num.text) > 3:
            return _AMBIGUOUS  # "1 tỷ 200.000", "2 triệu 5,5", "1 tỷ 2000"
        else:
            total += int(num.text) * prev_unit // 10 ** len(num.text)
        break
    if total > MAX_BENEFIT_VND:
        return _TOO_LARGE
    return BenefitAmount(total)


def _split_number(text: str) -> tuple[str, str] | BenefitError:
    """Integer and decimal digits of "15.000.000", "1,5", "1.500,5", "15 000 000".

    A separator before exactly three digits groups thousands; otherwise it is the decimal
    point. Both conventions ("1.500,5" and "1,500.5") are accepted when they are consistent.
    """
    segs: list[str] = []
    seps: list[str] = []
    start = 0
    for k, c in enumerate(text):
        if not c.isdigit():
            segs.append(text[start:k])
            seps.append(c)
            start = k + 1
    segs.append(text[start:])
    if not seps:
        return text, ""
    head, last = segs[0], segs[-1]
    head_groups = 1 <= len(head) <= 3 and not head.startswith("0")
    if len(set(seps)) == 1 and all(len(g) == 3 for g in segs[1:]):
        if head_groups:
            return "".join(segs), ""
        if len(seps) == 1 and head.startswith("0") and seps[0] != " ":
            return head, last  # "0,500 tỷ": a leading zero never starts a grouped number
        return _AMBIGUOUS  # "1500.000": 1500 or 1.500.000?
    if len(last) == 3 or seps[-1] == " ":
        return _AMBIGUOUS  # "1.500,000", "15,00,000"
    groups, group_seps = segs[:-1], seps[:-1]
    if group_seps and not (
        len(set(group_seps)) == 1
        and group_seps[0] != seps[-1]
        and head_groups
        and all(len(g) == 3 for g in groups[1:])
    ):
        return _AMBIGUOUS  # "1.50.000", "1.500.5", "1,000.000,5"
    return "".join(groups), last


def _exact_vnd(int_digits: str, frac_digits: str, multiplier: int) -> int | BenefitError:
    """int_digits.frac_digits × multiplier in whole đồng, computed exactly."""
    int_digits = int_digits.lstrip("0")
    frac_digits = frac_digits.rstrip("0")
    # 10**15 has 16 digits: more significant digits than that is too large whatever the unit.
    # Checking the length first keeps int() away from 500-digit strings.
    if len(int_digits) > 16 or int(int_digits or "0") * multiplier > MAX_BENEFIT_VND:
        return _TOO_LARGE
    # The largest multiplier is 10**17 (trăm triệu tỷ): more decimals can never be whole.
    if len(frac_digits) > 17:
        return _FRACTION
    scale = 10 ** len(frac_digits)
    whole, rest = divmod(int(int_digits + frac_digits or "0") * multiplier, scale)
    if whole > MAX_BENEFIT_VND:
        return _TOO_LARGE
    if rest:
        return _FRACTION
    return whole
