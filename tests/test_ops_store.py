"""The embedded trace store (reconciler.ops.store) on real SQLite files, fed SDK-made
traces (reconciler.ops.tracegen) through the real reader (reconciler.ops.otlp)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from reconciler.errors import AlmError
from reconciler.ops.model import Task, Window
from reconciler.ops.otlp import read_files, read_lines
from reconciler.ops.otlp_json import export_line
from reconciler.ops.store import TraceStore, open_store
from reconciler.ops.store_schema import SCHEMA_VERSION, migrate, version
from reconciler.ops.tracegen import Recorder, TaskSpec, ToolStep

T0 = 1_767_225_600 * 1_000_000_000
S = 1_000_000_000
AGENTS = {"support", "billing"}


def spec(agent: str = "support", at: int = 0, tools: int = 1) -> TaskSpec:
    steps = [ToolStep("crm.lookup", arguments={"id": i}, result={"ok": True}) for i in range(tools)]
    return TaskSpec(agent, f"sha256:{agent}", T0 + at * S, tools=steps, outcome="resolved")


def write(path: Path, spans: Iterable[ReadableSpan], per_line: int = 3) -> Path:
    spans = list(spans)
    lines = [export_line(spans[i : i + per_line]) for i in range(0, len(spans), per_line)]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def recorded(*specs: TaskSpec, environment: str = "prod") -> Recorder:
    recorder = Recorder(environment)
    for one in specs:
        recorder.record(one)
    return recorder


def ingest(store: TraceStore, *files: Path) -> tuple[int, int, int, dict[str, int]]:
    report = store.ingest(read_files(files), AGENTS)
    return report.added, report.duplicates, report.tasks, report.bad


ALL = Window(T0 - 3600 * S, T0 + 86_400 * S)


def test_reingesting_the_same_file_adds_nothing(tmp_path: Path) -> None:
    file = recorded(spec(at=1), spec("billing", at=2, tools=2)).write(tmp_path / "a.jsonl")
    with open_store(tmp_path / "t.db") as store:
        assert ingest(store, file) == (10, 0, 2, {})
        first = list(store.tasks(ALL))
        again = store.ingest(read_files([file]), AGENTS)
        assert (again.spans_read, again.added, again.duplicates) == (10, 0, 10)
        assert (again.traces, again.tasks) == (0, 0)
        assert store.counts() == (10, 2)
        assert list(store.tasks(ALL)) == first


def test_a_trace_split_across_two_ingests_gets_its_task_when_completed(tmp_path: Path) -> None:
    spans = recorded(spec(tools=2)).spans()
    root = [s for s in spans if s.name.startswith("invoke_agent")]
    children = [s for s in spans if not s.name.startswith("invoke_agent")]
    with open_store(tmp_path / "t.db") as store:
        added, _, tasks, bad = ingest(store, write(tmp_path / "children.jsonl", children))
        assert (added, tasks, bad) == (5, 0, {"no-root": 1})
        assert list(store.tasks(ALL)) == []
        added, _, tasks, bad = ingest(store, write(tmp_path / "root.jsonl", root))
        assert (added, tasks, bad) == (1, 1, {})
        (task,) = store.tasks(ALL)
        assert [t.tool for t in task.tool_calls] == ["crm.lookup", "crm.lookup"]
        assert len(task.model_calls) == 3


def test_out_of_order_files_and_lines_give_the_same_tasks(tmp_path: Path) -> None:
    spans = recorded(spec(at=5), spec("billing", at=1, tools=3), spec(at=3, tools=0)).spans()
    ordered = write(tmp_path / "ordered.jsonl", spans)
    with open_store(tmp_path / "ordered.db") as store:
        ingest(store, ordered)
        expected = list(store.tasks(ALL))
    half = len(spans) // 2
    late = write(tmp_path / "late.jsonl", reversed(spans[:half]), per_line=2)
    early = write(tmp_path / "early.jsonl", reversed(spans[half:]), per_line=1)
    with open_store(tmp_path / "shuffled.db") as store:
        store.ingest(read_files([early, late]), AGENTS)
        assert list(store.tasks(ALL)) == expected
    assert [t.start_ns for t in expected] == [T0 + S, T0 + 3 * S, T0 + 5 * S]


def test_tasks_by_window_environment_and_agent(tmp_path: Path) -> None:
    prod = recorded(spec(at=10), spec("billing", at=20), spec(at=30)).write(tmp_path / "p.jsonl")
    staging = recorded(spec(at=15), environment="staging").write(tmp_path / "s.jsonl")
    nowhere = _no_environment(spec("billing", at=25)).write(tmp_path / "n.jsonl")
    with open_store(tmp_path / "t.db") as store:
        ingest(store, prod, staging, nowhere)

        def seen(window: Window, env: str | None = None, agent: str | None = None) -> list:
            return [
                (t.agent, t.environment, (t.start_ns - T0) // S)
                for t in store.tasks(window, env, agent)
            ]

        assert seen(ALL, "prod") == [
            ("support", "prod", 10),
            ("billing", "prod", 20),
            ("billing", None, 25),
            ("support", "prod", 30),
        ]
        assert seen(ALL, "staging") == [("support", "staging", 15), ("billing", None, 25)]
        assert seen(ALL, "prod", "billing") == [("billing", "prod", 20), ("billing", None, 25)]
        assert len(seen(ALL)) == 5
        # [start, end): a task starting at the end is in the next window
        assert seen(Window(T0 + 15 * S, T0 + 30 * S)) == [
            ("support", "staging", 15),
            ("billing", "prod", 20),
            ("billing", None, 25),
        ]


def _no_environment(*specs: TaskSpec) -> Recorder:
    recorder = Recorder()
    recorder.provider = TracerProvider(resource=Resource.create({"service.name": "x"}))
    recorder.provider.add_span_processor(SimpleSpanProcessor(recorder.exporter))
    recorder.tracer = recorder.provider.get_tracer("test")
    for one in specs:
        recorder.record(one)
    return recorder


def test_task_by_trace_and_agent_round_trips_every_field(tmp_path: Path) -> None:
    recorder = Recorder("prod")
    trace_id = recorder.record(
        TaskSpec(
            "support",
            "sha256:1",
            T0,
            tools=[
                ToolStep("crm.lookup", error="timeout", arguments={"q": "é"}, result=[1, 2.5, None])
            ],
            input_text="hi",
            output_text="bye",
            outcome="escalated",
            success=False,
            feedback="negative",
            escalation_expected=True,
            error="boom",
            conversation_id="c-1",
        )
    )
    file = recorder.write(tmp_path / "a.jsonl.gz")
    with open_store(tmp_path / "t.db") as store:
        ingest(store, file)
        (task,) = store.task(trace_id.upper(), "support")
        assert store.task(trace_id, "billing") == []
    (fresh,), _ = _assembled(file)
    assert task == fresh
    assert (task.feedback, task.error, task.tool_calls[0].arguments) == (
        "negative",
        "boom",
        {"q": "é"},
    )


def _assembled(file: Path) -> tuple[list[Task], list]:
    from reconciler.ops.assemble import assemble

    return assemble([s for s in read_files([file]) if not hasattr(s, "kind")], AGENTS)


def test_bad_spans_are_counted_by_kind_with_an_example(tmp_path: Path) -> None:
    good = recorded(spec(), spec("stranger", at=1)).spans()
    line = export_line(good)
    broken = json.loads(line)
    broken["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "not-hex"
    lines = [line, json.dumps(broken), "{not json"]
    with open_store(tmp_path / "t.db") as store:
        report = store.ingest(read_lines(lines, "f.jsonl"), AGENTS)
    assert report.bad == {"bad-id": 1, "bad-json": 1, "unknown-agent": 1}
    assert report.examples["bad-json"].where == "f.jsonl:3"
    assert report.examples["bad-id"].where == "f.jsonl:2"
    assert report.tasks == 1


def test_an_empty_file_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    db.write_bytes(b"")
    with open_store(db) as store:
        assert version(store.con) == SCHEMA_VERSION
        assert store.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_older_schema_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    con = sqlite3.connect(db, isolation_level=None)
    assert migrate(con, "t.db", upto=1) == 1
    con.execute("INSERT INTO tasks VALUES ('t', 's', 'a', NULL, NULL, 1, '{}')")
    con.close()
    with open_store(db) as store:
        assert version(store.con) == SCHEMA_VERSION == 4
        indexes = {r[0] for r in store.con.execute("SELECT name FROM sqlite_master")}
        assert "tasks_by_agent" in indexes
        assert store.counts() == (0, 1)
        # migration 3: the lean columns exist, and tasks stored before are re-assembled
        columns = [r[1] for r in store.con.execute("PRAGMA table_info(tasks)")]
        assert columns[-4:] == ["latency_ns", "usage", "grade_key", "grade"]
        assert store.con.execute("SELECT trace_id FROM pending").fetchall() == [("t",)]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    open_store(db).close()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    con.close()
    newer = (
        rf"schema version {SCHEMA_VERSION + 1} is newer than this alm knows \({SCHEMA_VERSION}\)"
    )
    with pytest.raises(AlmError, match=newer):
        open_store(db)


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    db.write_bytes(b"this is not SQLite at all, just some text\n" * 200)
    with pytest.raises(AlmError, match=r"t\.db: not a trace store alm can read"):
        open_store(db)
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(AlmError, match=r"folder\.db"):
        open_store(folder)


def test_a_file_overlapping_stored_spans_adds_only_the_new_ones(tmp_path: Path) -> None:
    recorder = recorded(spec(at=1), spec("billing", at=2))
    first = write(tmp_path / "first.jsonl", recorder.spans())
    recorder.record(spec(at=3, tools=2))
    both = write(tmp_path / "both.jsonl", recorder.spans(), per_line=100)  # one mixed batch
    with open_store(tmp_path / "t.db") as store:
        ingest(store, first)
        again = store.ingest(read_files([both]), AGENTS)
        assert (again.added, again.duplicates, again.traces, again.tasks) == (6, 8, 1, 1)
        assert store.counts() == (14, 3)


def test_a_trace_split_across_batches_of_one_run_is_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 2 spans: the first holds the root (assembled from memory at once), the
    later ones the rest (the trace is then re-assembled from the store): one trace, one
    task with every call, and the bad span of its unknown agent reported once."""
    monkeypatch.setattr("reconciler.ops.store_ingest.BATCH_SPANS", 2)
    spans = sorted(
        recorded(spec("nobody", tools=2), spec(at=5)).spans(), key=lambda s: s.start_time or 0
    )
    file = write(tmp_path / "a.jsonl", spans, per_line=1)
    with open_store(tmp_path / "t.db") as store:
        report = store.ingest(read_files([file]), AGENTS)
        assert (report.added, report.traces, report.tasks) == (10, 2, 1)
        assert report.bad == {"unknown-agent": 1}
        (task,) = store.tasks(ALL)
        assert task.agent == "support" and len(task.model_calls) == 2
        assert store.con.execute("SELECT count(*) FROM pending").fetchone()[0] == 0


