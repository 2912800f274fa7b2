"""Online metrics from the store's lean rows (reconciler.ops.online_fast): the same
CaseResults, metrics and breaches as grading whole Tasks (reconciler.ops.online), on
SDK-made traces ingested into a real trace store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import AlmError
from reconciler.evals.records import CaseResult
from reconciler.ops import online_fast
from reconciler.ops.check import Settings, check_fleet, rows
from reconciler.ops.model import NS_PER_S, Task, Window
from reconciler.ops.online import Grader, GroupKey, metrics_of, window_results
from reconciler.ops.online_fast import GradeRowSource, RowGrader, row_results, source_results
from reconciler.ops.otlp import read_lines
from reconciler.ops.rates import RatedPriceBook
from reconciler.ops.store import TraceStore, open_store
from reconciler.ops.tracegen import ModelStep, Recorder, TaskSpec, ToolStep
from reconciler.pricing import PriceBook
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Tool
from tests import evals_support as es

START = 1_790_000_000 * NS_PER_S
WINDOW = Window(START - NS_PER_S, START + 86_400 * NS_PER_S)
LIVE, OLD = "sha256:" + "1" * 64, "sha256:" + "2" * 64
CARD = r"\b(?:\d[ -]?){12,18}\d\b"
UNPRICED = ModelStep(model="acme-llm-9", provider="acme")
GET = ToolStep("ticketing.get_ticket", arguments={"ticket_id": "TCK-1"}, result={"ok": True})


def triage() -> Agent:
    rules = [
        *es.AGENT["contract"]["must_never"],
        {"id": "no-cards", "rule": "No card numbers.", "forbid_output_patterns": [CARD]},
    ]
    metrics = {
        "task_success_rate": {"min": 0.9},
        "tool_call_success_rate": {"min": 0.9},
        "cost_per_task_usd": {"max": 0.0001},
        "latency_p95_s": {"max": 2.0},
    }
    contract = {
        **es.AGENT["contract"],
        "must_never": rules,
        "success_metrics": metrics,
        "escalation": {"tool": "human.escalate", "when": ["billing dispute"]},
    }
    return es.agent(contract=contract)


def variety() -> list[TaskSpec]:
    """Tasks of every kind grading tells apart, and tasks of one grade with different
    costs and latencies."""
    update = ToolStep("ticketing.update_ticket", arguments={"ticket_id": "1", "queue": "legal"})
    kinds: list[dict[str, Any]] = [
        {"tools": [GET], "output_text": "Routed."},
        {"tools": [GET], "output_text": "Routed.", "success": False},
        {"tools": [GET], "output_text": "Routed.", "feedback": "negative"},
        {"tools": [ToolStep("human.escalate")], "escalation_expected": True},
        {"tools": [GET], "outcome": "escalated", "escalation_expected": False},
        {"tools": [GET], "error": "Timeout"},
        {"tools": [ToolStep("ticketing.get_ticket", error="not found")], "output_text": "No."},
        {"tools": [ToolStep("crm.update_record", arguments={"id": "A"})]},  # ungranted
        {"tools": [ToolStep("billing.issue_refund", arguments={"amount": 5})]},  # must-never
        {"tools": [], "output_text": "Your card 4111 1111 1111 1111 is on file."},
        {"tools": [], "output_text": "I can't change that record."},  # refused
        {"tools": [update, ToolStep("ticketing.get_ticket")]},  # bad arguments, unrecorded
        {"tools": [GET], "model": UNPRICED},
    ]
    specs = []
    for i, kind in enumerate(kinds):
        for copy in range(3):  # one grade, three costs and latencies
            model = kind.get("model", ModelStep(input_tokens=500 + 900 * copy))
            model = ModelStep(model.model, model.provider, model.input_tokens, 100, 0.5 + copy)
            fields = {k: v for k, v in kind.items() if k != "model"}
            revision = OLD if (i + copy) % 5 == 0 else LIVE
            at = START + (3 * i + copy) * 60 * NS_PER_S
            specs.append(TaskSpec("triage", revision, at, model=model, **fields))
    specs.append(TaskSpec("stranger", LIVE, START, tools=[GET]))  # not in the fleet
    return specs


def store_of(path: Path, specs: Sequence[TaskSpec]) -> TraceStore:
    recorder = Recorder("prod")
    for spec in specs:
        recorder.record(spec)
    store = open_store(path)
    store.ingest(read_lines(recorder.lines(), "t.jsonl"), None)
    return store


def by_tasks(
    store: TraceStore, agents: Mapping[str, Agent], prices: PriceBook, catalog: Any
) -> dict[GroupKey, list[CaseResult]]:
    return window_results(store.tasks(WINDOW, "prod"), agents, prices, catalog)


@pytest.mark.parametrize("catalog", [None, es.catalog()], ids=["no-catalog", "catalog"])
@pytest.mark.parametrize("prices", [PriceBook(), RatedPriceBook()], ids=["book", "rated"])
def test_rows_give_the_results_metrics_and_breaches_of_tasks(
    tmp_path: Path, catalog: Mapping[str, Tool] | None, prices: PriceBook
) -> None:
    agents = {"triage": triage()}
    with store_of(tmp_path / "t.db", variety()) as store:
        slow = by_tasks(store, agents, prices, catalog)
        fast = row_results(store.grade_rows(WINDOW, "prod"), agents, prices, catalog)
    # repr: a NaN cost (an unpriced model) is never == itself
    assert repr(fast) == repr(slow)
    assert set(fast) == {("triage", LIVE), ("triage", OLD)}
    results = [r for group in fast.values() for r in group]
    assert {r.status for r in results} == {"passed", "failed"}
    assert {v.kind for r in results for v in r.violations} >= {"ungranted", "must_never"}
    assert any(r.trajectory and r.trajectory.cost_usd != r.trajectory.cost_usd for r in results)
    metrics = {key: repr(metrics_of(group)) for key, group in fast.items()}
    assert metrics == {key: repr(metrics_of(group)) for key, group in slow.items()}
    settings = Settings(min_samples=5)

    def checked(groups: Mapping[GroupKey, Sequence[CaseResult]]) -> str:
        return repr(check_fleet(rows(groups, agents, {"triage": LIVE}, {}), "p", WINDOW, settings))

    assert checked(fast) == checked(slow)
    assert "breach" in {c.status for c in check_fleet(
        rows(fast, agents, {"triage": LIVE}, {}), "p", WINDOW, settings)}  # fmt: skip


def test_each_distinct_grade_is_graded_once(tmp_path: Path) -> None:
    specs = variety()
    with store_of(tmp_path / "t.db", specs) as store:
        grader = RowGrader(Grader(triage(), PriceBook()))
        found = [grader.result(r) for r in store.grade_rows(WINDOW, "prod", "triage")]
    assert len(found) == len(specs) - 1
    assert grader.graded_count == len(found) // 3  # three copies of each grade
    costs = {r.trajectory.cost_usd for r in found if r.trajectory and r.status == "passed"}
    latencies = {r.trajectory.latency_s for r in found if r.trajectory}
    assert len(costs) > 3 and len(latencies) >= 3  # per task, not per grade


def test_the_grade_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(online_fast, "MEMO", 4)
    agents = {"triage": triage()}
    with store_of(tmp_path / "t.db", variety()) as store:
        grader = RowGrader(Grader(agents["triage"], PriceBook()))
        sizes: list[int] = []
        seen = list(store.grade_rows(WINDOW, "prod", "triage"))
        first = [grader.result(row) for row in seen]
        for row in seen:  # again: the grades forgotten by now are graded again
            assert repr(grader.result(row)) == repr(first[len(sizes)])
            sizes.append(len(grader._graded))
        slow = by_tasks(store, agents, PriceBook(), None)
        fast = row_results(store.grade_rows(WINDOW, "prod"), agents, PriceBook(), None)
    assert max(sizes) == 4 and grader.graded_count > 13  # forgotten grades graded again
    assert repr(fast) == repr(slow)


class TasksOnly:
    """A source that gives Tasks only, as ClickHouse does."""

    def __init__(self, store: TraceStore) -> None:
        self.store, self.label = store, "tasks-only"

    def tasks(
        self, window: Window, environment: str | None = None, agent: str | None = None
    ) -> Iterator[Task]:
        return self.store.tasks(window, environment, agent)

    def task(self, trace_id: str, agent: str | None = None) -> list[Task]:
        return self.store.task(trace_id, agent)


def test_the_store_is_read_by_rows_and_other_sources_by_tasks(tmp_path: Path) -> None:
    agents, prices = {"triage": triage()}, PriceBook()
    with store_of(tmp_path / "t.db", variety()) as store:
        assert isinstance(store, GradeRowSource)
        assert not isinstance(TasksOnly(store), GradeRowSource)
        expected = repr(by_tasks(store, agents, prices, None))
        assert repr(source_results(TasksOnly(store), WINDOW, "prod", agents, prices)) == expected
        # the rows never read a task's body: with the bodies gone the store still checks
        store.con.execute("UPDATE tasks SET body = '{}'")
        store.con.commit()
        assert repr(source_results(store, WINDOW, "prod", agents, prices)) == expected
        with pytest.raises(AlmError, match="cannot read"):
            list(TasksOnly(store).tasks(WINDOW, "prod"))
