"""Classes 4 and 8, the result cache: corrupt databases are rebuilt, links out of the
repository and committed caches are refused, forged records are never results.

Each attack runs ``alm eval`` through the CLI entry point on a real git repository with
a real SQLite file at ``.alm/cache/evals.sqlite``.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.cli import PYTHON_M_ALM, run_process
from tests.gitrepo import GitRepo
from tests.readonly import read_only_mount

AGENT = "email-drafting"
TRIALS = 5
CACHE = ".alm/cache/evals.sqlite"


def _eval(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], out: Path, *args: str
) -> tuple[int, str]:
    code = main(["-C", str(repo.path), "eval", "--agent", AGENT, "--out", str(out), *args])
    stdout, stderr = capsys.readouterr()
    assert "unexpected error" not in stderr and "Traceback" not in stderr
    return code, stdout + stderr


def _statuses(out: Path) -> list[str]:
    return [c["status"] for c in json.loads(out.read_text("utf-8"))["cases"]]


def _rows(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM trials").fetchone()[0])


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage, not SQLite\xff" * 300)


def _corrupt_truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_shape(path: Path) -> None:
    path.unlink()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE trials (a TEXT, b TEXT)")


def _corrupt_folder(path: Path) -> None:
    path.unlink()
    (path / "inner").mkdir(parents=True)


CORRUPTIONS = {
    "garbage": (_corrupt_garbage, "file is not a database"),
    "truncated": (_corrupt_truncated, "database disk image is malformed"),
    "wrong-table": (_corrupt_shape, "table trials has columns a, b"),
    "a-folder": (_corrupt_folder, "unable to open database file"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_cache_is_moved_aside_and_rebuilt(
    fleet_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    corruption: str,
) -> None:
    corrupt, reason = CORRUPTIONS[corruption]
    code, _ = _eval(fleet_repo, capsys, tmp_path / "first.json")  # fills the cache
    db = fleet_repo.path / CACHE
    assert code == 0 and _rows(db) == TRIALS
    corrupt(db)
    broken = sorted(p.name for p in db.parent.iterdir())

    out = tmp_path / "r.json"
    code, printed = _eval(fleet_repo, capsys, out)
    assert code == 0 and _statuses(out) == ["passed"] * TRIALS
    assert f"{TRIALS} trials: {TRIALS} run, 0 from the cache" in printed  # none trusted
    (warning,) = [r.getMessage() for r in caplog.records if "result cache" in r.getMessage()]
    (aside,) = [p for p in db.parent.iterdir() if p.name.startswith("evals.sqlite.corrupt-")]
    assert warning == (
        f"warning: the result cache {CACHE} is unusable ({reason}); "
        f"moved it aside to {aside.name} and started a new one"
    )
    assert aside.name.startswith("evals.sqlite.corrupt-") and "evals.sqlite" in broken
    assert _rows(db) == TRIALS  # rebuilt, and filled again


def test_the_warning_is_one_line_on_stderr(fleet_repo: GitRepo, tmp_path: Path) -> None:
    """What a user sees, from the real command in a subprocess (no test logging)."""
    db = fleet_repo.path / CACHE
    db.parent.mkdir(parents=True)
    _corrupt_garbage(db)
    done = run_process(fleet_repo.path, "eval", "--agent", AGENT, "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "result cache" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        f"warning: the result cache {CACHE} is unusable (file is not a database); moved it aside"
    )
    assert (tmp_path / "r").exists()


def test_forged_and_garbage_records_are_misses(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Rows of the right shape whose records do not parse, or are another trial's, are
    never results: those trials run again."""
    _eval(fleet_repo, capsys, tmp_path / "first.json")
    db = fleet_repo.path / CACHE
    with closing(sqlite3.connect(db)) as conn, conn:
        keys = conn.execute("SELECT rowid, record FROM trials ORDER BY rowid").fetchall()
        conn.execute("UPDATE trials SET record = ? WHERE rowid = ?", ("{not json", keys[0][0]))
        other = json.loads(keys[2][1])
        other["trial"] = other["trial"] + 7
        conn.execute(
            "UPDATE trials SET record = ? WHERE rowid = ?", (json.dumps(other), keys[1][0])
        )
        conn.execute("UPDATE trials SET record = ? WHERE rowid = ?", ("[" * 10_000, keys[3][0]))
    out = tmp_path / "r.json"
    code, printed = _eval(fleet_repo, capsys, out)
    assert code == 0 and _statuses(out) == ["passed"] * TRIALS
    assert f"{TRIALS} trials: 3 run, 2 from the cache" in printed


@pytest.mark.parametrize("link", [".alm", ".alm/cache", CACHE, f"{CACHE}-wal"])
def test_a_link_out_of_the_repository_is_refused_and_never_written(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, link: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = fleet_repo.path / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(elsewhere if link in (".alm", ".alm/cache") else elsewhere / "db")
    fleet_repo.commit("attack: a committed link out of the repository")
    out = tmp_path / "r.json"
    code, printed = _eval(fleet_repo, capsys, out)
    assert code == 1
    assert (
        f"alm: {link}: a symlink out of the repository; alm never writes through it: "
        "remove it, or run with --no-cache"
    ) in printed
    assert list(elsewhere.iterdir()) == []  # nothing created or written there
    code, _ = _eval(fleet_repo, capsys, out, "--no-cache")  # the way out it names works
    assert code == 0 and _statuses(out) == ["passed"] * TRIALS


def test_a_link_inside_the_repository_is_fine(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (fleet_repo.path / "local-cache").mkdir()
    (fleet_repo.path / ".alm").symlink_to("local-cache")
    code, _ = _eval(fleet_repo, capsys, tmp_path / "r.json")
    assert code == 0 and _rows(fleet_repo.path / "local-cache/cache/evals.sqlite") == TRIALS


def test_a_committed_cache_is_refused(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A committed cache would let a pull request say its trials passed."""
    _eval(fleet_repo, capsys, tmp_path / "first.json")
    with closing(sqlite3.connect(fleet_repo.path / CACHE)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fleet_repo.git("add", "-f", CACHE)
    fleet_repo.git("commit", "-q", "-m", "attack: commit the cache")
    code, printed = _eval(fleet_repo, capsys, tmp_path / "r.json")
    assert code == 1
    assert f"alm: {CACHE}: the result cache is committed to the repository" in printed


def test_a_read_only_tree_runs_without_the_cache_and_moves_nothing(
    fleet_repo: GitRepo, tmp_path: Path
) -> None:
    """A read-only checkout is not a corrupt cache: the run goes on, uncached, with one
    warning; before, moving the 'corrupt' cache aside failed with exit 4."""
    prefix = read_only_mount(fleet_repo.path)
    out = tmp_path / "r.json"
    done = run_process(fleet_repo.path, "eval", "--agent", AGENT, "--out", str(out),
                       program=[*prefix, *PYTHON_M_ALM])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"warning: the result cache {CACHE} cannot be written (Read-only file system); " \
        "running without it" in done.stderr  # fmt: skip
    assert f"{TRIALS} trials: {TRIALS} run, 0 from the cache" in done.stderr
    assert _statuses(out) == ["passed"] * TRIALS
    assert not (fleet_repo.path / ".alm" / "cache").exists()
