"""The embedded trace store: one SQLite file (WAL) of spans and the tasks assembled from
them; a `TaskSource` for every `alm ops` consumer.

SQLite, not DuckDB, by measurement (bench/ops_engines.py; figures in the commit that
chose it): on 1,000,000 spans SQLite stored them ~4x faster in a third of the memory
(DuckDB alone went past 500 MB), and a trace's spans, what re-assembly reads, are a
primary-key range (DuckDB: ~14 ms a trace). DuckDB's file was 4x smaller.

Ingest (reconciler.ops.store_ingest) streams spans in batches, one transaction each,
INSERT OR IGNORE on trace_id + span_id (re-ingesting adds nothing); a trace is assembled
into tasks from memory when the batch holds all of it, else from all its stored spans once
the reading is done. A crash loses at most the batch in flight.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.errors import AlmError
from reconciler.ops.model import BadSpan, Span, Task, Window
from reconciler.ops.store_codec import compact, task_of
from reconciler.ops.store_ingest import Ingest, IngestReport
from reconciler.ops.store_schema import migrate
from reconciler.ops.task_rows import GradeRow, grade_rows, window_query

__all__ = ["IngestReport", "TraceStore", "open_store"]

_RESOURCE_CACHE = 10_000
CACHE_KIB = 128 * 1024  # SQLite's page cache (of the 500 MB an ingest of 1M spans may use)
# bigger pages and fewer, larger checkpoints: ~15% of a 1M-span ingest (bench/ops.py)
PAGE_BYTES = 16 * 1024
WAL_BYTES = 64 * 1024 * 1024


def open_store(path: Path) -> TraceStore:
    """The store in `path` (created, or migrated to this alm's schema)."""
    label = str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, isolation_level=None, timeout=60)
    except (OSError, sqlite3.Error) as error:
        raise AlmError(f"{label}: cannot open the trace store: {error}") from None
    try:
        con.execute(f"PRAGMA page_size={PAGE_BYTES}")  # a new file only: before WAL
        con.execute("PRAGMA journal_mode=WAL")
        page = int(con.execute("PRAGMA page_size").fetchone()[0])
        con.execute(f"PRAGMA wal_autocheckpoint={WAL_BYTES // page}")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL: a process crash loses no commit
        con.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # random trace ids: a wide working set
        migrate(con, label)
    except sqlite3.DatabaseError as error:
        con.close()
        raise AlmError(
            f"{label}: not a trace store alm can read ({error}); expected an SQLite file "
            "written by alm ops ingest (move it away, or pass another --db)"
        ) from None
    except BaseException:
        con.close()
        raise
    return TraceStore(con, label)


class TraceStore:
    """Spans and tasks in one SQLite file; a model.TaskSource."""

    def __init__(self, con: sqlite3.Connection, label: str) -> None:
        self.con = con
        self.label = label
        self._resources: dict[int, tuple[object, int]] = {}  # id(dict) -> (dict, row id)
        self._decoded: dict[int, dict[str, Any]] = {}  # row id -> resource, for assembly

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # --- ingest ----------------------------------------------------------------------

    def ingest(
        self, items: Iterable[Span | BadSpan], known_agents: Collection[str] | None = None
    ) -> IngestReport:
        """Store the spans, count the bad ones, assemble every trace spans were added to
        (reconciler.ops.store_ingest). When reading fails midway, what was read is stored
        and assembled, then the error goes on."""
        run = Ingest(self.con, known_agents, self._resource_id, self._resource)
        try:
            run.spans(items)
        finally:
            run.pending()
        return run.report

    def _resource_id(self, resource: object) -> int:
        """The row id of a resource; a reader shares one dict among a resource's spans,
        so it is looked up once per resource, not per span."""
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        body = compact(dict(sorted(dict(resource).items())))  # type: ignore[call-overload]
        self.con.execute("INSERT OR IGNORE INTO resources (body) VALUES (?)", (body,))
        row = self.con.execute("SELECT id FROM resources WHERE body = ?", (body,)).fetchone()
        if len(self._resources) >= _RESOURCE_CACHE:
            self._resources.clear()
        self._resources[id(resource)] = (resource, int(row[0]))
        return int(row[0])

    def _resource(self, row_id: int) -> dict[str, Any]:
        cached = self._decoded.get(row_id)
        if cached is None:
            found = self.con.execute("SELECT body FROM resources WHERE id = ?", (row_id,))
            cached = self._decoded[row_id] = json.loads(found.fetchone()[0])
        return cached

    # --- reading (model.TaskSource) ---------------------------------------------------

    def tasks(
        self, window: Window, environment: str | None = None, agent: str | None = None
    ) -> Iterator[Task]:
        """Tasks started in the window, oldest first; of one environment (with the tasks
        that have none) and one agent when given."""
        sql, args = window_query("body", window, environment, agent)
        for (body,) in self.con.execute(sql, args):
            yield task_of(body)

    def grade_rows(
        self, window: Window, environment: str | None = None, agent: str | None = None
    ) -> Iterator[GradeRow]:
        """The window's tasks as a check reads them (lean rows), in the order of `tasks`."""
        return grade_rows(self.con, window, environment, agent)

    def task(self, trace_id: str, agent: str | None = None) -> list[Task]:
        """The tasks of one trace (of one agent), in start order."""
        sql = "SELECT body FROM tasks WHERE trace_id = ?"
        args: list[object] = [trace_id.lower()]
        if agent is not None:
            sql += " AND agent = ?"
            args.append(agent)
        return [task_of(body) for (body,) in self.con.execute(sql + " ORDER BY start_ns", args)]

    def counts(self) -> tuple[int, int]:
        """(spans, tasks) stored."""
        spans = self.con.execute("SELECT count(*) FROM spans").fetchone()[0]
        tasks = self.con.execute("SELECT count(*) FROM tasks").fetchone()[0]
        return int(spans), int(tasks)
