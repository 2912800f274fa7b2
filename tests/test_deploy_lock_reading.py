"""A dry run's hold on the environment lock (reading_lock): shared, never created or
written, waiting out an apply and failing after the timeout naming it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.deploy.lock import (
    LockBusy,
    environment_lock,
    lock_path,
    read_holder,
    reading_lock,
)
from reconciler.errors import ExitCode
from tests.test_deploy_lock import contender, wait_for_holder


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return lock_path(tmp_path, "prod")


def test_no_lock_file_is_never_created_and_the_reason_is_given(path: Path) -> None:
    with reading_lock(path, "prod", timeout=0) as reading:
        assert reading.unlocked is not None
        assert "does not exist yet (no apply has locked prod here)" in reading.unlocked
    assert not path.parent.exists()  # not even .alm/locks/


def test_dry_runs_share_the_lock_and_write_nothing(path: Path) -> None:
    with environment_lock(path, "prod", timeout=0):
        pass
    before = path.read_bytes(), path.stat().st_mtime_ns
    with reading_lock(path, "prod", timeout=0) as one, reading_lock(path, "prod", timeout=0) as two:
        assert one.unlocked is None and two.unlocked is None
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_dry_run_waits_for_an_apply_then_names_it(path: Path, tmp_path: Path) -> None:
    first = contender(path, tmp_path)
    assert first.stdout is not None and first.stdout.readline() == "locked -\n"
    wait_for_holder(path, first.pid)
    with pytest.raises(LockBusy) as busy, reading_lock(path, "prod", timeout=0.2):
        pass
    assert busy.value.exit_code == ExitCode.INVALID
    assert f"pid {first.pid} on" in busy.value.message
    assert "running `alm apply --env prod`" in busy.value.message
    (tmp_path / "done").touch()
    assert first.wait(timeout=120) == 0
    with reading_lock(path, "prod", timeout=0) as reading:  # released: shared at once
        assert reading.unlocked is None


def test_an_apply_waits_for_a_dry_run_and_says_so(path: Path) -> None:
    with environment_lock(path, "prod", timeout=0):
        pass
    with (
        reading_lock(path, "prod", timeout=0),
        pytest.raises(LockBusy) as busy,
        environment_lock(path, "prod", timeout=0),
    ):
        pass
    assert busy.value.holder is None
    assert "locked by another process (a dry run, or one that has not said who yet)" in (
        busy.value.message
    )
    with environment_lock(path, "prod", timeout=0) as got:  # released after the block
        assert got.holder.pid == os.getpid()
    assert read_holder(path) is None


def test_an_unopenable_lock_file_leaves_the_dry_run_unlocked(path: Path, tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere"
    victim.write_text("x")
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    with reading_lock(path, "prod", timeout=0) as reading:
        assert reading.unlocked is not None and "prod.lock: cannot open" in reading.unlocked
    assert victim.read_text() == "x"
