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
    ("2 triệu 5", err("ambiguous")),
    ("1tr 5", err("ambiguous")),
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
    ("1.000.000đ/tháng", err("unreadable")),
    ("２００ triệu", err("unreadable")),
    ("-abc", err("unreadable")),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_benefit(text: str, expected: BenefitParse) -> None:
    assert parse_benefit(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
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
    reasons = {e.reason for _, e in CASES if isinstance(e, BenefitError)}
    assert reasons == {
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
