"""Which GitHub errors are retried, and how long alm waits (never actually sleeping)."""

from __future__ import annotations

import pytest
from github import GithubException

from reconciler.github.retry import RetryPolicy, describe


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
        (_error(403, {"Retry-After": "200"}), 60.0),  # capped: the 4 retries left cover 200 s
        (_error(403, {"Retry-After": "3600"}), None),  # beyond what the retries can wait
        (_error(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1005"}), 5.0),
        (_error(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1200"}), 60.0),
        (_error(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4600"}), None),
        (_error(429, {"Retry-After": "inf"}), 60.0),  # no number: as if unsaid
        (_error(403, message="You have exceeded a secondary rate limit."), 60.0),  # a minute
        (_error(429), 60.0),
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


def test_a_limit_beyond_the_retries_fails_at_once_saying_when_it_resets() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(sleep=sleeps.append, clock=lambda: 1_700_000_000.0)
    reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700003600"}
    calls: list[int] = []

    def limited() -> None:
        calls.append(1)
        raise _error(403, reset, "API rate limit exceeded for installation ID 1.")

    with pytest.raises(GithubException) as raised:
        policy.call("post the comment", limited)
    assert (calls, sleeps) == ([1], [])
    said = describe(raised.value, 1_700_000_000.0)
    assert said == (
        "HTTP 403 (API rate limit exceeded for installation ID 1.); the token's rate limit "
        "resets at 2023-11-14 23:13:20 UTC (in 60 min)"
    )
    assert policy.log == [
        f"post the comment: {said}; not retried: the retries may wait 240 s in all"
    ]


def test_a_limit_the_retries_cover_keeps_the_capped_wait() -> None:
    now = [1000.0]  # the clock moves as the policy sleeps

    def sleep(seconds: float) -> None:
        now.append(now[-1] + seconds)

    policy = RetryPolicy(sleep=sleep, clock=lambda: now[-1])
    reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1150"}
    answers = [_error(403, reset)] * 3

    def limited() -> str:
        if answers:
            raise answers.pop()
        return "posted"

    assert policy.call("post", limited) == "posted"
    assert now == [1000.0, 1060.0, 1120.0, 1150.0]  # 60 s capped, twice, then the rest
    assert "resets at 1970-01-01 00:19:10 UTC (in 2 min)" in policy.log[0]
