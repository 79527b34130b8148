"""Parsing the benefit value (giá trị làm lợi) as workers type it."""

from __future__ import annotations

import dataclasses
import time
import unicodedata

import pytest

from bot.money import (
    MAX_BENEFIT_VND,
    BenefitAmount,
    BenefitError,
    BenefitNotQuantifiable,
    BenefitParse,
    BenefitPeriod,
    format_examples,
    parse_benefit,
)

NQ = BenefitNotQuantifiable()


def nfd(text: str) -> str:
    """What some keyboards and macOS clipboards send: base letters plus combining marks."""
    return unicodedata.normalize("NFD", text)


def err(reason: str) -> BenefitError:
    return BenefitError(reason)  # type: ignore[arg-type]


CASES: list[tuple[str, BenefitParse]] = [
    # Units.
    ("200 triệu", BenefitAmount(200_000_000)),
    ("200tr", BenefitAmount(200_000_000)),
    ("200 tr", BenefitAmount(200_000_000)),
    ("200TR", BenefitAmount(200_000_000)),
    ("200 Triệu đồng", BenefitAmount(200_000_000)),
    ("200 trieu", BenefitAmount(200_000_000)),
    ("200 trđ", BenefitAmount(200_000_000)),
    ("200 tr.", BenefitAmount(200_000_000)),
    ("  200 triệu  ", BenefitAmount(200_000_000)),
    ("500k", BenefitAmount(500_000)),
    ("500K", BenefitAmount(500_000)),
    ("500 nghìn", BenefitAmount(500_000)),
    ("500 ngàn", BenefitAmount(500_000)),
    ("500 nghin", BenefitAmount(500_000)),
    ("500 nghìn đồng", BenefitAmount(500_000)),
    ("3 tỷ", BenefitAmount(3_000_000_000)),
    ("3 tỉ", BenefitAmount(3_000_000_000)),
    ("3 ty", BenefitAmount(3_000_000_000)),
    ("3 ti", BenefitAmount(3_000_000_000)),
    ("2 nghìn tỷ", BenefitAmount(2_000_000_000_000)),
    ("1 triệu tỷ", BenefitAmount(MAX_BENEFIT_VND)),
    ("5 trăm nghìn", BenefitAmount(500_000)),
    ("2 trăm triệu", BenefitAmount(200_000_000)),
    ("5 trăm đồng", BenefitAmount(500)),
    # Decimals with a unit.
    ("1,5 tỷ", BenefitAmount(1_500_000_000)),
    ("1.5 ty", BenefitAmount(1_500_000_000)),
    ("1,5tỷ", BenefitAmount(1_500_000_000)),
    ("0,5 triệu", BenefitAmount(500_000)),
    ("2.75 triệu", BenefitAmount(2_750_000)),
    ("0,500 tỷ", BenefitAmount(500_000_000)),
    ("1.500 tỷ", BenefitAmount(1_500_000_000_000)),
    ("1,500 tỷ", BenefitAmount(1_500_000_000_000)),
    ("1.500,5 triệu", BenefitAmount(1_500_500_000)),
    ("1,000.5 triệu", BenefitAmount(1_000_500_000)),
    ("1,2345 nghìn", err("fraction_of_dong")),
    # Compounds.
    ("1 tỷ 200 triệu", BenefitAmount(1_200_000_000)),
    ("1 tỷ 200 triệu đồng", BenefitAmount(1_200_000_000)),
    ("1 tỷ 200", BenefitAmount(1_200_000_000)),
    ("1 tỷ 050", BenefitAmount(1_050_000_000)),
    ("2 triệu 500", BenefitAmount(2_500_000)),
    ("1 tỷ 200 triệu 500", BenefitAmount(1_200_500_000)),
    ("1tr5", BenefitAmount(1_500_000)),
    ("1tr25", BenefitAmount(1_250_000)),
    ("1tr500", BenefitAmount(1_500_000)),
    ("1ty2", BenefitAmount(1_200_000_000)),
    ("2k5", BenefitAmount(2_500)),
    ("1 triệu rưỡi", BenefitAmount(1_500_000)),
    ("1 triệu 2 trăm", BenefitAmount(1_200_000)),
    ("5 nghìn tỷ 200 tỷ", BenefitAmount(5_200_000_000_000)),
    ("2 triệu 5", BenefitAmount(2_500_000)),  # spoken "hai triệu năm", as "2tr5"
    ("1tr 5", BenefitAmount(1_500_000)),
    ("1 tỷ 2000", err("ambiguous")),
    ("1 tỷ 200 đồng", err("ambiguous")),
    ("1,5tr5", err("ambiguous")),
    ("200 triệu 1 tỷ", err("ambiguous")),
    ("1 triệu 2 triệu", err("ambiguous")),
    ("1 tỷ 1500 triệu", err("ambiguous")),
    ("5 trăm", err("ambiguous")),
    ("200 50", err("ambiguous")),
    ("100-200 triệu", err("ambiguous")),
    # Plain numbers.
    ("15.000.000", BenefitAmount(15_000_000)),
    ("15,000,000", BenefitAmount(15_000_000)),
    ("15000000", BenefitAmount(15_000_000)),
    ("15 000 000", BenefitAmount(15_000_000)),
    ("15\u00a0000\u00a0000", BenefitAmount(15_000_000)),
    ("15000000đ", BenefitAmount(15_000_000)),
    ("15.000.000 VNĐ", BenefitAmount(15_000_000)),
    ("15.000.000 vnđ", BenefitAmount(15_000_000)),
    ("15.000.000 đồng", BenefitAmount(15_000_000)),
    ("15,000,000 VND", BenefitAmount(15_000_000)),
    ("₫15,000,000", BenefitAmount(15_000_000)),
    ("15.000.000\u00a0₫", BenefitAmount(15_000_000)),
    ("VND 15,000,000", BenefitAmount(15_000_000)),
    ("15.000.000.", BenefitAmount(15_000_000)),
    ("15.000.000,00", BenefitAmount(15_000_000)),
    ("15.000", BenefitAmount(15_000)),
    ("15,000", BenefitAmount(15_000)),
    ("15,5", err("fraction_of_dong")),
    ("1.5", err("fraction_of_dong")),
    ("15.000.000,5", err("fraction_of_dong")),
    ("1.50.000", err("ambiguous")),
    ("15,00,000", err("ambiguous")),
    ("1500.000", err("ambiguous")),
    ("1.000,000 triệu", err("ambiguous")),
    ("15,0000", err("ambiguous")),
    # Zero and not quantifiable.
    ("0", BenefitAmount(0)),
    ("0đ", BenefitAmount(0)),
    ("0 đồng", BenefitAmount(0)),
    ("-0", BenefitAmount(0)),
    ("không", NQ),
    ("khong", NQ),
    ("Không.", NQ),
    ("không có", NQ),
    ("chưa tính được", NQ),
    ("chua tinh duoc", NQ),
    ("không tính được", NQ),
    ("không tính được thành tiền", NQ),
    ("khong tinh duoc thanh tien", NQ),
    ("chưa xác định", NQ),
    ("không xác định được", NQ),
    ("n/a", NQ),
    ("N/A", NQ),
    # Approximations.
    ("khoảng 200 triệu", BenefitAmount(200_000_000)),
    ("khoang 200tr", BenefitAmount(200_000_000)),
    ("tầm 500k", BenefitAmount(500_000)),
    ("tam 500k", BenefitAmount(500_000)),
    ("ước tính 1 tỷ", BenefitAmount(1_000_000_000)),
    ("uoc tinh 1 ty", BenefitAmount(1_000_000_000)),
    ("dự kiến 50 triệu", BenefitAmount(50_000_000)),
    ("du kien 50tr", BenefitAmount(50_000_000)),
    ("trên 1 tỷ", BenefitAmount(1_000_000_000)),
    ("hơn 200tr", BenefitAmount(200_000_000)),
    ("hon 200tr", BenefitAmount(200_000_000)),
    ("gần 300 triệu", BenefitAmount(300_000_000)),
    ("gan 300 trieu", BenefitAmount(300_000_000)),
    ("ước tính khoảng 2 tỷ", BenefitAmount(2_000_000_000)),
    ("~200tr", BenefitAmount(200_000_000)),
    ("nói chung 200 triệu", err("unreadable")),
    ("khoảng", err("unreadable")),
    # Negative.
    ("-5 triệu", err("negative")),
    ("âm 5 triệu", err("negative")),
    ("am 5 trieu", err("negative")),
    ("- 200tr", err("negative")),
    ("\u22125 triệu", err("negative")),
    ("khoảng -5 triệu", err("negative")),
    ("-1,5", err("negative")),
    # Empty.
    ("", err("empty")),
    ("   ", err("empty")),
    ("\n\t", err("empty")),
    # Too large.
    ("2000000 tỷ", err("too_large")),
    ("2 triệu tỷ", err("too_large")),
    ("1.000.000.000.000.001", err("too_large")),
    ("1 triệu tỷ 500 tỷ", err("too_large")),
    ("9" * 500, err("too_large")),
    # Unreadable.
    ("-", err("unreadable")),
    ("âm", err("unreadable")),
    (".", err("unreadable")),
    ("abc", err("unreadable")),
    ("10 con gà", err("unreadable")),
    ("1e9", err("unreadable")),
    ("🙂", err("unreadable")),
    ("200 triệu 🙂", err("unreadable")),
    ("200 triệu usd", err("unreadable")),
    ("$500", err("unreadable")),
    ("999999 tỷ tỷ", err("unreadable")),
    ("tỷ", err("unreadable")),
    ("500 ng", err("unreadable")),
    ("đồng", err("unreadable")),
    ("₫15.000 đ", err("unreadable")),
    ("２００ triệu", err("unreadable")),
    ("-abc", err("unreadable")),
]


