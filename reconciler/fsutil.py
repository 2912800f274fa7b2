"""Atomic file writes (a reader sees the old file or the new one, never half of one), and
bounded reads of files alm does not trust."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from reconciler.errors import AlmError


def ordinary_mode() -> int:
    """The mode open() would give a new file under the current umask (mkstemp's is 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` whole; the file keeps its mode, or gets an ordinary
    one when new (a bundle or schema others read must not turn private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = ordinary_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_limited(path: Path, max_bytes: int, what: str) -> bytes:
    """A regular file of at most max_bytes (never read past it), else a clear AlmError
    naming the path and `what` was expected."""
    try:  # non-blocking: a FIFO in place of the file must not hang the open
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise AlmError(f"{path}: not a regular file; expected {what}")
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise AlmError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise AlmError(f"{path}: larger than {max_bytes >> 20} MiB; expected {what}")
    return data


def link_out_of(root: Path, *paths: Path) -> Path | None:
    """The first of ``paths``, or of their folders below ``root``, that is a symlink leading
    out of ``root`` (or looping): what alm never reads or writes through. None if none is."""
    inside = root.resolve()
    folders = [p for path in paths for p in path.parents if p.is_relative_to(root) and p != root]
    for candidate in [*paths, *folders]:
        if not candidate.is_symlink():
            continue
        try:
            if candidate.resolve().is_relative_to(inside):
                continue
        except (OSError, RuntimeError):  # a loop: it leads nowhere inside
            pass
        return candidate
    return None


class LinkedOut(AlmError):
    """A path of alm's local state under the repository leads out of it through a symlink."""


STATE_REMEDY = "remove it (.alm/ is alm's local state, never committed: add it to .gitignore)"
SQLITE_SIDES = ("-wal", "-shm", "-journal")  # SQLite opens these beside a database


def refuse_link_out(root: Path, *paths: Path, remedy: str = STATE_REMEDY) -> None:
    """LinkedOut naming the first of ``paths`` (or of their folders below ``root``) that
    link_out_of finds, and saying what to do; nothing when none leads out."""
    link = link_out_of(root, *paths)
    if link is not None:
        raise LinkedOut(
            f"{link.relative_to(root).as_posix()}: a symlink out of the repository; alm "
            f"never reads or writes through it: {remedy}"
        )
