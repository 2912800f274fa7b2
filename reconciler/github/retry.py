"""Retries of transient GitHub errors, decided here rather than by urllib3 (pure policy,
injectable sleep, so tests never wait).

Transient: a 5xx, a dropped connection, and rate limits: 403/429 with `Retry-After`
(secondary limits), with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (the primary
limit), or a 403/429 whose message names a secondary rate limit (waited for a minute at
least, as GitHub asks: the quicker backoff of a 5xx would spend every attempt inside it).
Any other 4xx is an answer, not a hiccup, and is raised at once. The wait honours
Retry-After, else backs off exponentially, and is capped by `max_wait`. A limit that lifts
later than the retries left could wait in all (a primary limit resetting in an hour) is
raised at once: retrying sooner only fails again, minutes later; `describe` says when it
lifts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from github import GithubException

T = TypeVar("T")
SERVER_ERRORS = frozenset({500, 502, 503, 504})
RATE_LIMITED = frozenset({403, 429})
SECONDARY_WAIT = 60.0  # GitHub's docs: wait at least one minute, then longer
MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z: a later reset is no time to print


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
                    self._note_too_long(what, exc, attempt)
                    raise
                self.log.append(
                    f"{what}: {describe(exc, self.clock())}; retrying in {wait:g} s "
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
            return min(told, self.max_wait) if told <= self.budget(attempt) else None
        if exc.status == 429 or "rate limit" in _message(exc).lower():
            # a secondary limit that says no time: GitHub asks for at least a minute
            return min(max(backoff, SECONDARY_WAIT), self.max_wait)
        return None  # a 403 without rate-limit signs: the token may not do this

    def budget(self, attempt: int) -> float:
        """The most the retries after `attempt` may wait in all."""
        return self.max_wait * (self.attempts - attempt)

    def _note_too_long(self, what: str, exc: Exception, attempt: int) -> None:
        if attempt == self.attempts or not isinstance(exc, GithubException):
            return
        told = _told_wait(exc.headers or {}, self.clock())
        if told is not None and told > self.budget(attempt):
            self.log.append(
                f"{what}: {describe(exc, self.clock())}; not retried: the retries may "
                f"wait {self.budget(attempt):g} s in all"
            )


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
    return value if 0 <= value < math.inf else None  # never NaN or infinite


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return ""


def describe(exc: Exception, now: float | None = None) -> str:
    """One line about a failed request, never its headers (they carry no token, but the
    line should not grow with them either), except when a rate limit lifts."""
    if isinstance(exc, GithubException):
        message = _message(exc).splitlines()
        line = f"HTTP {exc.status}" + (f" ({message[0][:200]})" if message else "")
        return line + _lifts(exc, time.time() if now is None else now)
    where = _server(exc)
    if isinstance(exc, requests.Timeout) and where:
        return f"{type(exc).__name__} (no answer from {where} in time)"
    if isinstance(exc, requests.ConnectionError) and where:
        return f"{type(exc).__name__} (cannot connect to {where}: is GITHUB_API_URL right?)"
    return type(exc).__name__


def _lifts(exc: GithubException, now: float) -> str:
    """When a rate limit the answer reports lifts: '' for any other answer."""
    if exc.status not in RATE_LIMITED:
        return ""
    lowered = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
    after = _seconds(lowered.get("retry-after", ""))
    if after is not None:
        return f"; GitHub asks to wait {after:g} s before trying again"
    reset = _seconds(lowered.get("x-ratelimit-reset", ""))
    if lowered.get("x-ratelimit-remaining") != "0" or reset is None or reset > MAX_EPOCH:
        return ""
    at = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = max(reset - now, 0.0)
    after_all = f"{left / 60:.0f} min" if left >= 120 else f"{left:.0f} s"
    return f"; the token's rate limit resets at {at} (in {after_all})"


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
