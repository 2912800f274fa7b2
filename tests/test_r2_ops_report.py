"""alm ops report given a hostile --out or --env: a file where the folder goes is a usage
error naming it (it was an unexpected FileExistsError or NotADirectoryError, exit 4), and
an --env that no environment is named (a typo) is refused as ops check refuses it, instead
of reading no task and writing an empty report with exit 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.test_cli_ops_report import alm, db, repo

__all__ = ["db", "repo"]  # the fixtures, shared with tests/test_cli_ops_report.py


@pytest.mark.parametrize("below", ["", "sub"], ids=["the-file", "a-folder-in-it"])
def test_an_out_that_is_a_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, db: Path, tmp_path: Path, below: str
) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("mine\n")
    out = taken / below if below else taken
    code, stdout, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                            "--format", "json", "--out", str(out))  # fmt: skip
    assert code == 2, stdout + err
    what = "a file" if not below else f"{taken} is a file"
    assert f"--out {out}: {what}; expected a folder, or - to print" in err
    assert "Traceback" not in err and "unexpected" not in err
    assert taken.read_text() == "mine\n"


def test_an_unknown_environment_is_a_usage_error_not_an_empty_report(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, db: Path
) -> None:
    base = ("ops", "report", "--db", str(db), "--hours", "3", "--format", "json", "--out", "-")
    code, stdout, err = alm(capsys, repo, *base, "--env", "prdo")
    assert code == 2 and stdout == ""
    assert "unknown environment 'prdo'; expected one of " in err and "prod" in err
    code, stdout, err = alm(capsys, repo, *base, "--env", "prod")
    assert code == 0, err
    assert json.loads(stdout)["total"]["tasks"] > 0
