"""Which GitHub errors are retried, and how long alm waits (never actually sleeping)."""

from __future__ import annotations

import pytest
from github import GithubException

from reconciler.github.retry import RetryPolicy


def _error(
    status: int, headers: dict[str, str] | None = None, message: str = ""
) -> GithubException:
    return GithubException(status, {"message": message}, headers or {})


@pytest.mark.parametrize(
    ("error", "wait"),
    [
        (_error(502), 2.0),
        (_error(403, {"Retry-After": "1"}), 1.0),
        (_error(429, {"retry-after": "0"}), 0.0),
        (_error(403, {"Retry-After": "3600"}), 60.0),  # capped
        (_error(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1005"}), 5.0),
        (_error(403, message="You have exceeded a secondary rate limit."), 2.0),
        (_error(403, message="Resource not accessible by integration"), None),
        (_error(404), None),
        (_error(422), None),
    ],
)
def test_wait_for(error: GithubException, wait: float | None) -> None:
    assert RetryPolicy(clock=lambda: 1000.0).wait_for(error, 1) == wait


def test_backoff_doubles_and_gives_up_after_the_last_attempt() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=3, sleep=sleeps.append)
    calls: list[int] = []

    def always_502() -> None:
        calls.append(1)
        raise _error(502)

    with pytest.raises(GithubException):
        policy.call("read", always_502)
    assert (len(calls), sleeps) == (3, [2.0, 4.0])
    assert policy.log[0] == "read: HTTP 502; retrying in 2 s (attempt 2 of 3)"


def test_an_answer_is_not_retried() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(sleep=sleeps.append)
    with pytest.raises(GithubException):
        policy.call("write", lambda: (_ for _ in ()).throw(_error(403, message="nope")))
    assert sleeps == [] and policy.log == []
