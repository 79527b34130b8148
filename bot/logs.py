"""Logging set-up that keeps tokens and phone numbers out of log lines: plain text, or JSON
lines (`LOG_FORMAT=json`) carrying the id of the inbound event being handled."""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

# A Vietnamese phone number however it is written: "+84 912 345 678", "(+84) 912…",
# "0912.345.678", "0912_345_678", "0912/345/678", full-width digits ("０９１２…": `\d` is any
# decimal digit).
_PHONE = re.compile(r"(?<!\d)(?:\(\s*[+＋]?\s*[8８][4４]\s*\)|[+＋]?[8８][4４]|[0０])"
                    r"(?:[\s._/()\-]{0,3}\d){8,10}(?!\d)")


class RedactingFilter(logging.Filter):
    """Replaces known secrets and anything shaped like a Vietnamese phone number."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return _PHONE.sub("<phone>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


# "channel/event id" of the inbound event the current task is handling (set by the hook
# around the core's `handle`, bot.metrics), for the log lines written meanwhile.
_EVENT: ContextVar[str | None] = ContextVar("sangkien_event", default=None)


def event_context(channel: str, event_id: str) -> None:
    """Name the inbound event the current task handles from now on, in its log lines."""
    _EVENT.set(f"{channel}/{event_id}")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the event being handled
    (`event`: from a record's `event_id` extra, else the task's context) and the traceback.

    Formats what the redacting filter left: the message it rewrote, the traceback text it
    cleaned (`exc_text`), never the exception object again."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        event = getattr(record, "event_id", None) or _EVENT.get()
        if event:
            line["event"] = str(event)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def setup_logging(level: str, secrets: list[str], *, fmt: str = "text") -> None:
    """Log lines to standard error, redacted; `fmt` "json" for JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL, and a Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # PTB logs request parameters (message text, which may hold phone numbers) at DEBUG.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
