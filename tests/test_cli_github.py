"""`alm github pr` / `alm github deployed` as a user runs them: exit codes, messages, and
the token never shown, whatever happens (also with -v and on errors)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.plan import model
from tests.cli import run, run_process
from tests.github_server import GitHubServer
from tests.github_support import (
    HEAD,
    TOKEN,
    comment_bodies,
    env_for,
    pull_request_event,
    report_for,
    server,
    workflow_run_event,
    write_json,
)

_ = server


def _plan(tmp_path: Path, number: int = 2, head: str = HEAD) -> str:
    path = write_json(tmp_path / "plan.json", model.to_json(report_for(number=number, head=head)))
    return str(path)


def _process_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return {**env, **extra}


def test_pr_in_its_own_process_posts_and_never_shows_the_token(
    server: GitHubServer, tmp_path: Path
) -> None:
    env = _process_env(env_for(server, tmp_path, "pull_request", pull_request_event()))
    done = run_process(None, "-v", "github", "pr", "--report", _plan(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    assert "PR #2: comment created; alm/gate failure" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert len(comment_bodies(server)) == 1
    assert server.requests[0].headers["authorization"] == f"token {TOKEN}"


def test_refused_artifact_exits_1_without_the_token(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in env_for(server, tmp_path, "workflow_run", workflow_run_event()).items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "-v", "github", "pr", "--report", _plan(tmp_path, 99, HEAD))
    assert code == 1 and "refused: pull request #99 does not exist" in err
    assert TOKEN not in out + err


def test_bad_credentials_exit_1_with_the_reason_not_the_token(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in env_for(server, tmp_path, "pull_request", pull_request_event()).items():
        monkeypatch.setenv(name, value)
    wrong = TOKEN + "-revoked"
    monkeypatch.setenv("GITHUB_TOKEN", wrong)
    code, out, err = run(capsys, "-v", "github", "pr", "--report", _plan(tmp_path))
    assert code == 1 and "GitHub API: HTTP 401 (Bad credentials)" in err
    assert wrong not in out + err and TOKEN not in out + err


@pytest.mark.parametrize("missing", ["GITHUB_TOKEN", "GITHUB_REPOSITORY"])
def test_missing_variable_is_a_usage_error_naming_it(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], missing: str,
) -> None:  # fmt: skip
    for name, value in env_for(server, tmp_path, "pull_request", pull_request_event()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    code, out, err = run(capsys, "github", "pr", "--report", _plan(tmp_path))
    assert code == 2 and f"{missing} is not set" in err
    assert TOKEN not in out + err and server.requests == []


def test_report_is_required_and_an_invalid_one_is_refused(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in env_for(server, tmp_path, "pull_request", pull_request_event()).items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "github", "pr")
    assert code == 2 and "--report is required" in err
    bad = write_json(tmp_path / "bad.json", {"schema_version": 1, "kind": "PlanReport"})
    code, _, err = run(capsys, "github", "pr", "--report", str(bad))
    assert code == 1 and "not a valid plan report" in err
    assert server.requests == []


def test_unknown_event_is_a_usage_error(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in env_for(server, tmp_path, "push", {"after": HEAD}).items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "github", "pr", "--report", _plan(tmp_path))
    assert code == 2 and "GITHUB_EVENT_NAME=push" in err
    assert server.requests == []
