"""alm ops simulate --hours or --tasks-per-hour out of range (NaN, infinite, past a year or
10,000 tasks an hour): a usage error (exit 2) before anything runs, not
an OverflowError (exit 4, 1e300 hours) or a generation that never ends (1e9 hours)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo


@pytest.mark.parametrize("hours", ["1e300", "1e9", "8784.5", "0", "nan"])
def test_hours_out_of_range_is_a_usage_error(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], hours: str
) -> None:
    out = tmp_path / "t.jsonl"
    code, _, err = run(capsys, "-C", str(fleet_repo.path), "ops", "simulate", "--out", str(out),
                       "--env", "dev", "--hours", hours)  # fmt: skip
    assert code == 2, err
    assert "Invalid value for '--hours'" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("rate", ["nan", "inf", "1e12"])
def test_tasks_per_hour_out_of_range_is_a_usage_error(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: str
) -> None:
    out = tmp_path / "t.jsonl"
    code, _, err = run(capsys, "-C", str(fleet_repo.path), "ops", "simulate", "--out", str(out),
                       "--env", "dev", "--hours", "1", "--tasks-per-hour", rate)  # fmt: skip
    assert code == 2, err
    assert "Invalid value for '--tasks-per-hour'" in err and "Traceback" not in err
    assert not out.exists()
