"""alm ops report and what a pull request may have put under .alm/ops/report/: a file there
that git tracks is the pull request's, never a report a run of alm wrote, so the default
folder refuses it (as the trace store, the lock and the audit log refuse theirs) instead
of overwriting it; --out DIR, the user's own choice, still writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo, init_repo
from tests.test_cli_ops_report import alm, db

_ = db
FORGED = "<h1>the pull request's page</h1>\n"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "repo")


@pytest.mark.parametrize("committed", ["report.html", "cost-trend.png"])
def test_a_committed_report_is_refused_not_overwritten(capsys, repo, db, committed) -> None:
    path = f".alm/ops/report/{committed}"
    repo.write(path, FORGED)
    repo.git("add", "-f", path)
    repo.commit("a report in the pull request")
    code, stdout, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                            "--format", "html")  # fmt: skip
    assert code == 1, stdout + err
    assert f"alm: {path}: the ops report is committed to the repository" in err
    assert "git rm -r --cached .alm/ops/report" in err and "--out DIR" in err
    assert "Traceback" not in err
    assert repo.read(path) == FORGED
    assert sorted(p.name for p in (repo.path / ".alm/ops/report").iterdir()) == [committed]


def test_the_same_files_untracked_are_rewritten(capsys, repo, db, tmp_path) -> None:
    repo.write(".alm/ops/report/report.html", FORGED)  # .alm/ is ignored: alm's own
    code, _, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                       "--format", "html")  # fmt: skip
    assert code == 0, err
    assert repo.read(".alm/ops/report/report.html") != FORGED
    repo.git("add", "-f", ".alm/ops/report/report.html")
    repo.commit("now committed")
    out = tmp_path / "elsewhere"
    code, _, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                       "--format", "html", "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(
    "window",
    [
        ("--since", "0001-01-01T00:00:00+01:00", "--until", "9999-12-31T23:59:59-06:00"),
        ("--since", "999999w"),
        ("--hours", "1e15"),
    ],
)
def test_a_window_past_what_the_store_holds_reads_all_of_it(capsys, repo, db, window) -> None:
    code, stdout, err = alm(capsys, repo, "ops", "report", "--db", str(db), *window,
                            "--format", "json", "--out", "-")  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["total"]["tasks"] == 52
