"""alm apply and alm audit with every environment's audit log on a git branch, as on
GitHub-hosted runners: a local bare repository is origin, and each "runner" is a fresh
clone with nothing on its disk. The chain continues across clones, the previous
environment's live state is read from the deployments branch, and tampering pushed to
the audit branch is found by `alm audit verify` with its line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo, init_repo
from tests.test_cli_deploy import AGENT_FILE

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: git}
    audit: {store: git}
    gates: {previous_environment: false, evals_pass: false}
  - name: staging
    target: {type: git}
    audit: {store: git, branch: alm/audit}
    gates: {previous_environment: true, evals_pass: false}
"""


def _bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    subprocess.run(
        ["git", "-C", str(path), "config", "receive.denyNonFastForwards", "true"], check=True
    )
    return path


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return _bare(tmp_path / "origin.git")


@pytest.fixture
def repo(tmp_path: Path, origin: Path) -> GitRepo:
    made = init_repo(tmp_path / "repo")
    made.write("policies/environments.yaml", ENVIRONMENTS)
    made.commit("every environment on branches")
    made.git("remote", "add", "origin", str(origin))
    made.git("push", "-q", "origin", "main")
    return made


def runner(origin: Path, path: Path) -> GitRepo:
    """A new runner: a fresh clone of origin, nothing else on its disk."""
    subprocess.run(["git", "clone", "-q", str(origin), str(path)], check=True, capture_output=True)
    return GitRepo(path)


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def on_origin(origin: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(origin), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_apply_records_on_the_audit_branch_and_verify_reads_it(capsys, repo, origin) -> None:
    code, _, err = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0, err
    assert not (repo.path / ".alm" / "audit").exists()  # nothing kept in the checkout
    assert on_origin(origin, "ls-tree", "--name-only", "alm/audit") == "dev.jsonl\ndev.jsonl.head"
    code, out, _ = alm(capsys, repo, "audit", "verify")
    assert code == 0
    assert "ok: git origin branch alm/audit: dev.jsonl: 8 records, the chain holds" in out
    code, out, _ = alm(capsys, repo, "audit", "log", "--env", "dev")
    assert code == 0 and len(out.splitlines()) == 8


def test_the_chain_and_the_live_state_carry_over_to_a_new_runner(
    capsys, repo, origin, tmp_path
) -> None:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    second = runner(origin, tmp_path / "second")
    code, out, err = alm(capsys, second, "apply", "--env", "staging")
    assert code == 0, err
    assert " 0 held" in out and "created" in out  # dev's live state: from alm/deployments
    second.replace(AGENT_FILE, "temperature: 0,", "temperature: 0.3,")
    second.commit("support-triage: warmer")
    second.git("push", "-q", "origin", "main")
    third = runner(origin, tmp_path / "third")
    code, _, err = alm(capsys, third, "apply", "--env", "dev")
    assert code == 0, err
    code, out, _ = alm(capsys, third, "audit", "verify")
    assert code == 0
    assert "dev.jsonl: 10 records, the chain holds" in out  # 8, then one update: 2 more
    assert "staging.jsonl: 8 records, the chain holds" in out
    log = on_origin(origin, "log", "--format=%s", "alm/audit").splitlines()
    assert len(log) == 6 and on_origin(origin, "rev-list", "--merges", "alm/audit") == ""


@pytest.mark.parametrize("edit", ["edit", "remove"])
def test_tampering_pushed_to_the_audit_branch_is_found(
    capsys, repo, origin, tmp_path, edit
) -> None:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    work = runner(origin, tmp_path / "work")
    work.git("checkout", "-q", "alm/audit")
    lines = (work.path / "dev.jsonl").read_bytes().splitlines(keepends=True)
    if edit == "edit":
        lines[1] = lines[1].replace(b'"started"', b'"ok"')
    else:
        del lines[1]
    work.write("dev.jsonl", b"".join(lines))
    work.commit("tidy the audit log")
    work.git("push", "-q", "origin", "alm/audit")
    code, out, err = alm(capsys, repo, "audit", "verify", "--env", "dev")
    assert code == 1
    assert "line 2:" in err and "FAILED: git origin branch alm/audit: dev.jsonl: line 2" in out
