"""Who may ask and how often, for every door of the app (/api, /v1, /mcp): the bearer token,
the per-client rate, the answering slots, and the HTTP status each kind of refusal gets.

One `Guards` per app, so a client's limits hold across all doors; each door turns the refusals
into its own error shape ({"error": "..."} for /api, OpenAI's error object for /v1).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping

from qa.config import Settings
from qa.errors import (
    AccessError,
    BusyError,
    ChangesDisabledError,
    InputError,
    NameTakenError,
    NotFoundError,
    QAError,
    StoreError,
    TimeLimitError,
    TooLargeError,
    WriterBusyError,
)
from qa.web.concurrency import AnswerSlots
from qa.web.library import same_secret

STATUSES: tuple[tuple[type[QAError], int], ...] = (
    (AccessError, 401),
    (ChangesDisabledError, 403),
    (NotFoundError, 404),
    (NameTakenError, 409),
    (TooLargeError, 413),
    (InputError, 400),
    (WriterBusyError, 409),
    (StoreError, 503),
    (BusyError, 503),
    (TimeLimitError, 504),
)
TOKEN_REQUIRED = "A valid bearer token is required (Authorization: Bearer ...)."


class ApiError(Exception):
    """A refusal by the HTTP edge itself (token, rate, size, busy), with its status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def status_of(exc: QAError) -> int:
    """The HTTP status each kind of refusal gets; the most specific class first."""
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status
    return 500


def bearer(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer TOKEN` header; empty when there is none."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


class RateLimiter:
    """At most `per_minute` calls per key in any sliding 60-second window; 0 disables it."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and now - calls[0] >= 60:
                calls.popleft()
            if len(calls) >= self.per_minute:
                return False
            calls.append(now)
            return True


class Guards:
    """QA_API_TOKEN, QA_RATE_LIMIT_PER_MINUTE and QA_CONCURRENCY_LIMIT, shared by every door."""

    def __init__(self, settings: Settings) -> None:
        self._token = settings.api_token.get_secret_value()
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.slots = AnswerSlots(settings.concurrency_limit, settings.queue_wait_s)

    def allows(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries the API token (always, when none is set)."""
        return not self._token or same_secret(bearer(headers), self._token)

    def check_token(self, headers: Mapping[str, str]) -> None:
        """The API token, when one is set (401)."""
        if not self.allows(headers):
            raise ApiError(401, TOKEN_REQUIRED, {"WWW-Authenticate": "Bearer"})

    def check_question(self, headers: Mapping[str, str], client: str) -> None:
        """Token first (401), then the per-client rate (429)."""
        self.check_token(headers)
        if not self.limiter.allow(client):
            raise ApiError(
                429,
                f"Too many questions; the limit is {self.limiter.per_minute} a minute per client.",
                {"Retry-After": "60"},
            )
