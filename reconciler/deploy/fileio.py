"""Small file helpers of the deploy stage's own files (audit log, lock): no symbolic link
followed, regular files only, reading a log's end without reading all of it."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from reconciler.errors import AlmError


def last_line(fd: int, size: int) -> tuple[bytes | None, int]:
    """The last complete line (without newline) and the offset just past its newline."""
    newline = rfind_newline(fd, size)
    if newline < 0:
        return None, 0
    start = rfind_newline(fd, newline) + 1
    return os.pread(fd, newline - start, start), newline + 1


def rfind_newline(fd: int, before: int) -> int:
    """The offset of the last newline before `before`, or -1; reads backwards in chunks."""
    pos, step = before, 4096
    while pos > 0:
        low = max(0, pos - step)
        found = os.pread(fd, pos - low, low).rfind(b"\n")
        if found >= 0:
            return low + found
        pos, step = low, step * 2
    return -1


def open_regular(path: Path, flags: int, what: str) -> int | None:
    """A file descriptor of a regular file (None: absent, unless created). Never follows a
    symbolic link: one committed in the repository must not point alm's writes elsewhere."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AlmError(f"{path}: cannot open ({exc.strerror}); expected {what}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AlmError(f"{path}: not a regular file; expected {what}")
    return fd


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_unsynced(path: Path, data: bytes) -> None:
    """Atomic replace (temp file, rename) without fsync: for a file whose loss in a power
    cut is harmless (the audit head: recounted when it does not match)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
