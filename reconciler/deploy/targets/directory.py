"""The directory target, the embedded default: `<path>/<agent>.json`, one bundle a file.

A write is atomic and durable: the bytes go to a temporary file (a dot name, never
read as a bundle), fsync, rename over `<agent>.json`, fsync of the folder; a crash
leaves the old file or the new one, never half of one. The version of a bundle is the
sha256 of its file's bytes, so a conditional write compares what is on disk now with
what the plan read. Writers hold `<path>/.lock` (flock: other processes; an RLock:
other threads of the reference registry) from that comparison to the rename.

History: `<path>/.history/<agent>.jsonl`, one JSON line per write or delete, oldest
first, each with the bundle written (what `rollback --to` restores).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.deploy.model import Bundle, Conflict, HistoryEntry, Live, Scan, Unreadable
from reconciler.deploy.targets import BatchResult, Write, write_each
from reconciler.deploy.targets.common import (
    MAX_BUNDLE_BYTES,
    bundle_bytes,
    checked_name,
    entry_of,
    history_from_lines,
    history_record,
    scan_of,
    strict,
    strict_all,
    valid_name,
)
from reconciler.errors import AlmError
from reconciler.fsutil import read_limited, write_atomic
from reconciler.gcpause import gc_paused
from reconciler.spec.catalog import Environment

SUFFIX = ".json"
HISTORY = ".history"
MAX_HISTORY_BYTES = 256 << 20


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectoryStore:
    """Bytes of bundles in one folder with conditional, atomic writes; shared by the
    directory target and the reference registry (one store per environment)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_fd = -1

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Held across check-and-write; re-entrant, so a batch holds it once."""
        with self._thread_lock:
            if self._depth == 0:
                self.path.mkdir(parents=True, exist_ok=True)
                self._lock_fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._lock_fd)  # closing releases the flock
                    self._lock_fd = -1

    def file(self, agent: str) -> Path:
        return self.path / (checked_name(agent) + SUFFIX)

    def agents(self) -> list[str]:
        if not self.path.is_dir():
            return []
        names = (e.name for e in os.scandir(self.path) if e.name.endswith(SUFFIX))
        return sorted(n[: -len(SUFFIX)] for n in names if valid_name(n[: -len(SUFFIX)]))

    def current(self, agent: str) -> tuple[bytes, str] | None:
        """The file's bytes and their version, or None when the agent is absent. An
        oversized file gives its first MAX_BUNDLE_BYTES + 1 bytes (enough to refuse it as
        a bundle, and a version to overwrite it by)."""
        path = self.file(agent)
        if not path.exists():
            return None
        data = read_limited(path, MAX_BUNDLE_BYTES + 1, "an agent bundle")
        return data, digest(data)

    def _check(self, agent: str, expected: str | None) -> None:
        now = self.current(agent)
        version = None if now is None else now[1]
        if version != expected:
            said = "absent" if expected is None else f"version {expected[:12]}"
            found = "absent" if version is None else f"version {version[:12]}"
            raise Conflict(agent, f" (expected {said}, found {found})")

    def put(self, agent: str, data: bytes, expected: str | None, record: dict[str, Any]) -> str:
        with self.locked():
            self._check(agent, expected)
            path = self.file(agent)
            write_atomic(path, data)  # temp + fsync + rename
            _fsync_dir(self.path)
            self._append_history(agent, record)
        return digest(data)

    def delete(self, agent: str, expected: str, record: dict[str, Any] | None) -> None:
        with self.locked():
            self._check(agent, expected)
            self.file(agent).unlink()
            _fsync_dir(self.path)
            if record is not None:
                self._append_history(agent, record)

    def _append_history(self, agent: str, record: dict[str, Any]) -> None:
        folder = self.path / HISTORY
        if not folder.is_dir():
            folder.mkdir()
            _fsync_dir(self.path)
        line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        fd = os.open(folder / f"{agent}.jsonl", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn line from a crash
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def history(self, agent: str) -> list[HistoryEntry]:
        path = self.path / HISTORY / f"{checked_name(agent)}.jsonl"
        if not path.exists():
            return []
        return history_from_lines(read_limited(path, MAX_HISTORY_BYTES, "a history file"))

    def sweep(self) -> None:
        """Remove temporary files a killed writer left (call with the lock held: no
        writer is active then)."""
        for entry in os.scandir(self.path):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                Path(entry.path).unlink(missing_ok=True)


class DirectoryTarget:
    def __init__(self, path: Path, environment: str) -> None:
        self.store = DirectoryStore(path)
        self.environment = environment
        self.name = f"directory {path}"

    def entry(self, agent: str) -> Live | Unreadable | None:
        where = str(self.store.file(agent))
        try:
            found = self.store.current(agent)
        except AlmError as exc:  # not a regular file, unreadable bytes: named, not raised
            return Unreadable(agent, "", where, str(exc).removeprefix(f"{where}: "))
        return None if found is None else entry_of(agent, self.environment, *found, where)

    def read(self, agent: str) -> Live | None:
        return strict(self.entry(agent))

    def versions(self) -> dict[str, str]:
        """Each agent's version as scan gives it, without parsing a bundle (the no-op
        apply's fingerprint: reconciler.deploy.memo)."""
        found = {agent: self.entry_version(agent) for agent in self.store.agents()}
        return {agent: version for agent, version in found.items() if version is not None}

    def entry_version(self, agent: str) -> str | None:
        try:
            now = self.store.current(agent)
        except AlmError as exc:
            return f"unreadable: {exc}"
        return None if now is None else now[1]

    def scan(self) -> Scan:
        with gc_paused():  # every bundle's parse allocates; see reconciler.gcpause
            return scan_of(self.entry(agent) for agent in self.store.agents())

    def read_all(self) -> dict[str, Live]:
        return strict_all(self.scan())

    def put(self, bundle: Bundle, expected: Live | Unreadable | None) -> Live:
        if bundle.environment != self.environment:
            raise AlmError(
                f"{bundle.agent}: a bundle for {bundle.environment!r} cannot go to the "
                f"{self.environment!r} target"
            )
        data = bundle_bytes(bundle)
        version = self.store.put(
            bundle.agent, data, expected.version if expected else None, history_record(bundle)
        )
        return Live(bundle=bundle, version=version)

    def delete(self, agent: str, expected: Live | Unreadable) -> None:
        # an unreadable entry has no bundle to restore: its delete is in the audit log only
        record = (
            history_record(expected.bundle, deleted=True) if isinstance(expected, Live) else None
        )
        self.store.delete(agent, expected.version, record)

    def history(self, agent: str) -> list[HistoryEntry]:
        return self.store.history(agent)

    def write_many(self, writes: Sequence[Write]) -> BatchResult:
        with self.store.locked():
            self.store.sweep()
            return write_each(self, writes)


def resolve(path: str, root: Path) -> Path:
    """An absolute path as given; a relative one inside `root` (never above it)."""
    given = Path(path)
    if given.is_absolute():
        return given
    resolved = (root / given).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise AlmError(f"target path {path!r} leaves the repository; expected a path inside it")
    return resolved


def open_directory(env: Environment, root: Path, env_vars: Mapping[str, str]) -> DirectoryTarget:
    assert env.target.path is not None  # the spec requires it for a directory target
    path = resolve(env.target.path, root)
    if path.exists() and not path.is_dir():  # else every agent reads as missing, writes fail
        raise AlmError(
            f"environment {env.name}: target.path {env.target.path!r} is not a folder; "
            "expected a folder for the bundles (policies/environments.yaml)"
        )
    return DirectoryTarget(path, env.name)
