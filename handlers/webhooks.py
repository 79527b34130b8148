"""What every webhook route needs: the secret header checked in constant time (whatever bytes
it holds), the body read as JSON without letting a hostile one raise, and refusals logged
without letting anyone flood the log."""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

MAX_BODY = 1024 * 1024   # bytes: an update is a few KB


def secret_matches(given: str, expected: str) -> bool:
    """`given` as aiohttp hands a header over (undecodable bytes as surrogate escapes)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8"))


def parse_json(body: bytes) -> Any | None:
    """The body as JSON, or None when it is not (or is nested too deeply to read)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


class RefusalLog:
    """At most one WARNING a `period` for refused requests, with how many there were."""

    def __init__(self, logger: logging.Logger, what: str, *, period: float = 60.0) -> None:
        self.logger, self.what, self.period = logger, what, period
        self.count = 0
        self.last = float("-inf")

    def note(self, remote: str | None) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.period:
            self.logger.warning("%s: %d request(s) refused for a wrong or missing secret in the "
                                "last %.0f s (the latest from %s)", self.what, self.count,
                                min(now - self.last, self.period), remote or "?")
            self.count, self.last = 0, now
