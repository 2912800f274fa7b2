"""A SQLite cache of graded trials, so an unchanged agent is never run again.

Keyed by (agent run hash, case hash, trial, runner, provider mode/model). Only
trials that actually ran are stored: a case that could not run must run again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class TrialKey:
    run_hash: str
    case_hash: str
    trial: int
    runner: str
    provider: str

    def row(self) -> tuple[str, str, int, str, str]:
        return (self.run_hash, self.case_hash, self.trial, self.runner, self.provider)


class ResultCache:
    """Stores each trial's record as JSON text; the caller owns (de)serialisation."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30)
        with self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def get(self, key: TrialKey) -> str | None:
        row = self._db.execute(
            "SELECT record FROM trials WHERE run_hash=? AND case_hash=? AND trial=? "
            "AND runner=? AND provider=?",
            key.row(),
        ).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: TrialKey, record: str) -> None:
        with self._db:  # one transaction per trial: a crash loses at most the trial running
            self._db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?)", (*key.row(), record)
            )

    def close(self) -> None:
        self._db.close()


@contextmanager
def open_cache(path: Path | None) -> Iterator[ResultCache | None]:
    if path is None:
        yield None
        return
    cache = ResultCache(path)
    try:
        yield cache
    finally:
        cache.close()
