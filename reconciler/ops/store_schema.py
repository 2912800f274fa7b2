"""The trace store's SQLite schema and its migrations.

Migrations are an ordered list; the file records how many it has run in schema_version.
A file written by a newer alm (a version past the list) is refused, never downgraded.
"""

from __future__ import annotations

import sqlite3

from reconciler.errors import AlmError

# Spans keep the typed columns assembly needs and the attributes as compact JSON; a
# resource (shared by many spans) is stored once. `pending` holds traces with spans added
# but not yet (re)assembled, written in the span batch's own transaction, so a crash
# between the two phases is finished by the next ingest.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE resources (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE);
    CREATE TABLE spans (
        trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT,
        name TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
        status_code INTEGER NOT NULL, status_message TEXT NOT NULL,
        attributes TEXT NOT NULL, resource_id INTEGER NOT NULL,
        PRIMARY KEY (trace_id, span_id)) WITHOUT ROWID;
    CREATE TABLE pending (trace_id TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE tasks (
        trace_id TEXT NOT NULL, span_id TEXT NOT NULL, agent TEXT NOT NULL,
        revision TEXT, environment TEXT, start_ns INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (trace_id, span_id)) WITHOUT ROWID;
    CREATE INDEX tasks_by_start ON tasks (start_ns);
    """,
    # a check of one agent reads its tasks only
    "CREATE INDEX tasks_by_agent ON tasks (agent, start_ns);",
    # what a check reads of a task without decoding it whole (store_codec.task_row):
    # latency, the model calls' usage, and the part grading depends on with its hash, so
    # a window grades each distinct grade once; tasks stored before are re-assembled
    """
    ALTER TABLE tasks ADD COLUMN latency_ns INTEGER;
    ALTER TABLE tasks ADD COLUMN usage TEXT;
    ALTER TABLE tasks ADD COLUMN grade_key TEXT;
    ALTER TABLE tasks ADD COLUMN grade TEXT;
    INSERT OR IGNORE INTO pending SELECT DISTINCT trace_id FROM tasks;
    """,
    # spans and tasks as rowid tables keyed by a unique index: rows are appended in the
    # order they come and only the small index is written at random trace ids (a table
    # clustered on random trace ids rewrote pages all over a growing file: 3x slower at
    # 1M spans)
    """
    CREATE TABLE spans_by_row (
        trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT,
        name TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
        status_code INTEGER NOT NULL, status_message TEXT NOT NULL,
        attributes TEXT NOT NULL, resource_id INTEGER NOT NULL);
    INSERT INTO spans_by_row SELECT * FROM spans;
    DROP TABLE spans;
    ALTER TABLE spans_by_row RENAME TO spans;
    CREATE UNIQUE INDEX spans_key ON spans (trace_id, span_id);
    CREATE TABLE tasks_by_row (
        trace_id TEXT NOT NULL, span_id TEXT NOT NULL, agent TEXT NOT NULL,
        revision TEXT, environment TEXT, start_ns INTEGER NOT NULL, body TEXT NOT NULL,
        latency_ns INTEGER, usage TEXT, grade_key TEXT, grade TEXT);
    INSERT INTO tasks_by_row SELECT * FROM tasks;
    DROP TABLE tasks;
    ALTER TABLE tasks_by_row RENAME TO tasks;
    CREATE UNIQUE INDEX tasks_key ON tasks (trace_id, span_id);
    CREATE INDEX tasks_by_start ON tasks (start_ns);
    CREATE INDEX tasks_by_agent ON tasks (agent, start_ns);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def version(con: sqlite3.Connection) -> int:
    """The migrations a store has run; 0 for an empty file."""
    has = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if has is None:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(con: sqlite3.Connection, label: str, upto: int = SCHEMA_VERSION) -> int:
    """Run the migrations `con` has not run (up to `upto`), all in one transaction;
    the version reached."""
    con.execute("BEGIN IMMEDIATE")  # one migrator at a time; the version read inside it
    try:
        current = version(con)
        if current > SCHEMA_VERSION:
            raise AlmError(
                f"{label}: trace store schema version {current} is newer than this alm "
                f"knows ({SCHEMA_VERSION}); upgrade alm or use another --db"
            )
        if current == 0:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for number in range(current + 1, upto + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                con.execute(statement)
            con.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        con.execute("COMMIT")
        return max(current, upto)
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    # executescript would commit the open transaction; the scripts hold no ';' in text
    return [s.strip() for s in script.split(";") if s.strip()]
