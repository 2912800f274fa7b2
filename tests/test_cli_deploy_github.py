"""alm apply, drift and rollback on GitHub, against the local GitHub server (PyGithub,
real HTTP): who deployed comes from the merged pull request; --open-issue opens and
closes the drift issue; --open-pr without GitHub's variables is a usage error after the
rollback is done."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from reconciler.deploy import audit
from tests.cli import run
from tests.github_server import GitHubServer, load_payload
from tests.github_support import REPO, env_for, server, shapes_user
from tests.gitrepo import GitRepo
from tests.test_cli_deploy import AGENT, bundle_file, change_model
from tests.test_cli_deploy import repo as repo  # the fixture: two directory environments

_ = server


def merged_as(gh: GitHubServer, sha: str) -> None:
    """The fixture pull request #2, merged by `maintainer` as commit `sha`."""
    payload = copy.deepcopy(load_payload("pull_request.closed.json"))
    pull = payload["pull_request"]
    pull.update(merged=True, merged_at="2019-05-15T15:20:40Z", merge_commit_sha=sha)
    pull["merged_by"] = shapes_user("maintainer")
    gh.add_payload(payload)
    gh.add_review(REPO, 2, "alice", "APPROVED", pull["head"]["sha"])


def under_actions(
    monkeypatch: pytest.MonkeyPatch, gh: GitHubServer, tmp: Path, event: str = "push"
) -> None:
    for name, value in env_for(gh, tmp, event, {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "deploy-bot")


def test_apply_under_actions_records_the_pull_request_and_who_approved(
    capsys, repo: GitRepo, server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = repo.git("rev-parse", "HEAD")
    merged_as(server, head)
    under_actions(monkeypatch, server, tmp_path)
    code, _, err = run(capsys, "-C", str(repo.path), "apply", "--env", "dev")
    assert code == 0, err
    record = audit.entries(audit.audit_path(repo.path, "dev").read_bytes())[-1]
    assert (record["actor"], record["pull_request"], record["merged_by"]) == (
        "deploy-bot",
        2,
        "maintainer",
    )
    assert record["approved_by"] == ["alice"] and record["commit"] == head
    deployed = json.loads(bundle_file(repo, "dev").read_text())["deployment"]
    assert deployed["pull_request"] == 2 and deployed["by"] == "deploy-bot"


def test_drift_open_issue_opens_then_closes_it(
    capsys, repo: GitRepo, server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "-C", str(repo.path), "apply", "--env", "dev")
    path = bundle_file(repo, "dev")
    edited = json.loads(path.read_text())
    edited["content"]["model"]["params"]["temperature"] = 0.9
    path.write_text(json.dumps(edited))
    under_actions(monkeypatch, server, tmp_path, "schedule")
    code, out, _ = run(capsys, "-C", str(repo.path), "drift", "--env", "dev", "--open-issue")
    assert code == 3 and "dev: drift issue #3 opened" in out
    [issue] = server.issues(REPO)
    assert "edited in place outside alm" in issue["body"] and "0.9 on the target" in issue["body"]
    run(capsys, "-C", str(repo.path), "apply", "--env", "dev")  # repairs it
    code, out, _ = run(capsys, "-C", str(repo.path), "drift", "--env", "dev", "--open-issue")
    assert code == 0 and "dev: drift issue #3 closed" in out
    assert server.issues(REPO)[0]["state"] == "closed"


def test_rollback_open_pr_without_github_is_a_usage_error_after_the_rollback(
    capsys, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    run(capsys, "-C", str(repo.path), "apply", "--env", "dev")
    change_model(repo)
    run(capsys, "-C", str(repo.path), "apply", "--env", "dev")
    code, out, err = run(
        capsys, "-C", str(repo.path), "rollback", AGENT, "--env", "dev", "--open-pr"
    )
    assert "rolled back from" in out and "pinned" in out  # the rollback itself is done
    assert code == 2 and "GITHUB_" in err


def test_an_apply_with_nothing_to_record_asks_github_nothing(
    capsys, repo: GitRepo, server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged_as(server, repo.git("rev-parse", "HEAD"))
    under_actions(monkeypatch, server, tmp_path)
    assert run(capsys, "-C", str(repo.path), "apply", "--env", "dev")[0] == 0
    asked = len(server.requests)
    assert asked > 0  # who deployed: the merged pull request, its reviews
    code, out, _ = run(capsys, "-C", str(repo.path), "apply", "--env", "dev")
    assert code == 0 and "nothing to apply" in out
    assert len(server.requests) == asked


def test_rollback_open_pr_reverts_the_change_that_introduced_the_bad_revision(
    capsys, repo: GitRepo, server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "master", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main:master")
    run(capsys, "-C", str(repo.path), "apply", "--env", "dev")
    change_model(repo)
    bad = repo.git("rev-parse", "HEAD")
    repo.commit("an unrelated commit after it")  # the revert is of the change, not of HEAD
    repo.git("push", "-q", "origin", "main:master")
    run(capsys, "-C", str(repo.path), "apply", "--env", "dev")
    server.git_remote = bare
    under_actions(monkeypatch, server, tmp_path, "workflow_dispatch")
    code, out, err = run(
        capsys, "-C", str(repo.path), "rollback", AGENT, "--env", "dev", "--open-pr"
    )
    assert code == 0, err
    assert "revert pull request #" in out and "opened" in out
    [pull] = [p for p in server.state.pulls.values() if p["head"]["ref"].startswith("alm/revert/")]
    assert bad in pull["body"]
    branch = pull["head"]["ref"]
    reverted = subprocess.run(
        ["git", "--git-dir", str(bare), "show", f"{branch}:agents/{AGENT}/agent.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "temperature: 0," in reverted and "temperature: 0.3" not in reverted