def yearly(vnd: int) -> BenefitAmount:
    return BenefitAmount(vnd, period="year", typed_vnd=vnd)


def monthly(vnd: int) -> BenefitAmount:
    return BenefitAmount(12 * vnd, period="month", typed_vnd=vnd)


# A unit word followed by a bare number, as people say it aloud: the number is the leading
# digits of the next lower group, exactly as in the glued "3tr5" and the spaced "1 tỷ 200".
SPOKEN_CASES: list[tuple[str, BenefitParse]] = [
    ("3 triệu 5", BenefitAmount(3_500_000)),
    ("3 trieu 5", BenefitAmount(3_500_000)),
    ("3 tr 5", BenefitAmount(3_500_000)),
    ("3 Triệu 5", BenefitAmount(3_500_000)),
    ("khoảng 3 triệu 5", BenefitAmount(3_500_000)),
    ("1 tỷ 2", BenefitAmount(1_200_000_000)),
    ("1 ty 2", BenefitAmount(1_200_000_000)),
    ("1 tỉ 2", BenefitAmount(1_200_000_000)),
    ("1 tỷ 25", BenefitAmount(1_250_000_000)),
    ("1 tỷ 250", BenefitAmount(1_250_000_000)),
    ("1 tỷ 05", BenefitAmount(1_050_000_000)),
    ("1 ty 2 trieu", BenefitAmount(1_002_000_000)),  # an explicit unit is no tail
    ("2 nghìn 5", BenefitAmount(2_500)),
    ("500 nghìn 5", BenefitAmount(500_500)),  # as "500k5"
    ("2 nghìn tỷ 5", BenefitAmount(2_500_000_000_000)),
    ("1 tỷ 200 triệu 5", BenefitAmount(1_200_500_000)),
    ("2 trăm triệu 5", BenefitAmount(200_500_000)),  # as "2 trăm triệu 500"
    # Still refused.
    ("2 trăm 5", err("ambiguous")),  # 250 đồng or 250 nghìn? as "5 trăm"
    ("2 trăm 5 đồng", err("ambiguous")),  # 205 or 250?
    ("2 trăm 5 triệu", err("ambiguous")),
    ("3 triệu 5 đồng", err("ambiguous")),  # as "1 tỷ 200 đồng": 5 đồng?
    ("3 triệu 5 VNĐ", err("ambiguous")),
    ("1 tỷ 2 5", err("ambiguous")),
    ("1 tỷ 2500", err("ambiguous")),
    ("1 tỷ rưỡi 5", err("ambiguous")),
    ("1,5 tỷ 2", err("ambiguous")),
    ("3 triệu 5,5", err("ambiguous")),
]

