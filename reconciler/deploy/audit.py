"""The audit log: one JSON object a line per environment, hash-chained (DESIGN.md; the
chain itself, sealing and verifying bytes, is reconciler.deploy.audit_chain).

The file store also keeps a head (`<log>.head`: how many lines, and the hash of the last
one), rewritten after each append, so removing lines from the end is found too. The chain
holds no secret: it finds crashes, accidents and clumsy edits; someone able to rewrite
both files can forge a consistent history unless the head is also published elsewhere.

A crash in the middle of an append leaves a torn last line (no newline). `verify` reports
it; the next append moves the torn bytes to `<log>.torn` (kept for inspection) and
truncates them, since they never were a complete record. Only bytes after the last
newline are ever cut, and only when the log is at least as long as its head says.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler.deploy.audit_chain import GENESIS as GENESIS
from reconciler.deploy.audit_chain import BadLine as BadLine
from reconciler.deploy.audit_chain import Head as Head
from reconciler.deploy.audit_chain import line_hash as line_hash
from reconciler.deploy.audit_chain import seal as seal
from reconciler.deploy.audit_chain import verify as verify
from reconciler.deploy.fileio import fsync_dir, last_line, open_regular, replace_unsynced
from reconciler.errors import AlmError
from reconciler.fsutil import refuse_link_out
from reconciler.tracked import refuse_foreign

FIELDS = (
    "action", "agent", "environment", "from", "to", "commit", "pull_request",
    "merged_by", "approved_by", "actor", "at", "result", "detail",
)  # fmt: skip
HEAD_SUFFIX, TORN_SUFFIX = ".head", ".torn"  # files beside the log
_SIDE_FILES = (HEAD_SUFFIX, TORN_SUFFIX)


Sealer = Callable[[bytes | None], bytes]


class AuditStore(Protocol):
    def read(self) -> bytes:
        """The whole log."""
        ...

    def append(self, lines_after: Sealer) -> None:
        """Under the store's exclusive lock: call `lines_after` with the last complete line
        (without its newline; None: empty log) and append the lines it returns, so two
        writers never chain onto the same line."""
        ...

    def head(self) -> Head | None: ...


def audit_path(root: Path, environment: str) -> Path:
    """Where an environment's log lives in a checkout: .alm/audit/<env>.jsonl. LinkedOut
    when a symlink out of the repository is on the way (.alm, .alm/audit, the log, its
    head or torn lines): a committed one would read and write a log elsewhere. Committed
    when git tracks the log, its head or torn lines: a history the pull request wrote."""
    path = root / ".alm" / "audit" / f"{environment}.jsonl"
    sides = [path.with_name(path.name + s) for s in _SIDE_FILES]
    refuse_foreign(root, path, *sides, what="the audit log")
    return path


def audit_folder(root: Path) -> Path:
    """The folder of the local logs, .alm/audit (LinkedOut behind a link out of the
    repository); each log in it is checked where it is opened (audit_path)."""
    folder = root / ".alm" / "audit"
    refuse_link_out(root, folder)
    return folder


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = {("from" if key == "from_" else key): value for key, value in fields.items()}
    out.setdefault("at", now())
    return out


def record(store: AuditStore, **fields: Any) -> dict[str, Any]:
    """Append one record (FIELDS; `from_` for `from`; `at` defaults to now); returns it."""
    return record_many(store, [fields])[0]


def record_many(store: AuditStore, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Append several records with one write and one fsync (an apply of a fleet)."""
    wanted = [_fields(r) for r in records]
    sealed: list[dict[str, Any]] = []

    def lines_after(last: bytes | None) -> bytes:
        sealed.clear()
        prev = GENESIS if last is None else line_hash(last)
        lines = []
        for fields in wanted:
            rec, line = seal(fields, prev)
            sealed.append(rec)
            lines.append(line)
            prev = line_hash(line[:-1])
        return b"".join(lines)

    if wanted:
        store.append(lines_after)
    return sealed


def verify_store(store: AuditStore) -> BadLine | None:
    return verify(store.read(), store.head())


def entries(data: bytes, agent: str | None = None, where: str = "") -> list[dict[str, Any]]:
    """The records of a log (of one agent), oldest first; a torn last line is skipped.
    `where` names the log in the error about a line that is not a record."""
    return [r for r in _records(data, where) if agent is None or r.get("agent") == agent]


def _records(data: bytes, where: str) -> Iterator[dict[str, Any]]:
    *complete, _torn = data.split(b"\n")
    for number, line in enumerate(complete, 1):
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            rec = None
        if not isinstance(rec, dict):
            at = f"{where}: " if where else ""
            raise AlmError(
                f"{at}line {number}: not a JSON object; `alm audit verify` checks the log"
            )
        yield rec


class FileAuditStore:
    """The log as a file: appends under an exclusive fcntl lock, fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + HEAD_SUFFIX)
        self.torn_path = path.with_name(path.name + TORN_SUFFIX)

    def read(self) -> bytes:
        fd = open_regular(self.path, os.O_RDONLY, "the audit log")
        if fd is None:
            return b""
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def head(self) -> Head | None:
        fd = open_regular(self.head_path, os.O_RDONLY, "the audit log's head")
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as handle:
            return Head.parse(handle.read(200))

    def last_line(self) -> bytes | None:
        fd = open_regular(self.path, os.O_RDONLY, "the audit log")
        if fd is None:
            return None
        try:
            return last_line(fd, os.fstat(fd).st_size)[0]
        finally:
            os.close(fd)

    def append(self, lines_after: Sealer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_regular(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, "the audit log")
        assert fd is not None  # O_CREAT
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._append_locked(fd, lines_after)
        finally:
            os.close(fd)  # releases the lock

    def _append_locked(self, fd: int, lines_after: Sealer) -> None:
        size = os.fstat(fd).st_size
        last, end = last_line(fd, size)
        if end < size:
            self._cut_torn(fd, end, size)
        lines = lines_after(last)
        if not lines.endswith(b"\n"):
            raise ValueError("audit lines end with a newline")
        os.write(fd, lines)
        os.fsync(fd)
        if end == 0:
            fsync_dir(self.path.parent)
        self._write_head(fd, end, lines)

    def _cut_torn(self, fd: int, end: int, size: int) -> None:
        count = os.pread(fd, end, 0).count(b"\n")
        head = self.head()
        if head is not None and count < head.lines:
            raise AlmError(
                f"{self.path}: line {count + 1} is torn and the log's head records "
                f"{head.lines} lines: lines were removed; not appending (alm audit verify)"
            )
        keep = open_regular(self.torn_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, "torn lines")
        assert keep is not None  # O_CREAT
        with os.fdopen(keep, "wb") as handle:
            handle.write(os.pread(fd, size - end, end) + b"\n")
        os.ftruncate(fd, end)
        os.fsync(fd)

    def _write_head(self, fd: int, before: int, lines: bytes) -> None:
        head = self.head()
        if head is not None and head.size == before:
            total = head.lines + lines.count(b"\n")
        else:  # no head yet, or a crash came between an append and its head: recount
            total = os.pread(fd, before + len(lines), 0).count(b"\n")
        last = lines[:-1].rsplit(b"\n", 1)[-1]
        head = Head(total, line_hash(last), before + len(lines))
        replace_unsynced(self.head_path, head.render())  # not fsynced: see replace_unsynced
