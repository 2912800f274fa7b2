"""Ingesting spans into the trace store: idempotent, crash-safe, and assembling each trace
once when it can.

Spans go in batches, each one transaction. A trace none of whose spans was stored before
the batch ("fresh": the common case, a trace written by one Collector flush) is assembled
right away from the spans in memory, and its tasks are written in the same transaction;
it is left for later only when a span has no invoke_agent to belong to (the rest of the
trace may come in a later batch or file). Every other trace a batch added spans to is
marked pending in that transaction, and re-assembled from all its stored spans once the
reading is done (spans of one trace may come in several files, in any order). A crash
loses at most the batch in flight; the next ingest finishes what was left pending.

Bad spans are counted once per run: a trace assembled early and again later in the same
run has its first report taken back.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from reconciler.ops.assemble import assemble
from reconciler.ops.model import BadSpan, Span, Task
from reconciler.ops.store_codec import SpanRow, span_of, span_row, task_row

BATCH_SPANS = 5_000  # spans per transaction: bounded memory, little lost to a crash
BATCH_TRACES = 1_000  # pending traces re-assembled per transaction
_PARAMS = 900  # ids per IN (...) list: under SQLite's default limit of 999 parameters

INSERT_SPAN = "INSERT OR IGNORE INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_TASK = "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_CHUNK = "SELECT trace_id FROM pending ORDER BY trace_id LIMIT ?"
_CHUNK_SPANS = (
    "SELECT s.* FROM (" + _CHUNK + ") AS p JOIN spans AS s ON s.trace_id = p.trace_id"
    " ORDER BY s.trace_id"
)


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

    def take_back(self, bad: BadSpan) -> None:
        left = self.bad.get(bad.kind, 0) - 1
        if left > 0:
            self.bad[bad.kind] = left
        else:
            self.bad.pop(bad.kind, None)
            self.examples.pop(bad.kind, None)

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())


ResourceIds = Callable[[object], int]
Resources = Callable[[int], dict[str, Any]]


class Ingest:
    """One run of spans into the store."""

    def __init__(
        self,
        con: sqlite3.Connection,
        known: Collection[str] | None,
        resource_id: ResourceIds,
        resource: Resources,
    ) -> None:
        self.con, self.known = con, known
        self.resource_id, self.resource = resource_id, resource
        self.report = IngestReport()
        # per trace assembled in this run: its tasks counted, and the bad spans reported
        # (taken back when it is assembled again, so each counts once)
        self.counted: dict[str, int] = {}
        self.early: dict[str, list[BadSpan]] = {}

    def spans(self, items: Iterable[Span | BadSpan]) -> None:
        """Store the spans, count the bad ones; what was read before an error is kept."""
        batch: list[Span] = []
        try:
            for item in items:
                if isinstance(item, BadSpan):
                    self.report.note(item)
                    continue
                batch.append(item)
                if len(batch) >= BATCH_SPANS:
                    spans, batch = batch, []
                    self._write(spans)
        finally:
            if batch:
                self._write(batch)

    def _write(self, spans: list[Span]) -> None:
        """One transaction: the batch's spans, the tasks of its fresh traces, and the
        other traces it added spans to marked pending."""
        by_trace: defaultdict[str, list[Span]] = defaultdict(list)
        for span in spans:
            by_trace[span.trace_id].append(span)
        stored = self._stored(list(by_trace))
        cursor = self.con.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            fresh = {t: s for t, s in by_trace.items() if t not in stored}
            added = self._insert(cursor, [s for t, ss in fresh.items() for s in ss])
            pending, tasks = self._assemble_fresh(fresh)
            more, touched = self._insert_known(cursor, by_trace, stored)
            cursor.executemany(INSERT_TASK, (task_row(task) for task in tasks))
            cursor.executemany(
                "INSERT OR IGNORE INTO pending VALUES (?)", ((t,) for t in pending | touched)
            )
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        self.report.spans_read += len(spans)
        self.report.added += added + more
        self.report.duplicates += len(spans) - added - more

    def _stored(self, trace_ids: Sequence[str]) -> set[str]:
        """The traces that already have spans in the store."""
        found: set[str] = set()
        for at in range(0, len(trace_ids), _PARAMS):
            chunk = trace_ids[at : at + _PARAMS]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT DISTINCT trace_id FROM spans WHERE trace_id IN ({marks})"
            found.update(row[0] for row in self.con.execute(sql, chunk))
        return found

    def _rows(self, spans: Iterable[Span]) -> list[SpanRow]:
        rows = [span_row(span, self.resource_id(span.resource)) for span in spans]
        rows.sort()  # key order: each index page is touched once per batch, not per span
        return rows

    def _insert(self, cursor: sqlite3.Cursor, spans: Iterable[Span]) -> int:
        rows = self._rows(spans)  # first: a new resource is a change too
        before = self.con.total_changes
        cursor.executemany(INSERT_SPAN, rows)
        return self.con.total_changes - before

    def _assemble_fresh(self, fresh: dict[str, list[Span]]) -> tuple[set[str], list[Task]]:
        """Tasks of the fresh traces, from memory; those with spans that belong to no task
        yet are left pending (their bad spans are reported when they are assembled)."""
        pending: set[str] = set()
        tasks: list[Task] = []
        for trace_id, spans in fresh.items():
            made, bad = assemble(spans, self.known)
            if any(b.kind == "no-root" for b in bad):
                pending.add(trace_id)
                continue
            self._assembled(trace_id, made, bad)
            tasks += made
        return pending, tasks

    def _insert_known(
        self, cursor: sqlite3.Cursor, by_trace: dict[str, list[Span]], stored: set[str]
    ) -> tuple[int, set[str]]:
        """(spans added, their traces) for traces already stored: all at once when none is
        new (a repeated ingest), span by span when some are."""
        rows = self._rows(s for t in stored for s in by_trace.get(t, ()))
        if not rows:
            return 0, set()
        cursor.execute("SAVEPOINT known")
        before = self.con.total_changes
        cursor.executemany(INSERT_SPAN, rows)
        if self.con.total_changes == before:
            cursor.execute("RELEASE known")
            return 0, set()
        cursor.execute("ROLLBACK TO known")
        cursor.execute("RELEASE known")
        added: set[str] = set()
        new = 0
        for row in rows:  # rowcount tells a new span from a duplicate
            cursor.execute(INSERT_SPAN, row)
            if cursor.rowcount == 1:
                new += 1
                added.add(row[0])
        return new, added

    def _assembled(self, trace_id: str, tasks: list[Task], bad: list[BadSpan]) -> None:
        report = self.report
        earlier = self.counted.get(trace_id)
        if earlier is not None:
            report.traces -= 1
            report.tasks -= earlier
        for item in self.early.pop(trace_id, ()):
            report.take_back(item)
        for item in bad:
            report.note(item)
        if bad:
            self.early[trace_id] = bad
        self.counted[trace_id] = len(tasks)
        report.traces += 1
        report.tasks += len(tasks)

    # --- pending traces ----------------------------------------------------------------

    def pending(self) -> None:
        while self._pending_chunk():
            pass

    def _pending_chunk(self) -> bool:
        """Re-assemble the first BATCH_TRACES pending traces; False when none was left."""
        cursor = self.con.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            chunk = [row[0] for row in cursor.execute(_CHUNK, (BATCH_TRACES,))]
            rows = cursor.execute(_CHUNK_SPANS, (BATCH_TRACES,)).fetchall()
            tasks: list[Task] = []
            for trace_id, group in groupby(rows, key=lambda row: str(row[0])):
                made, bad = assemble([self._span(row) for row in group], self.known)
                self._assembled(trace_id, made, bad)
                tasks += made
            limit = (BATCH_TRACES,)
            cursor.execute(f"DELETE FROM tasks WHERE trace_id IN ({_CHUNK})", limit)
            cursor.executemany(INSERT_TASK, (task_row(task) for task in tasks))
            cursor.execute(f"DELETE FROM pending WHERE trace_id IN ({_CHUNK})", limit)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        return bool(chunk)

    def _span(self, row: tuple[Any, ...]) -> Span:
        return span_of(row, self.resource(int(row[9])))