# The benefit value the programme sums is per year: a yearly amount is the amount, a
# monthly one is multiplied by 12, any other period is refused.
PERIOD_CASES: list[tuple[str, BenefitParse]] = [
    # Per year, period last.
    ("200 triệu mỗi năm", yearly(200_000_000)),
    ("200 trieu moi nam", yearly(200_000_000)),
    ("200 triệu mọi năm", yearly(200_000_000)),
    ("200tr/năm", yearly(200_000_000)),
    ("200tr/nam", yearly(200_000_000)),
    ("200 tr / năm", yearly(200_000_000)),
    ("200 triệu /năm", yearly(200_000_000)),
    ("200 triệu một năm", yearly(200_000_000)),
    ("200 triệu 1 năm", yearly(200_000_000)),
    ("200 triệu/1 năm", yearly(200_000_000)),
    ("200 triệu mỗi 1 năm", yearly(200_000_000)),
    ("200 triệu hàng năm", yearly(200_000_000)),
    ("200 trieu hang nam", yearly(200_000_000)),
    ("200 triệu hằng năm", yearly(200_000_000)),
    ("200 triệu cả năm", yearly(200_000_000)),
    ("200 triệu trong một năm", yearly(200_000_000)),
    ("200 triệu trong 1 năm", yearly(200_000_000)),
    ("200tr trong năm", yearly(200_000_000)),
    ("khoảng 200 triệu mỗi năm", yearly(200_000_000)),
    ("~200tr/năm", yearly(200_000_000)),
    ("1 tỷ 2/năm", yearly(1_200_000_000)),
    ("1,5 tỷ mỗi năm", yearly(1_500_000_000)),
    ("200.000.000 VNĐ/năm", yearly(200_000_000)),
    ("200.000.000đ/năm", yearly(200_000_000)),
    ("200 triệu đồng mỗi năm", yearly(200_000_000)),
    ("200 trđ/năm", yearly(200_000_000)),
    ("200 TRIỆU ĐỒNG/NĂM.", yearly(200_000_000)),
    ("200tr per year", yearly(200_000_000)),
    ("200tr a year", yearly(200_000_000)),
    ("200tr/year", yearly(200_000_000)),
    ("200tr yearly", yearly(200_000_000)),
    ("200tr annually", yearly(200_000_000)),
    # Per year, period first.
    ("mỗi năm 200 triệu", yearly(200_000_000)),
    ("Mỗi năm khoảng 200 triệu", yearly(200_000_000)),
    ("moi nam khoang 200tr", yearly(200_000_000)),
    ("khoảng mỗi năm 200 triệu", yearly(200_000_000)),
    ("hàng năm 1,5 tỷ", yearly(1_500_000_000)),
    ("một năm 200 triệu", yearly(200_000_000)),
    ("1 năm khoảng 200tr", yearly(200_000_000)),
    ("Mỗi năm: 200 triệu", yearly(200_000_000)),
    # Per month: read and multiplied by 12.
    ("20 triệu mỗi tháng", monthly(20_000_000)),
    ("20tr/tháng", monthly(20_000_000)),
    ("20tr/thang", monthly(20_000_000)),
    ("20TR/THÁNG", monthly(20_000_000)),
    ("20tr/th", monthly(20_000_000)),
    ("20tr/1 tháng", monthly(20_000_000)),
    ("20 triệu một tháng", monthly(20_000_000)),
    ("20 triệu 1 tháng", monthly(20_000_000)),
    ("20 triệu hằng tháng", monthly(20_000_000)),
    ("20 trieu hang thang", monthly(20_000_000)),
    ("20 triệu trong 1 tháng", monthly(20_000_000)),
    ("khoảng 20tr/tháng", monthly(20_000_000)),
    ("20.000.000 đồng/tháng", monthly(20_000_000)),
    ("20.000.000đ mỗi tháng", monthly(20_000_000)),
    ("1.000.000đ/tháng", monthly(1_000_000)),
    ("₫20.000.000/tháng", monthly(20_000_000)),
    ("VND 20,000,000 per month", monthly(20_000_000)),
    ("20tr a month", monthly(20_000_000)),
    ("20tr/month", monthly(20_000_000)),
    ("20tr monthly", monthly(20_000_000)),
    ("3tr5/tháng", monthly(3_500_000)),
    ("3 triệu 5 mỗi tháng", monthly(3_500_000)),
    ("500k/tháng", monthly(500_000)),
    ("0đ/tháng", monthly(0)),
    ("hàng tháng 20 triệu", monthly(20_000_000)),
    ("mỗi tháng khoảng 20tr", monthly(20_000_000)),
    ("1 tháng 20tr", monthly(20_000_000)),
    ("80 nghìn tỷ/tháng", monthly(80_000_000_000_000)),
    # Another period: refused, to be typed again per year or per month.
    ("500k/ngày", err("period")),
    ("500k mỗi ngày", err("period")),
    ("500k một ngày", err("period")),
    ("hàng ngày 500k", err("period")),
    ("500k per day", err("period")),
    ("500k daily", err("period")),
    ("2tr/tuần", err("period")),
    ("mỗi tuần 2 triệu", err("period")),
    ("2tr a week", err("period")),
    ("50 triệu mỗi quý", err("period")),
    ("50tr/quý", err("period")),
    ("50tr quarterly", err("period")),
    ("200k/ca", err("period")),
    ("200k mỗi ca", err("period")),
    ("100k mỗi giờ", err("period")),
    ("100 triệu/2 năm", err("period")),
    ("100 triệu mỗi 2 năm", err("period")),
    ("300 triệu trong 3 năm", err("period")),
    ("60 triệu/6 tháng", err("period")),
    ("6 tháng 60 triệu", err("period")),
    ("1 tỷ 2 năm", err("period")),  # 1,2 tỷ a year, or 1 tỷ in 2 years?
    ("3tr5 năm", err("period")),
    # An error in the amount comes first.
    ("-5 triệu/tháng", err("negative")),
    ("mỗi tháng -5tr", err("negative")),
    ("âm 5 triệu mỗi năm", err("negative")),
    ("-5tr/ngày", err("negative")),
    ("90 nghìn tỷ/tháng", err("too_large")),  # 1.080 nghìn tỷ a year
    ("2 triệu tỷ/năm", err("too_large")),
    ("100-200 triệu/năm", err("ambiguous")),
    ("2 triệu 2000/tháng", err("ambiguous")),
    ("3 triệu 5 đồng/tháng", err("ambiguous")),
    ("1,5 đồng/tháng", err("fraction_of_dong")),
    # Unreadable.
    ("mỗi năm", err("unreadable")),
    ("/năm", err("unreadable")),
    ("1 năm", err("unreadable")),
    ("mỗi ngày", err("unreadable")),
    ("mỗi năm 200 triệu mỗi năm", err("unreadable")),
    ("mỗi tháng 20tr/năm", err("unreadable")),
    ("20tr/tháng/người", err("unreadable")),
    ("200 triệu/người", err("unreadable")),
    ("200 triệu năm", err("unreadable")),  # "năm" is also five
    ("200 triệu/năm đồng", err("unreadable")),
    ("200 triệu: mỗi năm", err("unreadable")),
    ("200 triệu mỗi", err("unreadable")),
    ("1/2 tỷ", err("unreadable")),
    ("không/năm", err("unreadable")),
    ("hàng trăm triệu", err("unreadable")),
]

