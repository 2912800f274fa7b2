"""reconciler.plan.event: the pull request of a real `pull_request` webhook payload, and
a clear error for each field a crafted payload gets wrong."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import AlmError
from reconciler.plan.event import pull_request_of

EVENT: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "github" / "pull_request.synchronize.json").read_text(
        "utf-8"
    )
)


def test_a_real_payload_gives_its_pull_request() -> None:
    pull = pull_request_of(EVENT, "event.json")
    pr = EVENT["pull_request"]
    assert pull.number == EVENT["number"] == pr["number"]
    assert (pull.head_sha, pull.base_sha) == (pr["head"]["sha"], pr["base"]["sha"])
    assert (pull.repository, pull.author) == (
        EVENT["repository"]["full_name"],
        pr["user"]["login"],
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("pull_request", "number"), 0, "pull_request.number is missing or malformed"),
        (("pull_request", "number"), "2", "expected a positive integer"),
        (("pull_request", "head", "sha"), "HEAD", "pull_request.head.sha"),
        (("pull_request", "base", "sha"), None, "pull_request.base.sha"),
        (("repository", "full_name"), "../../x", "repository.full_name"),
        (("pull_request", "user", "login"), "a b", "pull_request.user.login"),
        (("pull_request",), [], "pull_request.number"),
    ],
)
def test_a_malformed_field_is_named(path: tuple[str, ...], value: Any, expected: str) -> None:
    event = copy.deepcopy(EVENT)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(AlmError) as caught:
        pull_request_of(event, "event.json")
    assert caught.value.message.startswith("event.json: ")
    assert expected in caught.value.message
