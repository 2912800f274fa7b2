"""Reading the working tree: a file is read as it is when read, bounded by its limit."""

from __future__ import annotations

from pathlib import Path

from reconciler.spec.source import _read_file


def test_a_file_reads_whole(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n")
    assert _read_file(str(path), 5, 100) == b"a: 1\n"


def test_a_file_grown_since_its_lstat_reads_on_to_the_limit(tmp_path: Path) -> None:
    """As a read of limit + 1 bytes gives: all of it within the limit, else one byte past
    it (so the size check that follows sees it is too large)."""
    path = tmp_path / "f.yaml"
    path.write_bytes(b"x" * 50)
    assert _read_file(str(path), 10, 100) == b"x" * 50
    assert _read_file(str(path), 10, 20) == b"x" * 21


def test_a_file_over_the_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"x" * 50)
    assert _read_file(str(path), 50, 20) is None
