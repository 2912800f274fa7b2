"""The lean read of the trace store for `alm ops check`: per task, only what its metrics
need (ids, agent, revision, start, latency, the model calls' usage, and the part its grade
depends on with its key; store_codec.task_row, migration 3), never the whole task body.

One query, streamed in start order. A task stored before migration 3 and not yet
re-assembled has those columns NULL: its body is decoded and the same columns derived
from it (store_codec.task_row), so a check never depends on when a task was stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterator
from typing import NamedTuple

from reconciler.ops.model import Window
from reconciler.ops.store_codec import task_of, task_row

ROWS_PER_FETCH = 2_000  # the cursor's batch: streamed, never the whole window at once
READ_CACHE_KIB = 4 * 1024  # SQLite's page cache while a window is read


class GradeRow(NamedTuple):
    """One task as a check reads it (the columns of store_codec.task_row, lean)."""

    trace_id: str
    span_id: str
    agent: str
    revision: str | None
    start_ns: int
    latency_ns: int
    usage: str  # [[provider, model, input, output, cached input], ...] as JSON
    grade_key: str  # blake2b of `grade`: equal keys, equal grades
    grade: str  # store_codec.grade_json


_LEAN = "trace_id, span_id, agent, revision, start_ns, latency_ns, usage, grade_key, grade"
_BODY = "SELECT body FROM tasks WHERE trace_id = ? AND span_id = ?"


def window_query(
    columns: str, window: Window, environment: str | None, agent: str | None
) -> tuple[str, list[object]]:
    """The query of a window's tasks, oldest first; of one environment (with the tasks that
    have none) and one agent when given: the one definition every reader of tasks uses."""
    sql = f"SELECT {columns} FROM tasks WHERE start_ns >= ? AND start_ns < ?"
    args: list[object] = [window.start_ns, window.end_ns]
    if environment is not None:
        sql += " AND (environment = ? OR environment IS NULL)"
        args.append(environment)
    if agent is not None:
        sql += " AND agent = ?"
        args.append(agent)
    return sql + " ORDER BY start_ns, trace_id, span_id", args


def grade_rows(
    con: sqlite3.Connection,
    window: Window,
    environment: str | None = None,
    agent: str | None = None,
) -> Generator[GradeRow, None, None]:
    """The tasks started in the window, oldest first (as TraceStore.tasks orders them); of
    one environment (with the tasks that have none) and one agent when given."""
    sql, args = window_query(_LEAN, window, environment, agent)
    # a window is read once, in index order: a small page cache reads it as fast as the
    # store's large one (sized for ingest) and keeps ~130 MB out of the check's memory
    cache = con.execute("PRAGMA cache_size").fetchone()[0]
    con.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
    try:
        cursor = con.execute(sql, args)
        cursor.arraysize = ROWS_PER_FETCH
        yield from _rows(con, cursor)
    finally:
        con.execute(f"PRAGMA cache_size={int(cache)}")


def _rows(con: sqlite3.Connection, cursor: sqlite3.Cursor) -> Iterator[GradeRow]:
    new = tuple.__new__  # GradeRow._make without its checks: the query gives its 9 columns
    while batch := cursor.fetchmany():
        for row in batch:
            if row[8] is None or row[6] is None or row[5] is None:  # before migration 3
                yield _from_body(con.execute(_BODY, row[:2]).fetchone()[0])
            else:
                yield new(GradeRow, row)


def _from_body(body: str) -> GradeRow:
    """The lean columns of a task stored before migration 3, from its whole body."""
    task = task_of(body)
    _, _, _, _, _, _, _, latency, usage, key, grade = task_row(task)
    return GradeRow(
        task.trace_id, task.span_id, task.agent, task.revision, task.start_ns,
        latency, usage, key, grade,
    )  # fmt: skip
