"""The pull request a `pull_request` webhook payload names, for the plan's JSON (pure).

The payload is untrusted data: each field is checked for its type and shape, and a
payload without one is an AlmError naming the file and the field that was expected.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.errors import AlmError
from reconciler.plan.model import PullRequest

_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\[\]-]{0,99}$")  # bots: name[bot]


def _get(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _field(event: Any, path: str, pattern: re.Pattern[str], what: str, source: str) -> str:
    value = _get(event, path)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AlmError(f"{source}: {path} is missing or malformed; expected {what}")
    return value


def pull_request_of(event: Any, source: str) -> PullRequest:
    number = _get(event, "pull_request.number")
    if type(number) is not int or number <= 0:
        raise AlmError(
            f"{source}: pull_request.number is missing or malformed; expected a positive integer "
            "(a pull_request webhook payload)"
        )
    return PullRequest(
        number=number,
        head_sha=_field(event, "pull_request.head.sha", _SHA, "40 hex digits", source),
        base_sha=_field(event, "pull_request.base.sha", _SHA, "40 hex digits", source),
        repository=_field(event, "repository.full_name", _REPOSITORY, "owner/name", source),
        author=_field(event, "pull_request.user.login", _LOGIN, "a GitHub login", source),
    )
