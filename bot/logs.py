"""Logging set-up that keeps tokens and phone numbers out of log lines."""

from __future__ import annotations

import logging
import re

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


def setup_logging(level: str, secrets: list[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL, and a Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # PTB logs request parameters (message text, which may hold phone numbers) at DEBUG.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
