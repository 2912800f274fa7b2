"""alm ops simulate's --out as a new user writes it: a .zst name gets zstd (it was plain
JSON under a .zst name, while .gz got gzip), read back whole by ingest; `--out -` is a usage
error (exit 2) instead of a file named "-" in the current folder (ingest reads - as stdin,
report writes - to stdout, so a user expects a pipe)."""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard

from reconciler.ops.model import Window
from reconciler.ops.store import open_store
from tests.cli import run
from tests.gitrepo import GitRepo

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.mark.parametrize("name", ["day.jsonl.zst", "day.jsonl.zstd"])
def test_a_zst_name_is_written_as_zstd_and_read_back_whole(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    out = tmp_path / name
    code, stdout, err = run(capsys, "-C", str(fleet_repo.path), "ops", "simulate", "--out",
                            str(out), "--env", "dev", "--hours", "1", "--tasks-per-hour",
                            "20")  # fmt: skip
    assert code == 0, err
    data = out.read_bytes()
    assert data.startswith(ZSTD_MAGIC)
    lines = zstandard.ZstdDecompressor().stream_reader(data).read().splitlines()
    assert lines and all(line.startswith(b'{"resourceSpans"') for line in lines)
    written = int(stdout.split("wrote ")[1].split(" tasks")[0].replace(",", ""))
    db = tmp_path / "t.db"
    code, _, err = run(capsys, "-C", str(fleet_repo.path), "ops", "ingest", str(out), "--db",
                       str(db))  # fmt: skip
    assert code == 0, err
    with open_store(db) as store:
        assert len(list(store.tasks(Window(0, 1 << 62)))) == written > 0


def test_out_dash_is_a_usage_error_not_a_file_named_dash(
    fleet_repo: GitRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(capsys, "-C", str(fleet_repo.path), "ops", "simulate", "--out", "-",
                            "--env", "dev", "--hours", "1")  # fmt: skip
    assert code == 2, stdout + err
    assert "--out -: simulate writes a file, not stdout" in err
    assert not (tmp_path / "-").exists() and not (fleet_repo.path / "-").exists()
