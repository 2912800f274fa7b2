"""The git target with real repositories: `<env>/<agent>.json` on alm/deployments, one
commit per batch, a push rejected by a concurrent push retried from a fresh fetch with
nothing lost and nothing forced, and this repository's own branch by default."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.deploy.model import Conflict
from reconciler.deploy.targets import Write
from reconciler.deploy.targets.git import GitTarget, open_git
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment
from tests.registry_support import make_bundle
from tests.test_deploy_targets import GIT_ENV

BRANCH = "refs/heads/alm/deployments"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _remote(tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    return remote


def _open(root: Path, target: dict[str, str]) -> GitTarget:
    env = Environment.model_validate({"name": "staging", "target": {"type": "git", **target}})
    return open_git(env, root, {**GIT_ENV, "HOME": str(root)})


def test_a_batch_is_one_commit_of_env_agent_json_on_the_branch(tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    target = _open(tmp_path / "a", {"repository": str(remote)})
    writes = [
        Write(f"agent-{i}", make_bundle(f"agent-{i}", "staging", i=i), None) for i in range(5)
    ]
    assert target.write_many(writes).ok
    assert _git(remote, "rev-list", "--count", BRANCH) == "1"
    files = _git(remote, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert files == [f"staging/agent-{i}.json" for i in range(5)]
    shown = _git(remote, "show", f"{BRANCH}:staging/agent-3.json")
    assert '"revision": "' + writes[3].bundle.revision in shown  # type: ignore[union-attr]


def test_a_rejected_push_is_retried_from_a_fresh_fetch_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    remote = _remote(tmp_path)
    one = _open(tmp_path / "one", {"repository": str(remote)})
    two = _open(tmp_path / "two", {"repository": str(remote)})
    base = one.put(make_bundle("shared", "staging", v=0), None)
    pushed_by_two: list[str] = []
    real_refresh = one.refresh

    def refresh_then_two_pushes() -> str | None:
        tip = real_refresh()
        if not pushed_by_two:  # between one's fetch and one's push, two pushes
            two.put(make_bundle("from-two", "staging"), None)
            pushed_by_two.append(_git(remote, "rev-parse", BRANCH))
        return tip

    one.refresh = refresh_then_two_pushes  # type: ignore[method-assign]
    result = one.write_many([Write("from-one", make_bundle("from-one", "staging"), None)])
    assert result.ok
    live = two.read_all()
    assert set(live) == {"shared", "from-two", "from-one"} and live["shared"] == base
    # two's commit is an ancestor of the tip: nothing was force-pushed over it
    ancestor = subprocess.run(
        ["git", "-C", str(remote), "merge-base", "--is-ancestor", pushed_by_two[0], BRANCH]
    )
    assert ancestor.returncode == 0
    assert _git(remote, "rev-list", "--count", BRANCH) == "3"


def test_the_same_agent_changed_by_a_concurrent_push_is_a_conflict(tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    one = _open(tmp_path / "one", {"repository": str(remote)})
    two = _open(tmp_path / "two", {"repository": str(remote)})
    read = one.put(make_bundle("shared", "staging", v=0), None)
    kept = two.put(make_bundle("shared", "staging", v=2), two.read("shared"))
    with pytest.raises(Conflict):
        one.put(make_bundle("shared", "staging", v=1), read)
    assert one.read("shared") == kept


def test_by_default_the_branch_of_this_repository_moves_locally(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    target = _open(repo, {})
    target.put(make_bundle("one", "staging"), None)
    assert _git(repo, "ls-tree", "-r", "--name-only", BRANCH) == "staging/one.json"
    assert _git(repo, "status", "--porcelain") == ""  # no work tree touched


def test_by_default_the_branch_is_pushed_to_origin_when_there_is_one(tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _git(repo, "remote", "add", "origin", str(remote))
    _open(repo, {"branch": "deploys"}).put(make_bundle("one", "staging"), None)
    assert _git(remote, "ls-tree", "-r", "--name-only", "refs/heads/deploys") == "staging/one.json"


@pytest.mark.parametrize(
    "repository", ["ext::sh -c touch% /tmp/pwned", "--upload-pack=x", "ftp://h/r"]
)
def test_a_repository_that_is_not_a_path_or_git_url_is_refused(
    tmp_path: Path, repository: str
) -> None:
    with pytest.raises(AlmError, match="expected"):
        _open(tmp_path, {"repository": repository})


def test_history_comes_from_the_branch_log(tmp_path: Path) -> None:
    target = _open(tmp_path / "a", {"repository": str(_remote(tmp_path))})
    first = target.put(make_bundle("one", "staging", v=1), None)
    second = target.put(make_bundle("one", "staging", v=2), first)
    target.delete("one", second)
    history = target.history("one")
    assert [(h.revision, h.deleted) for h in history] == [
        (first.bundle.revision, False),
        (second.bundle.revision, False),
        (second.bundle.revision, True),
    ]
    assert history[0].bundle == first.bundle


def test_versions_are_read_all_s_without_reading_a_bundle(tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    target = _open(tmp_path / "a", {"repository": str(remote)})
    assert target.versions() == {}
    live = target.put(make_bundle("one", "staging"), None)
    target.put(make_bundle("two", "staging"), None)
    found = target.versions()
    assert found == {agent: entry.version for agent, entry in target.read_all().items()}
    assert found["one"] == live.version  # what a write returns: the memo's versions
