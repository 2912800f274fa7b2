"""The embedded trace store: one SQLite file (WAL) of spans and the tasks assembled from
them; a `TaskSource` for every `alm ops` consumer.

SQLite, not DuckDB, by measurement (bench/ops_engines.py; figures in the commit that
chose it): on 1,000,000 spans SQLite stored them ~4x faster in a third of the memory
(DuckDB alone went past 500 MB), and a trace's spans, what re-assembly reads, are a
primary-key range (DuckDB: ~14 ms a trace). DuckDB's file was 4x smaller.

Ingest streams: spans are inserted (INSERT OR IGNORE on trace_id + span_id, so
re-ingesting adds nothing) in batches, each its own transaction, which also records the
traces it added spans to as pending. Then every pending trace is re-assembled from all
its stored spans (they may have come in several files, in any order) and its tasks
replace the old ones, pending cleared in the same transaction. A crash loses at most the
batch in flight; the next ingest finishes the assembly it left pending.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.errors import AlmError
from reconciler.ops.assemble import assemble
from reconciler.ops.model import BadSpan, Span, Task, Window
from reconciler.ops.store_codec import SpanRow, compact, span_of, span_row, task_of, task_row
from reconciler.ops.store_schema import migrate

BATCH_SPANS = 5_000  # spans per transaction: bounded memory, little lost to a crash
BATCH_TRACES = 1_000  # traces re-assembled per transaction
_RESOURCE_CACHE = 10_000
CACHE_KIB = 128 * 1024  # SQLite's page cache (of the 500 MB an ingest of 1M spans may use)

_INSERT_SPAN = "INSERT OR IGNORE INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_CHUNK = "SELECT trace_id FROM pending ORDER BY trace_id LIMIT ?"
_CHUNK_SPANS = (
    "SELECT s.* FROM (" + _CHUNK + ") AS p JOIN spans AS s ON s.trace_id = p.trace_id"
    " ORDER BY s.trace_id"
)
_INSERT_TASK = "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass
class IngestReport:
    """What one ingest did."""

    spans_read: int = 0
    added: int = 0
    duplicates: int = 0  # spans already stored (same trace_id and span_id)
    traces: int = 0  # traces (re)assembled
    tasks: int = 0  # tasks those traces hold now
    bad: dict[str, int] = field(default_factory=dict)  # kind -> count
    examples: dict[str, BadSpan] = field(default_factory=dict)  # kind -> the first seen

    def note(self, bad: BadSpan) -> None:
        self.bad[bad.kind] = self.bad.get(bad.kind, 0) + 1
        self.examples.setdefault(bad.kind, bad)

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())


def open_store(path: Path) -> TraceStore:
    """The store in `path` (created, or migrated to this alm's schema)."""
    label = str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, isolation_level=None, timeout=60)
    except (OSError, sqlite3.Error) as error:
        raise AlmError(f"{label}: cannot open the trace store: {error}") from None
    try:
        con.execute("PRAGMA journal_mode=WAL")
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
        """Store the spans, count the bad ones, (re)assemble every trace spans were added
        to. When reading fails midway, what was read is stored and assembled, then the
        error goes on."""
        report = IngestReport()
        try:
            self._store_spans(items, report)
        except Exception:
            self._assemble_pending(known_agents, report)
            raise
        self._assemble_pending(known_agents, report)
        return report

    def _store_spans(self, items: Iterable[Span | BadSpan], report: IngestReport) -> None:
        batch: list[SpanRow] = []
        try:
            for item in items:
                if isinstance(item, BadSpan):
                    report.note(item)
                    continue
                batch.append(span_row(item, self._resource_id(item.resource)))
                if len(batch) >= BATCH_SPANS:
                    rows, batch = batch, []
                    self._write_spans(rows, report)
        finally:  # the spans read before an error are kept too
            if batch:
                self._write_spans(batch, report)

    def _write_spans(self, rows: list[SpanRow], report: IngestReport) -> None:
        """One transaction: the new spans, and their traces marked pending."""
        rows.sort()  # key order: each B-tree page is touched once per batch, not per span
        cursor = self.con.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            new, added = self._insert_spans(cursor, rows)
            cursor.executemany("INSERT OR IGNORE INTO pending VALUES (?)", ((t,) for t in added))
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        report.spans_read += len(rows)
        report.added += new
        report.duplicates += len(rows) - new

    def _insert_spans(self, cursor: sqlite3.Cursor, rows: list[SpanRow]) -> tuple[int, set[str]]:
        """(spans added, their traces): the batch at once when it is all new or all
        stored (a first or a repeated ingest), span by span when it is mixed."""
        before = self.con.total_changes
        cursor.execute("SAVEPOINT batch")
        cursor.executemany(_INSERT_SPAN, rows)
        new = self.con.total_changes - before
        if new in (0, len(rows)):
            cursor.execute("RELEASE batch")
            return new, {row[0] for row in rows} if new else set()
        cursor.execute("ROLLBACK TO batch")
        cursor.execute("RELEASE batch")
        added: set[str] = set()
        new = 0
        for row in rows:  # rowcount tells a new span from a duplicate
            cursor.execute(_INSERT_SPAN, row)
            if cursor.rowcount == 1:
                new += 1
                added.add(row[0])
        return new, added

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

    def _assemble_pending(self, known: Collection[str] | None, report: IngestReport) -> None:
        while self._assemble_chunk(known, report):
            pass

    def _assemble_chunk(self, known: Collection[str] | None, report: IngestReport) -> bool:
        """Re-assemble the first BATCH_TRACES pending traces; False when none was left."""
        cursor = self.con.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            rows = cursor.execute(_CHUNK_SPANS, (BATCH_TRACES,)).fetchall()
            tasks: list[Task] = []
            for _, spans in groupby(rows, key=lambda row: row[0]):
                made, bad = assemble([self._span(row) for row in spans], known)
                tasks += made
                report.traces += 1
                for item in bad:
                    report.note(item)
            limit = (BATCH_TRACES,)
            cursor.execute(f"DELETE FROM tasks WHERE trace_id IN ({_CHUNK})", limit)
            cursor.executemany(_INSERT_TASK, (task_row(task) for task in tasks))
            cursor.execute(f"DELETE FROM pending WHERE trace_id IN ({_CHUNK})", limit)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        report.tasks += len(tasks)
        return bool(rows)

    def _span(self, row: tuple[Any, ...]) -> Span:
        return span_of(row, self._resource(int(row[9])))

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
        sql = "SELECT body FROM tasks WHERE start_ns >= ? AND start_ns < ?"
        args: list[object] = [window.start_ns, window.end_ns]
        if environment is not None:
            sql += " AND (environment = ? OR environment IS NULL)"
            args.append(environment)
        if agent is not None:
            sql += " AND agent = ?"
            args.append(agent)
        for (body,) in self.con.execute(sql + " ORDER BY start_ns, trace_id, span_id", args):
            yield task_of(body)

    def grade_rows(
        self, window: Window, environment: str | None = None, agent: str | None = None
    ) -> Iterator[Any]:
        """The window's tasks as a check reads them: task_rows.GradeRow, in the order of
        `tasks` (typed Any and imported here to leave the module's head to the ingest)."""
        from reconciler.ops import task_rows as rows

        return rows.grade_rows(self.con, window, environment, agent)

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
