from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reconciler.errors import AlmError
from reconciler.fsutil import ordinary_mode, read_limited, write_atomic


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_mode_the_umask_gives_not_a_private_one(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "deep" / "bundle.json", "{}")
        assert ordinary_mode() == 0o644
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "deep" / "bundle.json") == 0o644
    assert (tmp_path / "deep" / "bundle.json").read_text() == "{}"


def test_a_replaced_file_keeps_its_mode_and_no_temporary_is_left(tmp_path: Path) -> None:
    target = tmp_path / "holds.json"
    target.write_text("old")
    target.chmod(0o600)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and mode_of(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["holds.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_read_limited_refuses_a_file_over_the_limit_and_a_fifo(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x" * (2 << 20))
    with pytest.raises(AlmError, match=r"big\.yaml: larger than 1 MiB; expected a spec"):
        read_limited(big, 1 << 20, "a spec")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(AlmError, match="not a regular file; expected a spec"):
        read_limited(fifo, 1 << 20, "a spec")
