"""`alm github pr` in its own process when GitHub's rate limit is spent: a limit that lifts
later than the retries could wait fails at once, saying when it resets (exit 1, a GitHub
answer with its reason, as DESIGN.md's "invalid input or gate failed" and every other
refusal of the GitHub side), while a short one is still waited for."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.plan import model
from tests import github_shapes
from tests.cli import run_process
from tests.github_http import Recorded, Reply
from tests.github_server import GitHubServer
from tests.github_support import (
    TOKEN,
    comment_bodies,
    env_for,
    pull_request_event,
    report_for,
    server,
    write_json,
)

_ = server
LIMITED = "API rate limit exceeded for installation ID 123."


def _limited(reset: float, times: int) -> tuple[list[int], Callable[[Recorded], Reply | None]]:
    answered: list[int] = []

    def hook(r: Recorded) -> Reply | None:
        if len(answered) >= times:
            return None
        answered.append(1)
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset))}
        return 403, github_shapes.error(403, LIMITED), headers

    return answered, hook


def _run(gh: GitHubServer, tmp: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(env_for(gh, tmp, "pull_request", pull_request_event()))
    plan = write_json(tmp / "plan.json", model.to_json(report_for()))
    done = run_process(None, "github", "pr", "--report", str(plan), env=env)
    return done.returncode, done.stdout, done.stderr


def test_a_limit_resetting_in_an_hour_fails_at_once_saying_when(
    server: GitHubServer, tmp_path: Path
) -> None:
    reset = time.time() + 3600
    answered, hook = _limited(reset, 1_000)
    server.hooks.append(hook)
    code, out, err = _run(server, tmp_path)
    at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(reset)))
    assert code == 1, err
    assert f"GitHub API: HTTP 403 ({LIMITED}); the token's rate limit resets at {at}" in err
    assert "not retried" in err and "Traceback" not in err and TOKEN not in out + err
    assert len(answered) == 1  # one request, no retry
    assert comment_bodies(server) == []


def test_a_limit_resetting_now_is_retried_and_the_comment_posted(
    server: GitHubServer, tmp_path: Path
) -> None:
    answered, hook = _limited(time.time() - 1, 1)  # reset already: retried after 0 s
    server.hooks.append(hook)
    code, out, err = _run(server, tmp_path)
    assert code == 0, err
    assert "retrying in 0 s" in err and "comment created" in out
    assert len(answered) == 1 and len(comment_bodies(server)) == 1