ALL_CASES = CASES + SPOKEN_CASES + PERIOD_CASES


@pytest.mark.parametrize(("text", "expected"), ALL_CASES)
def test_parse_benefit(text: str, expected: BenefitParse) -> None:
    assert parse_benefit(text) == expected


@pytest.mark.parametrize(("text", "expected"), ALL_CASES)
def test_decomposed_upper_case_input_parses_the_same(text: str, expected: BenefitParse) -> None:
    assert parse_benefit(nfd(text.upper())) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (nfd("1,5 tỷ"), BenefitAmount(1_500_000_000)),
        (nfd("500 nghìn đồng"), BenefitAmount(500_000)),
        (nfd("15.000.000 đồng"), BenefitAmount(15_000_000)),
        (nfd("chưa tính được"), NQ),
        (nfd("âm 5 triệu"), err("negative")),
        (nfd("khoảng 200 triệu"), BenefitAmount(200_000_000)),
    ],
)
def test_nfd_input(text: str, expected: BenefitParse) -> None:
    assert text != unicodedata.normalize("NFC", text)  # really decomposed
    assert parse_benefit(text) == expected


def test_every_error_reason_is_covered() -> None:
    reasons = {e.reason for _, e in ALL_CASES if isinstance(e, BenefitError)}
    assert reasons == {
        "period",
        "empty",
        "negative",
        "too_large",
        "ambiguous",
        "unreadable",
        "fraction_of_dong",
    }


