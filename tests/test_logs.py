"""Log lines never carry a phone number, a token, or a statement's bound values."""

from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFilter


@pytest.mark.parametrize("phone", [
    "0912345678", "0912 345 678", "0912.345.678", "0912-345-678", "0912_345_678",
    "0912/345/678", "+84 912 345 678", "+84912345678", "(+84) 912 345 678", "84 912 345 678",
    "０９１２３４５６７８", "(+84)912.345.678",
])
def test_phone_numbers_are_redacted_however_written(phone: str) -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "call %s now", (phone,), None)
    RedactingFilter(["SECRET"]).filter(record)
    assert record.getMessage() == "call <phone> now"


def test_other_numbers_are_left_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "event %s, %d rows, SK-000123",
                               ("telegram/1234567", 12), None)
    RedactingFilter([]).filter(record)
    assert record.getMessage() == "event telegram/1234567, 12 rows, SK-000123"
