"""The files alm eval, alm eval merge and alm plan write (--out, --json, --html): a path
that cannot be written is a usage error naming the option, never an unexpected error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo

AGENT = "email-drafting"


def _blocked(tmp_path: Path) -> Path:
    """A path under a regular file: no folder can be made there, whoever runs the test."""
    wall = tmp_path / "a-file"
    wall.write_text("not a folder\n", "utf-8")
    return wall / "results.json"


def test_eval_out_that_cannot_be_written_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = _blocked(tmp_path)
    code, _, err = run(
        capsys, "-C", str(fleet_repo.path), "eval", "--agent", AGENT, "--out", str(target)
    )
    assert code == 2, err
    assert f"alm: --out {target}: cannot write it (" in err
    assert "unexpected" not in err


def test_an_empty_out_is_refused_before_anything_runs(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "-C", str(fleet_repo.path), "eval", "--out", "")
    assert code == 2
    assert "expected the path of a file to write; got an empty one" in err
    assert "trials" not in err and out == ""  # refused while parsing: nothing ran


def test_merge_out_that_cannot_be_written_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results = tmp_path / "r.json"
    run(capsys, "-C", str(fleet_repo.path), "eval", "--agent", AGENT, "--out", str(results))
    target = _blocked(tmp_path)
    code, _, err = run(capsys, "eval", "merge", str(results), "--out", str(target))
    assert code == 2 and f"alm: --out {target}: cannot write it (" in err


@pytest.mark.parametrize("option", ["--out", "--json", "--html"])
def test_plan_outputs_that_cannot_be_written_name_their_option(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str
) -> None:
    target = _blocked(tmp_path)
    code, _, err = run(
        capsys, "-C", str(fleet_repo.path), "plan", "--base", "HEAD", option, str(target)
    )
    assert code == 2, err
    assert f"alm: {option} {target}: cannot write it (" in err
    code, _, err = run(capsys, "-C", str(fleet_repo.path), "plan", "--base", "HEAD", option, "")
    assert code == 2 and "got an empty one" in err
