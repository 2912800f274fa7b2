"""Retries of transient GitHub errors, decided here rather than by urllib3 (pure policy,
injectable sleep, so tests never wait).

Transient: a 5xx, a dropped connection, and rate limits: 403/429 with `Retry-After`
(secondary limits), with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (the primary
limit), or a 403/429 whose message names a secondary rate limit. Any other 4xx is an
answer, not a hiccup, and is raised at once. The wait honours Retry-After, else backs off
exponentially, and is capped by `max_wait`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from github import GithubException

T = TypeVar("T")
SERVER_ERRORS = frozenset({500, 502, 503, 504})
RATE_LIMITED = frozenset({403, 429})


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 2.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    log: list[str] = field(default_factory=list)

    def call(self, what: str, op: Callable[[], T]) -> T:
        """op() once, and again after each transient error, up to `attempts` in all."""
        for attempt in range(1, self.attempts + 1):
            try:
                return op()
            except (GithubException, requests.ConnectionError, requests.Timeout) as exc:
                wait = self.wait_for(exc, attempt)
                if wait is None or attempt == self.attempts:
                    raise
                self.log.append(
                    f"{what}: {describe(exc)}; retrying in {wait:g} s "
                    f"(attempt {attempt + 1} of {self.attempts})"
                )
                self.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def wait_for(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when exc is not transient."""
        backoff = min(self.base_delay * 2.0 ** (attempt - 1), self.max_wait)
        if not isinstance(exc, GithubException):
            return backoff
        if exc.status in SERVER_ERRORS:
            return backoff
        if exc.status not in RATE_LIMITED:
            return None
        told = _told_wait(exc.headers or {}, self.clock())
        if told is not None:
            return min(told, self.max_wait)
        if exc.status == 429 or "rate limit" in _message(exc).lower():
            return backoff
        return None  # a 403 without rate-limit signs: the token may not do this


def _told_wait(headers: Mapping[str, str], now: float) -> float | None:
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    after = lowered.get("retry-after")
    if after is not None:
        return _seconds(after)
    reset = lowered.get("x-ratelimit-reset")
    if lowered.get("x-ratelimit-remaining") == "0" and reset is not None:
        at = _seconds(reset)
        return None if at is None else max(at - now, 0.0)
    return None


def _seconds(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 and value == value else None


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return ""


def describe(exc: Exception) -> str:
    """One line about a failed request, never its headers (they carry no token, but the
    line should not grow with them either)."""
    if isinstance(exc, GithubException):
        message = _message(exc).splitlines()
        return f"HTTP {exc.status}" + (f" ({message[0][:200]})" if message else "")
    where = _server(exc)
    if isinstance(exc, requests.Timeout) and where:
        return f"{type(exc).__name__} (no answer from {where} in time)"
    if isinstance(exc, requests.ConnectionError) and where:
        return f"{type(exc).__name__} (cannot connect to {where}: is GITHUB_API_URL right?)"
    return type(exc).__name__


def _server(exc: Exception) -> str | None:
    """scheme://host:port of the request that failed (never its path, query or headers)."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "") if host else None