def test_a_batch_assembles_complete_traces_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace whole in one batch is assembled without being read back; one whose spans
    have no root yet is left pending and assembled when the run ends."""
    read_back: list[str] = []
    from reconciler.ops import store_ingest

    monkeypatch.setattr(store_ingest, "BATCH_SPANS", 7)  # a.jsonl's spans, then b.jsonl's
    real = store_ingest.Ingest._span
    monkeypatch.setattr(
        store_ingest.Ingest, "_span", lambda self, row: read_back.append(row[0]) or real(self, row)
    )
    whole = recorded(spec(tools=1)).spans()
    spans = recorded(spec("billing", at=3, tools=1)).spans()
    root = [s for s in spans if s.name.startswith("invoke_agent")]
    rest = [s for s in spans if not s.name.startswith("invoke_agent")]
    file = write(tmp_path / "a.jsonl", [*whole, *rest], per_line=10)
    later = write(tmp_path / "b.jsonl", root)
    with open_store(tmp_path / "t.db") as store:
        report = store.ingest(read_files([file, later]), AGENTS)
        assert (report.traces, report.tasks, report.bad) == (2, 2, {})
        assert set(read_back) == {spans[0].context.trace_id.to_bytes(16, "big").hex()}
        assert sorted(t.agent for t in store.tasks(ALL)) == ["billing", "support"]
