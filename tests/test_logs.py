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


async def test_a_failing_statement_logs_no_bound_values(db) -> None:  # noqa: ANN001
    """What a user typed (a description with a name and a phone number) never reaches the
    log through a database error."""
    from sqlalchemy import text

    secret = "Nguyễn Văn Bí mật, 12 Lê Lợi"
    async with db.connect() as conn:
        try:
            await conn.execute(text("INSERT INTO no_such_table VALUES (:v)"), {"v": secret})
        except Exception as exc:   # noqa: BLE001
            shown = str(exc)
        else:
            raise AssertionError("the statement should have failed")
    assert secret not in shown and "hidden" in shown.lower()
