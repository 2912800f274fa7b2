"""zstd trace files read as gzip ones are (reconciler.ops.zstd_stream): a file cut short or
corrupt is named and exits 1 after every other file is stored, and a zstd bomb is read in
bounded memory. The files are made by the zstandard library. Before, a cut-short .zst read
as a clean end: its partial last line was counted as one `bad-json` span and the run
exited 0."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import zstandard

from reconciler.ops import otlp
from reconciler.ops.model import BadSpan
from reconciler.ops.store import open_store
from reconciler.ops.zstd_stream import TRUNCATED
from tests.cli import run
from tests.gitrepo import GitRepo
from tests.test_cli_ops_ingest import DAY, traces

MiB = 1 << 20


def zstd_of(path: Path) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(path.read_bytes())


def ingest(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, db: Path, *files: Path
) -> tuple[int, str, str]:
    names = [str(file) for file in files]
    return run(capsys, "-C", str(repo.path), "ops", "ingest", *names, "--db", str(db))


def stored_agents(db: Path) -> list[str]:
    with open_store(db) as store:
        return [task.agent for task in store.tasks(DAY)]


def test_a_cut_short_zstd_is_named_like_a_cut_short_gzip(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = traces(tmp_path / "plain.jsonl", count=200)  # ~5 blocks of 128 KiB
    data = zstd_of(plain)
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(data[: len(data) // 2])
    after = traces(tmp_path / "after.jsonl", agents=("email-drafting",), count=3)
    db = tmp_path / "t.db"
    code, out, err = ingest(capsys, fleet_repo, db, cut, after)
    assert code == 1
    assert err.startswith(f"alm: {cut}: cannot read after line ") and TRUNCATED in err
    assert "Traceback" not in err
    assert out.startswith("2 files, ") and "0 bad spans" in out  # no partial line as bad-json
    agents = stored_agents(db)
    assert agents.count("email-drafting") == 3  # the file after the damaged one
    assert 0 < agents.count("support-triage") < 200  # what came before the damage
    # the same cut of the same bytes as gzip says the same
    gz = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(plain.read_bytes())
    gz.write_bytes(whole[: len(whole) // 2])
    code, _, gz_err = ingest(capsys, fleet_repo, tmp_path / "g.db", gz)
    assert code == 1 and TRUNCATED in gz_err


@pytest.mark.parametrize("keep", [4, 9, -1], ids=["magic-only", "header-only", "last-byte"])
def test_every_cut_of_a_zstd_is_an_error(tmp_path: Path, keep: int) -> None:
    data = zstd_of(traces(tmp_path / "plain.jsonl", count=5))
    path = tmp_path / "cut.zst"
    path.write_bytes(data[:keep])
    with pytest.raises(otlp.TraceFileError, match=TRUNCATED):
        list(otlp.read_files([path]))


def test_a_second_frame_cut_short_is_an_error_and_the_first_is_read(tmp_path: Path) -> None:
    plain = traces(tmp_path / "plain.jsonl", count=6).read_bytes()
    lines = plain.splitlines(keepends=True)
    compressor = zstandard.ZstdCompressor()
    first, second = compressor.compress(b"".join(lines[:6])), compressor.compress(plain)
    path = tmp_path / "two.zst"
    path.write_bytes(first + second)
    assert len(list(otlp.read_files([path]))) == 6 * 2 + len(lines) * 2  # two spans a line
    path.write_bytes(first + second[:-3])
    read: list[object] = []
    with pytest.raises(otlp.TraceFileError, match=TRUNCATED):
        read.extend(otlp.read_files([path]))
    assert len(read) >= 12 and not any(isinstance(item, BadSpan) for item in read)


def test_a_corrupt_zstd_is_named_and_the_other_files_are_stored(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(zstd_of(traces(tmp_path / "plain.jsonl", count=200)))
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)  # the second half zeroed
    bad = tmp_path / "bad.jsonl.zst"
    bad.write_bytes(bytes(data))
    after = traces(tmp_path / "after.jsonl", agents=("email-drafting",), count=3)
    code, out, err = ingest(capsys, fleet_repo, tmp_path / "t.db", bad, after)
    assert code == 1
    assert err.startswith(f"alm: {bad}: cannot read after line ") and "zstd" in err
    assert out.startswith("2 files, ")
    assert stored_agents(tmp_path / "t.db").count("email-drafting") == 3


def test_trailing_bytes_that_are_not_a_frame_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "tail.zst"
    path.write_bytes(zstd_of(traces(tmp_path / "plain.jsonl", count=2)) + b"not zstd")
    with pytest.raises(otlp.TraceFileError, match="cannot read after line 4: zstd"):
        list(otlp.read_files([path]))


def test_stdin_cut_short_is_an_error_in_a_real_process(tmp_path: Path) -> None:
    data = zstd_of(traces(tmp_path / "plain.jsonl", count=10))
    code = "from reconciler.ops.otlp import read_files\nlist(read_files(['-']))"
    done = subprocess.run(
        [sys.executable, "-c", code], input=data[:-5], capture_output=True, check=False
    )
    assert done.returncode == 1 and TRUNCATED in done.stderr.decode()


def zstd_bomb(path: Path, size: int) -> Path:
    """`size` zero bytes (one line with no end) as a ~size/32,768-byte zstd file."""
    compressor = zstandard.ZstdCompressor().compressobj()
    zeros = bytes(MiB)
    parts = [compressor.compress(zeros) for _ in range(size // MiB)]
    path.write_bytes(b"".join(parts) + compressor.flush())
    return path


def test_a_zstd_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    bomb = zstd_bomb(tmp_path / "bomb.zst", 256 * MiB)
    assert bomb.stat().st_size < 16 * 1024
    tracemalloc.start()
    try:
        items = list(otlp.open_trace_file(bomb, max_line=MiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [type(item) for item in items] == [otlp.LongLine]
    assert getattr(items[0], "size", 0) == 256 * MiB  # every byte was read, and skipped
    assert peak < 16 * MiB  # the line limit, the buffers and one input step's output (~4 MiB)


def test_a_frame_wanting_a_window_over_the_bound_is_refused_not_allocated(
    tmp_path: Path,
) -> None:
    params = zstandard.ZstdCompressionParameters(window_log=30)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    path = tmp_path / "wide.zst"
    path.write_bytes(compressor.compress(b"{}\n" * 10) + compressor.flush())
    with pytest.raises(otlp.TraceFileError, match="cannot read after line 0: zstd"):
        list(otlp.read_files([path]))
