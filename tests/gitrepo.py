"""Real git repositories in temporary folders, driven with the git CLI."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FLEET_FOLDERS = ("agents", "policies", "evals")

_ENV = {
    "GIT_AUTHOR_NAME": "alm tests",
    "GIT_AUTHOR_EMAIL": "tests@alm.invalid",
    "GIT_COMMITTER_NAME": "alm tests",
    "GIT_COMMITTER_EMAIL": "tests@alm.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class GitRepo:
    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        env = {**os.environ, **_ENV, "HOME": str(self.path)}
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return done.stdout.strip()

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text(encoding="utf-8")

    def replace(self, rel: str, old: str, new: str, count: int = 1) -> None:
        text = self.read(rel)
        assert old in text, f"{old!r} not in {rel}"
        self.write(rel, text.replace(old, new, count))

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def _new_repo(path: Path, with_fleet: bool) -> GitRepo:
    path.mkdir(parents=True, exist_ok=True)
    repo = GitRepo(path)
    repo.git("init", "-q", "-b", "main")
    if with_fleet:
        for folder in FLEET_FOLDERS:
            shutil.copytree(PROJECT / folder, path / folder)
        repo.commit("example fleet")
    return repo


_templates: dict[str, Path] = {}


def _remove_if_made_by(pid: int, root: Path) -> None:
    if os.getpid() == pid:  # a forked child that exits leaves its parent's template alone
        shutil.rmtree(root, ignore_errors=True)


def made_once(key: str, make: Callable[[Path], GitRepo], path: Path) -> GitRepo:
    """A copy at `path` (a new or empty folder) of the repository `make` builds, built once
    per process under `key`: git init, add and commit are four git processes (~90 ms), a
    copy is cp -a and one git update-index (~30 ms). The index is refreshed so that it is
    stat-clean for the copy's new inodes, as a fresh commit's is."""
    if key not in _templates:
        root = Path(tempfile.mkdtemp(prefix="alm-test-repo-"))
        atexit.register(_remove_if_made_by, os.getpid(), root)
        _templates[key] = make(root / "repo").path
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", f"{_templates[key]}/.", str(path)], check=True)
    repo = GitRepo(path)
    repo.git("update-index", "-q", "--refresh")
    return repo


def init_repo(path: Path, with_fleet: bool = True) -> GitRepo:
    """A new git repository holding a copy of the example fleet, committed once."""
    if with_fleet and not (path.exists() and any(path.iterdir())):
        return made_once("fleet", lambda at: _new_repo(at, True), path)
    return _new_repo(path, with_fleet)  # what is already in `path` is committed with it


def deploy_repo(path: Path, environments: str, message: str, who: str = "Dev One") -> GitRepo:
    """The example fleet with `environments` as policies/environments.yaml, deploy state
    (.alm/) kept out of git as a checkout keeps it, and a git user who deploys."""
    repo = init_repo(path)
    repo.write("policies/environments.yaml", environments)
    repo.write(".gitignore", ".alm/\n")
    repo.git("config", "user.name", who)
    repo.git("config", "user.email", f"{who.split()[0].lower()}@example.com")
    repo.commit(message)
    return repo


# one environment, dev, deployed to a folder, with no gate: the fleet most deploy tests need
DEV_ON_A_DIRECTORY = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: .alm/deployments/dev}
    gates: {previous_environment: false, evals_pass: false}
"""


def drop_cassettes(repo: GitRepo) -> None:
    """Remove the example fleet's shipped cassettes (for tests of recording or of misses)."""
    for cassette in (repo.path / "evals").glob("*/cassettes/*.json"):
        cassette.unlink()
