"""JSON log lines (LOG_FORMAT=json): one object a line, with the event being handled, and
still redacted: no token, phone number or secret, in the message or the traceback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.core import Core
from bot.events import Inbound
from bot.logs import event_context, setup_logging
from bot.metrics import Metrics

TOKEN = "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger set up as `sangkien run` sets it with LOG_FORMAT=json, writing here."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("INFO", [TOKEN, "hook-secret"], fmt="json")
    out = io.StringIO()
    [handler] = root.handlers
    handler.setStream(out)  # type: ignore[attr-defined]
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_an_object_redacted_with_the_event_of_its_task(
        json_lines: io.StringIO) -> None:
    log = logging.getLogger("handlers.telegram")

    async def handling() -> None:
        event_context("telegram", "10001")
        log.warning("call %s with %s, secret %s", "0912 345 678", TOKEN, "hook-secret")

    asyncio.run(handling())
    log.info("nothing handled here, Tiếng Việt kept")
    try:
        raise RuntimeError(f"failed at https://api.telegram.org/bot{TOKEN}/getMe for 0912345678")
    except RuntimeError:
        log.exception("a call failed")
    first, second, third = lines(json_lines)
    assert first["message"] == "call <phone> with <redacted>, secret <redacted>"
    assert first["event"] == "telegram/10001"
    assert first["level"] == "WARNING" and first["logger"] == "handlers.telegram"
    assert str(first["time"]).endswith("+00:00")
    assert "event" not in second and second["message"] == "nothing handled here, Tiếng Việt kept"
    assert "RuntimeError" in str(third["exc"])
    text = json_lines.getvalue()
    assert TOKEN not in text and "0912345678" not in text and "hook-secret" not in text


def test_an_explicit_event_id_wins(json_lines: io.StringIO) -> None:
    logging.getLogger("bot.core").error("event failed", extra={"event_id": "zalo/m-9"})
    [line] = lines(json_lines)
    assert line["event"] == "zalo/m-9"


async def test_the_core_hook_names_the_event_in_what_the_handling_task_logs(
        json_lines: io.StringIO, mem_core: Core) -> None:
    Metrics().instrument_core(mem_core)

    async def handle(event_id: str) -> None:
        await mem_core.handle(Inbound("telegram", event_id, "42", "42", "command",
                                      text="start", display_name="A"))
        logging.getLogger("handlers.telegram").warning("replies not sent")

    await asyncio.gather(handle("501"), handle("502"))
    assert sorted(str(line["event"]) for line in lines(json_lines)
                  if line["message"] == "replies not sent") == ["telegram/501", "telegram/502"]
