"""One lock per environment, so two applies never interleave.

The lock is an exclusive fcntl.flock on `.alm/locks/<env>.lock`; the file also says who
holds it (pid, host, user, command, since) for the message a waiter prints. The kernel
releases a flock when its holder dies, even by kill -9, so a stale lock (its recorded pid
dead) is free to take, and two processes taking it over at once cannot both win: the
kernel grants the flock to one. The file is never deleted (deleting it would let a
second process lock a fresh file while the first still holds the old one); release
empties it.

A second apply waits up to `timeout` seconds, then fails (AlmError, exit 1) naming the
holder.

A dry run writes nothing, so it takes the lock for reading (`reading_lock`): a shared
flock on the file opened read-only, which waits out an apply in progress (its plan is
then of the finished state) and works in a read-only checkout. It never creates the
file: where there is none yet, or it cannot be opened, the dry run plans without it and
says that an apply running meanwhile may make its plan stale.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reconciler.deploy.audit import now
from reconciler.deploy.fileio import open_regular
from reconciler.errors import AlmError
from reconciler.tracked import refuse_foreign

DEFAULT_TIMEOUT_S = 60.0
_POLL_S = 0.05


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    user: str
    command: str
    since: str

    @classmethod
    def me(cls, command: str | None = None) -> Holder:
        return cls(os.getpid(), socket.gethostname(), _user(), command or _argv(), now())

    def describe(self) -> str:
        return (
            f"pid {self.pid} on {self.host} (user {self.user}), running `{self.command}` "
            f"since {self.since}"
        )

    @property
    def alive(self) -> bool | None:
        """Whether its process still runs (None: on another host, cannot tell)."""
        if self.host != socket.gethostname():
            return None
        return _pid_alive(self.pid)


class LockBusy(AlmError):
    """The environment stayed locked by someone else for the whole timeout."""

    def __init__(self, environment: str, holder: Holder | None, waited: float) -> None:
        who = (
            holder.describe()
            if holder
            else "another process (a dry run, or one that has not said who yet)"
        )
        super().__init__(
            f"environment {environment} is locked by {who}; waited {waited:g} s. "
            "Try again when it finishes"
        )
        self.holder = holder


@dataclass(frozen=True)
class Acquired:
    """The lock, held; `stale` is the holder recorded by a dead process it replaced."""

    path: Path
    holder: Holder
    stale: Holder | None


@dataclass(frozen=True)
class Reading:
    """A dry run's hold: `unlocked` says why it holds no lock (None: it holds it shared)."""

    path: Path
    unlocked: str | None


def lock_path(root: Path, environment: str) -> Path:
    """Next to the audit log: .alm/locks/<env>.lock. LinkedOut when it, .alm/locks or .alm
    is a symlink out of the repository (a committed one would take the lock elsewhere);
    Committed when git tracks it (its holder is the pull request's word: alm would report
    taking over a lock from whoever it names, then empty a tracked file)."""
    path = root / ".alm" / "locks" / f"{environment}.lock"
    refuse_foreign(root, path, what="the lock file")
    return path


def read_holder(path: Path) -> Holder | None:
    """Who the lock file says holds it (None: nobody, or not readable as a holder)."""
    try:
        fd = open_regular(path, os.O_RDONLY, "a lock file")
    except AlmError:
        return None
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(4096)
    try:
        return _holder(json.loads(raw or b"null"))
    except ValueError:
        return None


@contextmanager
def environment_lock(
    path: Path,
    environment: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    command: str | None = None,
) -> Iterator[Acquired]:
    """Hold the environment's lock for the `with` block; LockBusy after `timeout` s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_regular(path, os.O_RDWR | os.O_CREAT, "a lock file")
    assert fd is not None  # O_CREAT
    try:
        _wait(fd, path, environment, timeout)
        stale = read_holder(path)
        me = Holder.me(command)
        _write(fd, json.dumps(asdict(me), sort_keys=True).encode())
        try:
            yield Acquired(path, me, stale)
        finally:
            _write(fd, b"")
    finally:
        os.close(fd)  # releases the flock


@contextmanager
def reading_lock(
    path: Path, environment: str, *, timeout: float = DEFAULT_TIMEOUT_S
) -> Iterator[Reading]:
    """For a dry run: the lock shared, waiting out an apply (LockBusy after `timeout` s),
    without creating or writing anything; unlocked (saying why) when it cannot be had."""
    try:
        fd = open_regular(path, os.O_RDONLY, "a lock file")
    except AlmError as err:  # e.g. permission denied: planning is still worth doing
        yield Reading(path, err.message)
        return
    if fd is None:
        yield Reading(path, f"{path} does not exist yet (no apply has locked {environment} here)")
        return
    try:
        _wait(fd, path, environment, timeout, fcntl.LOCK_SH)
        yield Reading(path, None)
    finally:
        os.close(fd)  # releases the flock


def _wait(fd: int, path: Path, environment: str, timeout: float, mode: int = fcntl.LOCK_EX) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockBusy(environment, _current_holder(path), timeout) from None
            time.sleep(_POLL_S)


def _current_holder(path: Path) -> Holder | None:
    """Who holds the lock now. A new holder writes its name just after taking the flock,
    so a name of a dead process (or none) may be the one it replaced: look again briefly."""
    holder = read_holder(path)
    for _ in range(20):
        if holder is not None and holder.alive is not False:
            return holder
        time.sleep(_POLL_S)
        holder = read_holder(path)
    return holder if holder is not None and holder.alive is not False else None


def _write(fd: int, data: bytes) -> None:
    """Replace the file's content in place (never unlinked: see the module docstring)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _holder(raw: Any) -> Holder | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Holder(
            int(raw["pid"]), str(raw["host"]), str(raw["user"]), str(raw["command"]),
            str(raw["since"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _argv() -> str:
    return " ".join(["alm", *sys.argv[1:]]) if sys.argv else "alm"
