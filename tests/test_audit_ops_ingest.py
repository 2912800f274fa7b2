"""alm ops ingest with a damaged compressed file among others (a gzip cut short, as a file
the Collector is still writing or a partial upload is): what was read of it and every
other file is stored, the summary says so, and the run still exits 1 naming the file
(it did not read everything). Before, the first damaged file stopped the run: the files
after it were never read and no summary was printed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from reconciler.ops.store import open_store
from tests.cli import run
from tests.gitrepo import GitRepo
from tests.test_cli_ops_ingest import DAY, traces


def test_a_truncated_gzip_does_not_stop_the_other_files(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = gzip.compress(traces(tmp_path / "plain.jsonl", count=40).read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    after = traces(tmp_path / "after.jsonl", agents=("email-drafting",), count=3)
    db = tmp_path / "t.db"
    code, out, err = run(capsys, "-C", str(fleet_repo.path), "ops", "ingest", str(cut),
                         str(after), "--db", str(db))  # fmt: skip
    assert code == 1
    assert err.startswith(f"alm: {cut}: cannot read after line ") and "Traceback" not in err
    assert out.startswith("2 files, ") and "0 bad spans" in out
    with open_store(db) as store:
        agents = [task.agent for task in store.tasks(DAY)]
    assert agents.count("email-drafting") == 3  # the file after the damaged one
    assert 0 < agents.count("support-triage") < 40  # what came before the damage
