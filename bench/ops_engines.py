"""The trace store's engine, measured: SQLite (stdlib) against DuckDB on the bench.ops
corpus (1,000,000 SDK-made spans), each engine in its own process for its peak memory.

Both get the same rows from the same decoder (one pass of json over the OTLP lines, the
attributes kept as compact JSON) and store them with primary key (trace_id, span_id):
- ingest: INSERT OR IGNORE in batches of 20,000 rows, each batch its own transaction
  (SQLite: executemany in WAL mode; DuckDB: a pyarrow batch, its fast path), then again
  (re-ingest must add nothing);
- tasks: one row per invoke_agent span (agent, environment, start_ns + a JSON body), built
  in SQL, indexed by start time;
- the check's query: the tasks of a window of one environment (with the tasks without
  one) oldest first, bodies decoded, and the same for one agent;
- assembly's read: the spans of 5,000 traces fetched trace by trace, as re-assembly does.
Reported: wall per step, peak RSS, file size. The store (reconciler.ops.store) uses the
winner; this module is the only place DuckDB is used.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import PROJECT_ROOT, Config, Result
from bench.ops import corpus, measured

BATCH = 20_000
Row = tuple[Any, ...]
SPANS_DDL = (
    "CREATE TABLE spans (trace_id TEXT, span_id TEXT, parent TEXT, name TEXT, start_ns BIGINT,"
    " end_ns BIGINT, status INTEGER, attributes TEXT, environment TEXT,"
    " PRIMARY KEY (trace_id, span_id))"
)
TASKS_SQL = (
    "CREATE TABLE tasks AS SELECT trace_id, span_id,"
    " json_extract_string(attributes, '$.\"gen_ai.agent.name\"') AS agent, environment,"
    " start_ns, attributes AS body FROM spans WHERE name LIKE 'invoke_agent%'"
)
QUERY = (
    "SELECT body FROM tasks WHERE start_ns >= ? AND start_ns < ?"
    " AND (environment = ? OR environment IS NULL){agent} ORDER BY start_ns"
)


def _value(any_value: dict[str, Any]) -> Any:
    for key, value in any_value.items():
        return int(value) if key == "intValue" else value
    return None


def rows(path: Path) -> Iterator[Row]:
    with open(path, "rb") as handle:
        for line in handle:
            for rs in json.loads(line)["resourceSpans"]:
                res = {a["key"]: _value(a["value"]) for a in rs["resource"]["attributes"]}
                env = res.get("deployment.environment.name")
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        attrs = {a["key"]: _value(a["value"]) for a in s.get("attributes", ())}
                        yield (
                            s["traceId"],
                            s["spanId"],
                            s.get("parentSpanId"),
                            s["name"],
                            int(s["startTimeUnixNano"]),
                            int(s["endTimeUnixNano"]),
                            s.get("status", {}).get("code", 0),
                            json.dumps(attrs, separators=(",", ":")),
                            env,
                        )


def batches(path: Path) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows(path):
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class Sqlite:
    def __init__(self, db: Path) -> None:
        self.con = sqlite3.connect(db, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute(SPANS_DDL + " WITHOUT ROWID")

    def insert(self, batch: list[Row]) -> None:
        self.con.execute("BEGIN")
        self.con.executemany("INSERT OR IGNORE INTO spans VALUES (?,?,?,?,?,?,?,?,?)", batch)
        self.con.execute("COMMIT")

    def count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM spans").fetchone()[0])

    def build_tasks(self) -> None:
        self.con.execute(TASKS_SQL.replace("json_extract_string", "json_extract"))
        self.con.execute("CREATE INDEX tasks_start ON tasks (start_ns)")

    def query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return self.con.execute(sql, args).fetchall()

    def close(self) -> None:
        self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.con.close()


class Duck:
    def __init__(self, db: Path) -> None:
        import duckdb
        import pyarrow

        self.pa = pyarrow
        self.con = duckdb.connect(str(db))
        self.con.execute(SPANS_DDL).fetchall()
        self.names = [
            "trace_id",
            "span_id",
            "parent",
            "name",
            "start_ns",
            "end_ns",
            "status",
            "attributes",
            "environment",
        ]

    def insert(self, batch: list[Row]) -> None:
        table = self.pa.table(
            {n: list(c) for n, c in zip(self.names, zip(*batch, strict=True), strict=True)}
        )
        self.con.register("batch", table)
        self.con.execute("INSERT OR IGNORE INTO spans SELECT * FROM batch").fetchall()
        self.con.unregister("batch")

    def count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM spans").fetchall()[0][0])

    def build_tasks(self) -> None:
        self.con.execute(TASKS_SQL).fetchall()
        self.con.execute("CREATE INDEX tasks_start ON tasks (start_ns)").fetchall()

    def query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return self.con.execute(sql, args).fetchall()

    def close(self) -> None:
        self.con.execute("CHECKPOINT").fetchall()
        self.con.close()


ENGINES: dict[str, Callable[[Path], Any]] = {"sqlite": Sqlite, "duckdb": Duck}


def _timed(step: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = step()
    return value, time.perf_counter() - started


def measure(engine: str, path: Path, db: Path) -> dict[str, Any]:
    """One engine's figures (run in its own process by `run`)."""
    store = ENGINES[engine](db)
    _, ingest = _timed(lambda: [store.insert(b) for b in batches(path)])
    count = store.count()
    _, again = _timed(lambda: [store.insert(b) for b in batches(path)])
    readded = store.count() - count
    _, tasks = _timed(store.build_tasks)
    start, end = store.query("SELECT min(start_ns), max(start_ns) FROM tasks", ())[0]
    window = (start, start + (end - start) // 2)

    def check() -> int:
        return len(
            [json.loads(b) for (b,) in store.query(QUERY.format(agent=""), (*window, "prod"))]
        )

    found, query = _timed(check)
    agent = store.query("SELECT agent FROM tasks LIMIT 1", ())[0][0]
    sql = QUERY.format(agent=" AND agent = ?")
    by_agent, query_agent = _timed(lambda: len(store.query(sql, (*window, "prod", agent))))
    traces = [t for (t,) in store.query("SELECT trace_id FROM tasks", ())]
    sample = random.Random(1).sample(traces, min(5000, len(traces)))
    one = "SELECT * FROM spans WHERE trace_id = ?"
    _, per_trace = _timed(lambda: [store.query(one, (t,)) for t in sample])
    store.close()
    return {
        "engine": engine,
        "spans": count,
        "readded": readded,
        "ingest_s": ingest,
        "reingest_s": again,
        "tasks_s": tasks,
        "tasks": len(traces),
        "query_s": query,
        "query_tasks": found,
        "query_agent_s": query_agent,
        "query_agent_tasks": by_agent,
        "read_5000_traces_s": per_trace,
        "file_mb": _size(db) / 1e6,
    }


def _size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def run(config: Config) -> list[Result]:
    data = corpus(config.cache)
    results: list[Result] = []
    for engine in ENGINES:
        db = config.cache / f"ops-engine.{engine}"
        for old in config.cache.glob(db.name + "*"):
            old.unlink()
        argv = [sys.executable, "-m", "bench.ops_engines", engine, str(data.path), str(db)]
        code, _, rss, out, err = measured(argv)
        if code != 0:
            results.append(Result(f"ops.engine.{engine}", 0, "", "", False, err[-300:]))
            continue
        got = json.loads(out)
        note = json.dumps(got)
        results.append(Result(f"ops.engine.{engine}.ingest", got["ingest_s"], "s", note=note))
        results.append(Result(f"ops.engine.{engine}.rss", rss, "MB"))
        results.append(Result(f"ops.engine.{engine}.file", got["file_mb"], "MB"))
        results.append(Result(f"ops.engine.{engine}.query", got["query_s"], "s"))
        for old in config.cache.glob(db.name + "*"):
            old.unlink()
    return results


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(PROJECT_ROOT))
    name, file, target = sys.argv[1:4]
    print(json.dumps(measure(name, Path(file), Path(target))))
