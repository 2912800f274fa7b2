"""alm audit verify / log with an --env that names nothing, and a log line that is not a
record: real repositories, the real local audit log."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import DEV_ON_A_DIRECTORY, GitRepo, deploy_repo

ENVIRONMENTS = DEV_ON_A_DIRECTORY


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return deploy_repo(tmp_path / "repo", ENVIRONMENTS, "one directory environment")


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


@pytest.mark.parametrize("command", ["verify", "log"])
@pytest.mark.parametrize("name", ["prdo", "../../elsewhere"])
def test_an_environment_that_names_nothing_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, command: str, name: str
) -> None:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    code, out, err = alm(capsys, repo, "audit", command, "--env", name)
    assert code == 2, out  # without the fix: 0, "no audit log: nothing recorded"
    assert f"unknown environment {name!r}; expected one of dev" in err


def test_the_log_of_an_environment_since_removed_is_still_read(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    folder = repo.path / ".alm" / "audit"
    for suffix in ("", ".head"):
        shutil.copy(folder / f"dev.jsonl{suffix}", folder / f"old.jsonl{suffix}")
    code, out, _ = alm(capsys, repo, "audit", "verify", "--env", "old")
    assert code == 0 and "old.jsonl: 8 records, the chain holds" in out
    code, out, _ = alm(capsys, repo, "audit", "log", "--env", "old")
    assert code == 0 and "create dev/support-triage" in out


def test_audit_log_names_the_file_of_a_line_that_is_not_a_record(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    log = repo.path / ".alm" / "audit" / "dev.jsonl"
    log.write_bytes(log.read_bytes() + b"garbage\n")
    code, _, err = alm(capsys, repo, "audit", "log", "--env", "dev")
    assert code == 1
    assert f"{log}: line 9: not a JSON object" in err
