"""The lean read of the trace store (reconciler.ops.task_rows) on real SQLite files fed
SDK-made traces: the columns of migration 3, in the order TraceStore.tasks gives, and
the fallback to the task body for rows stored before migration 3."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from reconciler.ops.model import NS_PER_S, Window
from reconciler.ops.otlp import read_lines
from reconciler.ops.store import TraceStore, open_store
from reconciler.ops.store_codec import grade_json
from reconciler.ops.task_rows import READ_CACHE_KIB, ROWS_PER_FETCH, GradeRow, grade_rows
from reconciler.ops.tracegen import ModelStep, Recorder, TaskSpec, ToolStep

T0 = 1_767_225_600 * NS_PER_S
ALL = Window(T0 - 3600 * NS_PER_S, T0 + 86_400 * NS_PER_S)
AGENTS = {"support", "billing"}


def spec(agent: str, at: int, tools: int = 1, **labels: object) -> TaskSpec:
    steps = [ToolStep("crm.lookup", arguments={"id": i}, error=None) for i in range(tools)]
    model = ModelStep(input_tokens=100 + at, output_tokens=10 + at)
    return TaskSpec(
        agent, f"sha256:{agent}", T0 + at * NS_PER_S, tools=steps, model=model,
        output_text=f"done {at % 2}", **labels,  # type: ignore[arg-type]
    )  # fmt: skip


def stored(path: Path, specs: list[TaskSpec], environment: str = "prod") -> TraceStore:
    recorder = Recorder(environment)
    for one in specs:
        recorder.record(one)
    store = open_store(path)
    store.ingest(read_lines(recorder.lines(), "t.jsonl"), AGENTS)
    return store


SPECS = [
    spec("support", 3, tools=2, outcome="escalated"),
    spec("billing", 1, tools=0, error="Timeout"),
    spec("support", 2, success=False, feedback="negative"),
    spec("support", 5, escalation_expected=True),
]


def test_rows_carry_the_columns_a_check_needs_in_start_order(tmp_path: Path) -> None:
    with stored(tmp_path / "t.db", SPECS) as store:
        tasks = list(store.tasks(ALL, "prod"))
        found = list(store.grade_rows(ALL, "prod"))
    assert [(r.trace_id, r.span_id) for r in found] == [(t.trace_id, t.span_id) for t in tasks]
    assert [r.start_ns for r in found] == sorted(r.start_ns for r in found)
    for row, task in zip(found, tasks, strict=True):
        assert isinstance(row, GradeRow)
        assert (row.agent, row.revision, row.start_ns) == (task.agent, task.revision, task.start_ns)
        assert row.latency_ns == task.end_ns - task.start_ns > 0
        usage = [[c.provider, c.model, c.input_tokens, c.output_tokens, c.cached_input_tokens]
                 for c in task.model_calls]  # fmt: skip
        assert json.loads(row.usage) == usage and usage
        assert row.grade == grade_json(task)
        assert row.grade_key == hashlib.blake2b(row.grade.encode(), digest_size=16).hexdigest()


def test_rows_by_environment_and_agent(tmp_path: Path) -> None:
    with stored(tmp_path / "t.db", SPECS) as store:
        store.ingest(read_lines(_staging_lines(), "s.jsonl"), AGENTS)
        assert len(list(store.grade_rows(ALL))) == 5
        assert len(list(store.grade_rows(ALL, "prod"))) == 4
        assert {r.agent for r in store.grade_rows(ALL, "prod", "billing")} == {"billing"}
        later = Window(T0 + 3 * NS_PER_S, ALL.end_ns)
        assert [r.start_ns for r in store.grade_rows(later, "prod")] == [
            T0 + 3 * NS_PER_S,
            T0 + 5 * NS_PER_S,
        ]


def _staging_lines() -> list[str]:
    recorder = Recorder("staging")
    recorder.record(spec("support", 7))
    return list(recorder.lines())


def test_rows_stored_before_migration_3_are_read_from_the_body(tmp_path: Path) -> None:
    with stored(tmp_path / "t.db", SPECS) as store:
        lean = list(store.grade_rows(ALL, "prod"))
        # what a store from before migration 3 holds until its traces are re-assembled
        store.con.execute(
            "UPDATE tasks SET latency_ns = NULL, usage = NULL, grade_key = NULL, grade = NULL"
            " WHERE agent = 'support'"
        )
        store.con.commit()
        nulls = store.con.execute("SELECT count(*) FROM tasks WHERE grade IS NULL").fetchone()
        assert nulls == (3,)
        assert list(store.grade_rows(ALL, "prod")) == lean


def test_a_window_longer_than_one_fetch_is_streamed_whole(tmp_path: Path) -> None:
    specs = [spec("support", i, tools=i % 3) for i in range(ROWS_PER_FETCH + 7)]
    with stored(tmp_path / "t.db", specs) as store:
        rows = grade_rows(store.con, ALL, "prod")
        first = next(rows)
        assert first.start_ns == T0
        rest = list(rows)
    assert len(rest) == ROWS_PER_FETCH + 6
    assert len({r.grade_key for r in [first, *rest]}) == 6  # 3 tool counts x 2 outputs


def test_a_read_uses_a_small_page_cache_and_restores_the_stores(tmp_path: Path) -> None:
    with stored(tmp_path / "t.db", SPECS) as store:
        before = store.con.execute("PRAGMA cache_size").fetchone()[0]
        assert before != -READ_CACHE_KIB
        rows = store.grade_rows(ALL, "prod")
        next(rows)
        assert store.con.execute("PRAGMA cache_size").fetchone() == (-READ_CACHE_KIB,)
        assert len(list(rows)) == 3
        assert store.con.execute("PRAGMA cache_size").fetchone() == (before,)
        early = grade_rows(store.con, ALL, "prod")
        next(early)
        early.close()  # a reader that stops early restores it too
        assert store.con.execute("PRAGMA cache_size").fetchone() == (before,)
