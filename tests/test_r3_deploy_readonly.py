"""alm apply --dry-run, status, drift and audit verify on a read-only checkout (a real
read-only bind mount in a private mount namespace): they write nothing, so they run.
Before, the dry run failed creating .alm/ for the environment lock (exit 4, or exit 1
once .alm/locks/<env>.lock existed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli import PYTHON_M_ALM, run_process
from tests.gitrepo import DEV_ON_A_DIRECTORY, GitRepo, deploy_repo
from tests.readonly import read_only_mount

ENVIRONMENTS = DEV_ON_A_DIRECTORY


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return deploy_repo(tmp_path / "repo", ENVIRONMENTS, "dev on a directory", "Dev One")


def _read_only(repo: GitRepo, *args: str) -> tuple[int, str, str]:
    done = run_process(repo.path, *args, program=[*read_only_mount(repo.path), *PYTHON_M_ALM])
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def test_a_dry_run_of_a_fresh_read_only_checkout_plans_and_writes_nothing(repo: GitRepo) -> None:
    code, out, err = _read_only(repo, "apply", "--env", "dev", "--dry-run")
    assert code == 0, err
    assert "plan: 4 create" in out and out.endswith("dry run: nothing applied\n")
    lock = repo.path / ".alm" / "locks" / "dev.lock"
    said = (
        f"alm: dry run without the lock of dev: {lock} does not exist yet (no apply has "
        "locked dev here); an apply running meanwhile may make this plan stale"
    )
    assert said in err
    assert not (repo.path / ".alm").exists()


def test_after_an_apply_the_read_only_checkout_is_inspected_and_planned(repo: GitRepo) -> None:
    applied = run_process(repo.path, "apply", "--env", "dev")
    assert applied.returncode == 0, applied.stderr
    repo.replace("agents/support-triage/agent.yaml", "temperature: 0,", "temperature: 0.2,")
    repo.commit("support-triage: warmer")
    before = sorted((p, p.stat().st_mtime_ns) for p in (repo.path / ".alm").rglob("*"))
    code, out, err = _read_only(repo, "apply", "--env", "dev", "--dry-run")
    assert code == 0, err
    assert "update    support-triage" in out and "plan: 0 create, 1 update" in out
    assert "without the lock" not in err  # the lock file exists: it was taken, shared
    code, out, err = _read_only(repo, "status", "--env", "dev")
    assert code == 0, err
    assert "3 Synced, 1 OutOfSync, 0 Missing, 0 Pinned" in out
    code, out, err = _read_only(repo, "drift", "--env", "dev")
    assert code == 3, err  # the live revision is not what git now says: drift, read
    assert "support-triage" in out and "invoice-processing" not in out
    code, out, err = _read_only(repo, "audit", "verify")
    assert code == 0, err
    assert "dev.jsonl: 8 records, the chain holds" in out
    assert sorted((p, p.stat().st_mtime_ns) for p in (repo.path / ".alm").rglob("*")) == before


def test_a_git_target_on_a_read_only_checkout_says_why_it_cannot_be_read(
    tmp_path: Path,
) -> None:
    """A git target is read by fetching its branch into the repository's .git: on a
    read-only checkout that cannot work, and the error says so instead of git's words."""
    git_env = ENVIRONMENTS.replace(
        "target: {type: directory, path: .alm/deployments/dev}",
        "target: {type: git, branch: alm/deployments}",
    )
    repo = deploy_repo(tmp_path / "git-repo", git_env, "dev on a branch", "Dev One")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(origin)], check=True)
    repo.git("remote", "add", "origin", str(origin))
    applied = run_process(repo.path, "apply", "--env", "dev")
    assert applied.returncode == 0, applied.stderr
    code, out, err = _read_only(repo, "status", "--env", "dev")
    assert code == 1, out + err
    assert "alm reads branch alm/deployments by fetching it into " in err
    assert "which must be writable (also for a dry run, status, drift and audit)" in err
