"""A SQLite cache of graded trials, so an unchanged agent is never run again.

Keyed by (agent run hash, case hash, trial, runner, provider mode/model). Only
trials that actually ran are stored: a case that could not run must run again.

The cache is local state, never data from the repository, and is treated as hostile:
- it lives at ``<repo>/.alm/cache/evals.sqlite``; a symlink out of the repository at
  ``.alm``, ``.alm/cache``, the database or its journal files is refused (CacheRefused,
  exit 1), so a committed ``.alm -> /elsewhere`` never redirects a write;
- a cache committed to git is refused too (reconciler.tracked.Committed, exit 1): its
  records would be a pull request's word that its trials passed;
- a corrupt database (garbage, truncated, a table of another shape, a folder in its
  place) is moved aside to ``evals.sqlite.corrupt-<time>`` and rebuilt, with a one-line
  warning on the ``alm`` logger; the run goes on;
- a record that does not parse, or belongs to another trial, is a miss, never a result.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from reconciler.errors import AlmError
from reconciler.evals.records import CaseResult
from reconciler.fsutil import SQLITE_SIDES, link_out_of
from reconciler.tracked import refuse_tracked

log = logging.getLogger("alm")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    run_hash TEXT NOT NULL,
    case_hash TEXT NOT NULL,
    trial INTEGER NOT NULL,
    runner TEXT NOT NULL,
    provider TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_hash, case_hash, trial, runner, provider)
)
"""
_COLUMNS = ["run_hash", "case_hash", "trial", "runner", "provider", "record"]


class CacheRefused(AlmError):
    """The cache path leads out of the repository (a committed cache: tracked.Committed)."""


@dataclass(frozen=True)
class TrialKey:
    run_hash: str
    case_hash: str
    trial: int
    runner: str
    provider: str

    def row(self) -> tuple[str, str, int, str, str]:
        return (self.run_hash, self.case_hash, self.trial, self.runner, self.provider)


@cache
def _records() -> TypeAdapter[CaseResult]:
    return TypeAdapter(CaseResult)


def root_of(path: Path) -> Path:
    """The repository of ``<root>/.alm/cache/<db>``; any other path's folder is its root."""
    if path.parent.name == "cache" and path.parent.parent.name == ".alm":
        return path.parent.parent.parent
    return path.parent


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def check_inside(path: Path, root: Path) -> None:
    """Refuse when the cache folders, the database or its side files resolve out of root."""
    link = link_out_of(root, path, *(_side(path, s) for s in SQLITE_SIDES))
    if link is not None:
        raise CacheRefused(
            f"{link.relative_to(root).as_posix()}: a symlink out of the repository; alm "
            "never writes through it: remove it, or run with --no-cache"
        )


def check_untracked(path: Path, root: Path) -> None:
    """Refuse a cache that git tracks: it came with the commit, not from a run here."""
    refuse_tracked(
        root,
        path,
        *(_side(path, s) for s in SQLITE_SIDES),
        what="the result cache",
        alternative="or run with --no-cache",
    )


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    try:
        with db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        columns = [str(row[1]) for row in db.execute("PRAGMA table_info(trials)")]
        if columns != _COLUMNS:
            raise sqlite3.DatabaseError(f"table trials has columns {', '.join(columns)}")
    except BaseException:
        db.close()
        raise
    return db


def move_aside(path: Path) -> Path:
    """Rename the database (and its side files) to ``<name>.corrupt-<UTC time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists() or aside.is_symlink():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, aside)
    for suffix in SQLITE_SIDES:
        if _side(path, suffix).exists():
            os.replace(_side(path, suffix), _side(aside, suffix))
    return aside


class CacheUnwritable(Exception):
    """The cache's folder cannot be written (a read-only tree): nothing is corrupt, so
    nothing is moved aside; the run goes on without a cache."""


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheUnwritable(exc.strerror or type(exc).__name__) from None
    if not os.access(folder, os.W_OK):  # a read-only mount, or a folder not ours
        raise CacheUnwritable(os.strerror(errno.EROFS if _read_only(folder) else errno.EACCES))


def _read_only(folder: Path) -> bool:
    return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)


class ResultCache:
    """Stores each trial's record as JSON text; returns only records that parse as the
    trial asked for. The caller owns serialisation."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path = path
        self.root = root_of(path) if root is None else root
        check_inside(path, self.root)
        check_untracked(path, self.root)
        self.warnings: list[str] = []
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        folder = self.path.parent
        try:
            if not folder.is_dir() and folder.exists():
                raise sqlite3.DatabaseError(f"{folder.name} is not a folder")
            _writable(folder)
            return _connect(self.path)
        except (sqlite3.DatabaseError, OSError) as exc:
            return self._rebuild(exc)

    def _rebuild(self, exc: Exception) -> sqlite3.Connection:
        broken = self.path if self.path.parent.is_dir() else self.path.parent
        aside = move_aside(broken)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        reason = next(iter(str(exc).splitlines()), type(exc).__name__)
        warning = (
            f"warning: the result cache {broken.relative_to(self.root).as_posix()} is unusable "
            f"({reason}); moved it aside to {aside.name} and started a new one"
        )
        self.warnings.append(warning)
        log.warning(warning)
        return _connect(self.path)

    def _recover(self, exc: Exception) -> None:
        """Corruption found after opening (a truncated file reads fine until it does not)."""
        self._db.close()
        self._db = self._rebuild(exc)

    def get(self, key: TrialKey) -> str | None:
        try:
            row = self._db.execute(
                "SELECT record FROM trials WHERE run_hash=? AND case_hash=? AND trial=? "
                "AND runner=? AND provider=?",
                key.row(),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            return None
        if row is None or not isinstance(row[0], str):
            return None
        return row[0] if _belongs(row[0], key) else None

    def put(self, key: TrialKey, record: str) -> None:
        for attempt in (1, 2):
            try:
                with self._db:  # one transaction per trial: a crash loses at most that trial
                    self._db.execute(
                        "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?)",
                        (*key.row(), record),
                    )
                return
            except sqlite3.DatabaseError as exc:
                if attempt == 2:
                    raise AlmError(f"result cache: {exc}") from None
                self._recover(exc)

    def close(self) -> None:
        self._db.close()


def _belongs(text: str, key: TrialKey) -> bool:
    """A record that parses and is the keyed trial's; anything else is a miss."""
    try:
        record = _records().validate_json(text)
    except ValidationError:
        return False
    return record.trial == key.trial and record.case_hash == key.case_hash


@contextmanager
def open_cache(path: Path | None) -> Iterator[ResultCache | None]:
    if path is None:
        yield None
        return
    try:
        cache = ResultCache(path)
    except CacheUnwritable as exc:
        shown = path.relative_to(root_of(path)).as_posix()
        log.warning(
            "warning: the result cache %s cannot be written (%s); running without it", shown, exc
        )
        yield None
        return
    try:
        yield cache
    finally:
        cache.close()
