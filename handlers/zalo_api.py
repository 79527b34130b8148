"""A minimal client of the Zalo Bot API (bot-api.zaloplatforms.com): one POST per call, the
answer unwrapped or raised. Errors may come with HTTP 200 (a bad token is ``{"ok": false,
"error_code": 401}``), so ``ok`` and ``error_code`` decide, never the HTTP status alone; the
token is part of every URL and is kept out of every error text."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
REQUEST_TIMEOUT = 15.0  # seconds, for every call but the long poll

JSON = dict[str, Any]


# --------------------------------------------------------------------------- errors


class ZaloApiError(Exception):
    """A failed Bot API call. ``code`` is Zalo's error_code (or the HTTP status when the answer
    carried none); None when no answer came at all (network drop, time-out)."""

    def __init__(self, method: str, code: int | None, description: str,
                 *, retry_after: float | None = None) -> None:
        self.method = method
        self.code = code
        self.description = description
        self.retry_after = retry_after
        super().__init__(f"Zalo {method} failed ({code if code is not None else 'network'}): "
                         f"{description}")

    @property
    def retryable(self) -> bool:
        """Quota, server trouble and lost connections pass; anything else will fail again."""
        return self.code is None or self.code == 429 or self.code >= 500


class ZaloTokenError(ZaloApiError):
    """Zalo answered 401: the token is wrong or was reset in Zalo Bot Manager."""

    def __init__(self, method: str, description: str = "Unauthorized") -> None:
        super().__init__(method, 401, description)
        self.args = ("Zalo rejected the bot token (401)",)

    def __str__(self) -> str:
        return "Zalo rejected the bot token (401)"


# --------------------------------------------------------------------------- the HTTP client


class ZaloBotApi:
    """A minimal Bot API client: one POST per call, the answer unwrapped or raised."""

    def __init__(self, token: str, base_url: str = DEFAULT_BASE_URL) -> None:
        if not token:
            raise ValueError("a Zalo bot token is required")
        self._token = token
        self._root = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        # Every spelling of the token that could end up in an error text.
        self._spellings = sorted({token, quote(token, safe=""), quote(token, safe=":@")},
                                 key=len, reverse=True)

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def redact(self, text: str) -> str:
        for spelling in self._spellings:
            text = text.replace(spelling, "<token>")
        return text

    async def call(self, method: str, payload: JSON | None = None,
                   *, time_limit: float = REQUEST_TIMEOUT) -> Any:
        """The call's ``result``; raises ZaloApiError (ZaloTokenError for a 401)."""
        if self._session is None:
            raise RuntimeError("ZaloBotApi is not open")
        url = f"{self._root}/bot{self._token}/{method}"
        failure: str | None = None
        try:
            async with self._session.post(
                    url, json=payload or {},
                    timeout=aiohttp.ClientTimeout(total=time_limit)) as resp:
                status = resp.status
                body = await resp.read()
        except TimeoutError:
            failure = f"no answer within {time_limit:g} s"
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            # aiohttp's messages may quote the URL (InvalidURL does), and so the token.
            failure = f"{type(exc).__name__}: {self.redact(str(exc))}"
        if failure is not None:
            # Raised outside the except block, so no traceback chains back to the original.
            raise ZaloApiError(method, None, failure)
        return self._unwrap(method, status, body)

    def _unwrap(self, method: str, status: int, body: bytes) -> Any:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "ok" not in answer:
            # An HTML error page from a proxy or load balancer, or an empty body.
            code = status if status >= 400 else None
            raise ZaloApiError(method, code, f"not a Bot API answer (HTTP {status})")
        if answer.get("ok") is True and status < 400:
            return answer.get("result")
        raw_code = answer.get("error_code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else (
            status if status >= 400 else 500)
        description = self.redact(str(answer.get("description") or "")) or f"HTTP {status}"
        if code == 401:
            raise ZaloTokenError(method, description)
        retry_after = None
        params = answer.get("parameters")
        if isinstance(params, dict) and isinstance(params.get("retry_after"), int | float):
            retry_after = float(params["retry_after"])
        raise ZaloApiError(method, code, description, retry_after=retry_after)
