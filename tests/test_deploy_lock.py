"""The environment lock, between real processes: waiting, failing with the holder named,
a killed holder's stale lock taken over, and a race for one stale lock won once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.deploy.lock import Holder, LockBusy, environment_lock, lock_path, read_holder
from reconciler.errors import AlmError, ExitCode

# argv: lock file, timeout, go file (wait for it before trying; "" = at once), done file
# (hold until it exists). Prints "locked" when it holds the lock, or the LockBusy message.
_CONTENDER = """
import os, sys, time
from pathlib import Path
from reconciler.deploy.lock import LockBusy, environment_lock
path, timeout, go, done = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
while go and not os.path.exists(go):
    time.sleep(0.001)
try:
    with environment_lock(path, "prod", timeout=timeout, command="alm apply --env prod") as got:
        print("locked", got.stale.pid if got.stale else "-", flush=True)
        while not os.path.exists(done):
            time.sleep(0.01)
except LockBusy as err:
    print(err.message, flush=True)
    sys.exit(err.exit_code)
"""


def contender(
    path: Path, tmp_path: Path, timeout: float = 0, go: str = ""
) -> subprocess.Popen[str]:
    done = tmp_path / "done"
    return subprocess.Popen(
        [sys.executable, "-c", _CONTENDER, str(path), str(timeout), go, str(done)],
        stdout=subprocess.PIPE,
        text=True,
    )


def wait_for_holder(path: Path, pid: int) -> Holder:
    for _ in range(6000):  # the holder writes its name just after taking the lock
        holder = read_holder(path)
        if holder is not None and holder.pid == pid:
            return holder
        time.sleep(0.01)
    raise AssertionError("the first process never took the lock")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return lock_path(tmp_path, "prod")


def test_the_second_process_waits_then_fails_naming_the_holder(path: Path, tmp_path: Path) -> None:
    first = contender(path, tmp_path)
    assert first.stdout is not None and first.stdout.readline() == "locked -\n"
    holder = wait_for_holder(path, first.pid)
    second = contender(path, tmp_path, timeout=0.3)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == ExitCode.INVALID  # exit 1, never 4
    assert f"pid {first.pid} on {socket.gethostname()}" in out
    assert f"(user {holder.user})" in out and holder.user
    assert "running `alm apply --env prod`" in out and f"since {holder.since}" in out
    assert "waited 0.3 s" in out
    (tmp_path / "done").touch()
    assert first.wait(timeout=120) == 0
    assert read_holder(path) is None  # released: the file no longer names anyone


def test_the_second_process_takes_the_lock_when_the_first_lets_go(
    path: Path, tmp_path: Path
) -> None:
    first = contender(path, tmp_path)
    assert first.stdout is not None and first.stdout.readline() == "locked -\n"
    second = contender(path, tmp_path, timeout=600)
    time.sleep(0.3)
    assert second.poll() is None  # still waiting
    (tmp_path / "done").touch()
    out, _ = second.communicate(timeout=120)
    assert out == "locked -\n" and second.returncode == 0  # a clean release is not stale
    assert first.wait(timeout=120) == 0


def _stale_lock(path: Path, tmp_path: Path) -> int:
    """A lock left by a holder killed with SIGKILL; returns its (dead) pid."""
    victim = contender(path, tmp_path / "never")
    assert victim.stdout is not None and victim.stdout.readline() == "locked -\n"
    wait_for_holder(path, victim.pid)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=120)
    holder = read_holder(path)
    assert holder is not None and holder.pid == victim.pid and holder.alive is False
    return victim.pid


def test_a_stale_lock_of_a_killed_process_is_taken_over(path: Path, tmp_path: Path) -> None:
    dead = _stale_lock(path, tmp_path)
    with environment_lock(path, "prod", timeout=0, command="alm rollback") as got:
        assert got.stale is not None and got.stale.pid == dead
        assert got.holder.pid == os.getpid()
        now_held = read_holder(path)
        assert now_held is not None and now_held.command == "alm rollback"
    assert read_holder(path) is None


def test_two_processes_taking_over_one_stale_lock_do_not_both_win(
    path: Path, tmp_path: Path
) -> None:
    dead = _stale_lock(path, tmp_path)
    go = tmp_path / "go"
    racers = [contender(path, tmp_path, timeout=0, go=str(go)) for _ in range(4)]
    time.sleep(0.5)  # let them start and wait for the go file
    go.touch()
    winners: list[tuple[subprocess.Popen[str], str]] = []
    losers: list[tuple[subprocess.Popen[str], str]] = []
    for racer in racers:
        assert racer.stdout is not None
        line = racer.stdout.readline()
        (winners if line.startswith("locked") else losers).append((racer, line))
    assert len(winners) == 1, [line for _, line in winners]
    assert winners[0][1] == f"locked {dead}\n"  # it says whose stale lock it replaced
    for racer, line in losers:
        assert racer.wait(timeout=120) == ExitCode.INVALID
        assert f"pid {winners[0][0].pid} on" in line  # named the winner, not the dead one
    (tmp_path / "done").touch()
    assert winners[0][0].wait(timeout=120) == 0


def test_a_lock_is_exclusive_within_one_process_too(path: Path) -> None:
    with (
        environment_lock(path, "prod", timeout=0),
        pytest.raises(LockBusy) as busy,
        environment_lock(path, "prod", timeout=0),
    ):
        pass
    assert busy.value.holder is not None and busy.value.holder.pid == os.getpid()
    with environment_lock(path, "prod", timeout=0):  # released after the block
        pass


def test_a_garbled_lock_file_names_nobody(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert read_holder(path) is None
    path.write_text(json.dumps({"pid": "x"}))
    assert read_holder(path) is None
    with environment_lock(path, "prod", timeout=0) as got:
        assert got.stale is None


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(
    path: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    with (
        pytest.raises(AlmError, match=r"prod\.lock: cannot open"),
        environment_lock(path, "prod", timeout=0),
    ):
        pass
    assert victim.read_text() == "precious\n"