def test_format_examples_are_accepted() -> None:
    examples = format_examples()
    assert examples == ["200 triệu", "1,5 tỷ", "500k", "15.000.000", "không tính được"]
    for example in examples:
        assert not isinstance(parse_benefit(example), BenefitError)


def test_results_are_immutable_values() -> None:
    amount = parse_benefit("500k")
    assert amount == BenefitAmount(500_000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        amount.vnd = 1  # type: ignore[misc, union-attr]


PLAIN_AMOUNTS = [
    (text, expected)
    for text, expected in CASES
    # A trailing "." is read as the end of a sentence, so nothing may follow it.
    if isinstance(expected, BenefitAmount) and not text.endswith(".")
]


def with_period(amount: BenefitAmount, period: BenefitPeriod) -> BenefitParse:
    yearly_vnd = amount.vnd * (12 if period == "month" else 1)
    if yearly_vnd > MAX_BENEFIT_VND:
        return err("too_large")
    return BenefitAmount(yearly_vnd, period=period, typed_vnd=amount.vnd)


@pytest.mark.parametrize(("text", "expected"), PLAIN_AMOUNTS)
@pytest.mark.parametrize(
    ("before", "after", "period"),
    [
        ("", "/năm", "year"),
        ("", " mỗi năm", "year"),
        ("mỗi năm ", "", "year"),
        ("", "/tháng", "month"),
        ("", " một tháng", "month"),
        ("hàng tháng ", "", "month"),
    ],
)
def test_every_amount_reads_with_a_period(
    text: str, expected: BenefitAmount, before: str, after: str, period: BenefitPeriod
) -> None:
    assert parse_benefit(before + text + after) == with_period(expected, period)


@pytest.mark.parametrize(("text", "expected"), PLAIN_AMOUNTS)
def test_another_period_is_refused(text: str, expected: BenefitAmount) -> None:
    assert parse_benefit(text + "/ngày") == err("period")
    assert parse_benefit("mỗi quý " + text) == err("period")


def test_an_amount_without_a_period_is_constructed_as_before() -> None:
    amount = BenefitAmount(5)
    assert (amount.vnd, amount.period, amount.typed_vnd) == (5, None, None)
    assert parse_benefit("5 đồng") == amount
    assert not hasattr(amount, "__dict__")  # still slotted


@pytest.mark.parametrize(
    ("text", "expected"),
    [(t, e) for t, e in PERIOD_CASES if isinstance(e, BenefitAmount)],
)
def test_the_yearly_figure_is_what_is_summed(text: str, expected: BenefitAmount) -> None:
    assert expected.typed_vnd is not None
    assert expected.vnd == expected.typed_vnd * (12 if expected.period == "month" else 1)


@pytest.mark.parametrize(
    "text",
    [
        "1" * 4096,
        "1." * 2048,
        "1," * 2048,
        "1 " * 2048,
        "1 000" * 819,
        "1tr" * 1365,
        "a" * 4096,
        "-" * 4096,
        "khoảng " * 585,
        "1.000" * 819,
        "1,5 tỷ " * 585,
        "~" * 4095 + "1",
        "200tr/năm " * 410,
        "mỗi năm " * 512,
        "1 năm " * 683,
        "/" * 4096,
        "mỗi năm " * 511 + "200 triệu",
        "khoảng " * 584 + "200 triệu/tháng",
        "3 triệu 5 " * 410,
    ],
    ids=lambda text: f"{text[:8]!r}x{len(text)}",
)
def test_long_input_is_fast(text: str) -> None:
    # A guard against catastrophic backtracking or quadratic work, not a benchmark.
    assert len(text) >= 4090
    # CPU time, so a loaded machine pausing the process does not count; a backtracking
    # regex would take many seconds on these inputs.
    started = time.process_time()
    parse_benefit(text)
    assert time.process_time() - started < 2.0


def test_amounts_written_in_english() -> None:
    """The English chat's answers: "about 200 million", "200m", "1.5bn"."""
    from bot.money import BenefitAmount, parse_benefit

    for typed, vnd_value in (("about 200 million", 200_000_000), ("200m", 200_000_000),
                             ("1.5bn", 1_500_000_000), ("1,5 billion", 1_500_000_000),
                             ("around 750 thousand", 750_000), ("200 triệu", 200_000_000)):
        got = parse_benefit(typed)
        assert isinstance(got, BenefitAmount) and got.vnd == vnd_value, (typed, got)
