"""The revert pull request of `alm rollback --open-pr`: a real bare repository as origin,
a real checkout, the git CLI, and the local GitHub server for the pull request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.errors import AlmError
from reconciler.github import api_deploy, revert
from tests.github_server import GitHubServer
from tests.github_support import REPO, TOKEN, env_for, server
from tests.gitrepo import GitRepo

_ = server
OWNER = REPO.split("/")[0]
BAD, GOOD = "sha256:" + "b" * 64, "sha256:" + "a" * 64
AGENT_FILE = "agents/support-triage/agent.yaml"


def _origin(tmp: Path) -> tuple[Path, GitRepo, str]:
    """origin (bare, branch master), a checkout with a base commit and the bad change."""
    bare = tmp / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "master", str(bare)], check=True)
    repo = GitRepo(tmp / "checkout")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "master")
    repo.git("remote", "add", "origin", str(bare))
    repo.write(AGENT_FILE, "model: good\n")
    repo.commit("base")
    repo.write(AGENT_FILE, "model: bad\n")
    bad = repo.commit("support-triage: a cheaper model")
    repo.git("push", "-q", "origin", "master")
    return bare, repo, bad


def _api(gh: GitHubServer, tmp: Path, bare: Path) -> api_deploy.Api:
    gh.git_remote = bare
    _, api = api_deploy.session(env_for(gh, tmp, "workflow_dispatch", {}))
    api.retry.sleep = lambda _: None
    return api


def _show(bare: Path, *args: str) -> str:
    done = subprocess.run(["git", "--git-dir", str(bare), *args], capture_output=True, text=True)
    return done.stdout.strip()


def test_a_revert_branch_is_pushed_and_one_pull_request_opened(
    server: GitHubServer, tmp_path: Path
) -> None:
    bare, repo, bad = _origin(tmp_path)
    api = _api(server, tmp_path, bare)
    req = revert.Request("support-triage", "prod", bad, BAD, GOOD)
    repo.write("local-work.txt", "uncommitted\n")  # the user's work is not touched

    opened = revert.open_pull(api, OWNER, req, repo.path)

    assert opened.created and opened.url.endswith(f"/pull/{opened.number}")
    branch = f"refs/heads/{req.branch}"
    assert _show(bare, "show", f"{branch}:{AGENT_FILE}") == "model: good"
    assert _show(bare, "rev-parse", f"{branch}^") == bad  # on the tip of master
    assert f"This reverts commit {bad}" in _show(bare, "log", "-1", "--format=%B", branch)
    pull = server.pull(REPO, opened.number)
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (req.branch, "master")
    assert pull["head"]["sha"] == _show(bare, "rev-parse", branch)
    for named in ("**support-triage**", "**prod**", BAD, GOOD, bad, "alm unpin support-triage"):
        assert named in pull["body"]
    assert repo.git("status", "--porcelain") == "?? local-work.txt"
    assert repo.git("worktree", "list").count("\n") == 0  # the temporary worktree is gone

    again = revert.open_pull(api, OWNER, req, repo.path)
    assert again == api_deploy.Opened(opened.number, opened.url, created=False)
    assert len(server.requests_to("POST", rf"/repos/{REPO}/pulls$")) == 1


def test_a_merge_commit_is_reverted_against_its_first_parent(
    server: GitHubServer, tmp_path: Path
) -> None:
    bare, repo, _ = _origin(tmp_path)
    repo.git("checkout", "-q", "-b", "change", "HEAD~1")
    repo.write("agents/faq/agent.yaml", "model: new\n")
    repo.commit("faq: new agent")
    repo.git("checkout", "-q", "master")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #9", "change")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "master")
    req = revert.Request("faq", "dev", merge, BAD, GOOD)
    revert.open_pull(_api(server, tmp_path, bare), OWNER, req, repo.path)
    files = _show(bare, "ls-tree", "-r", "--name-only", f"refs/heads/{req.branch}")
    assert files.split() == [AGENT_FILE]


def test_a_revert_that_conflicts_pushes_nothing(server: GitHubServer, tmp_path: Path) -> None:
    bare, repo, bad = _origin(tmp_path)
    repo.write(AGENT_FILE, "model: worse\n")
    repo.commit("a later change to the same line")
    repo.git("push", "-q", "origin", "master")
    req = revert.Request("support-triage", "prod", bad, BAD, GOOD)
    with pytest.raises(AlmError, match=f"{bad[:12]} does not revert cleanly on master"):
        revert.open_pull(_api(server, tmp_path, bare), OWNER, req, repo.path)
    assert _show(bare, "branch", "--list", "alm/*") == ""
    assert server.requests_to("POST", r"/pulls$") == []
    assert repo.git("worktree", "list").count("\n") == 0


def test_bad_input_is_refused_before_any_git_or_api_call(
    server: GitHubServer, tmp_path: Path
) -> None:
    bare, repo, bad = _origin(tmp_path)
    api = _api(server, tmp_path, bare)
    for req, what in [
        (revert.Request("x", "prod", "--upload-pack=evil", BAD, GOOD), "commit"),
        (revert.Request("X Y", "prod", bad, BAD, GOOD), "agent"),
        (revert.Request("x", "prod", bad, "sha256:zz", GOOD), "bad revision"),
    ]:
        with pytest.raises(AlmError, match=f"revert PR: {what} "):
            revert.open_pull(api, OWNER, req, repo.path)
    assert server.requests == []


def test_push_credentials_travel_in_the_environment_only() -> None:
    env = revert.push_env(TOKEN, "https://github.com/")
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("AUTHORIZATION: basic ")
    assert TOKEN not in env["GIT_CONFIG_VALUE_0"] and revert.push_env(None, "x") == {}
