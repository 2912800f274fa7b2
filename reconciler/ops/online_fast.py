"""Online metrics from the trace store's lean rows (reconciler.ops.task_rows): each
distinct grade graded once, by the same Grader as every task (reconciler.ops.online).

A window repeats the same few grades (same tool calls, answer and labels) over thousands
of tasks. What a CaseResult takes from its grade (status, reason, outcome, violations, the
tool calls' summaries, the final output, the stop reason, the error) is graded once per
grade key, from a task rebuilt out of the stored grade; per task only its own numbers are
computed: usage, cost (Grader.call_cost, NaN when unpriced), latency and step count. The
result is the CaseResult the Task path gives, field for field (tests/test_ops_online.py),
so reconciler.evals.metrics.compute and the checks run unchanged.

A source that can give lean rows says so by its `grade_rows` method (the embedded store);
any other source (ClickHouse) goes through its Tasks.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from reconciler.evals.grading import TrialStatus
from reconciler.evals.records import CaseResult, ToolCallSummary, TrajectorySummary
from reconciler.evals.types import Outcome, StopReason, Violation
from reconciler.ops.model import NS_PER_S, Task, TaskSource, ToolUse, Window
from reconciler.ops.online import MEMO, SUITE, Grader, GroupKey, window_results
from reconciler.ops.store_codec import decode
from reconciler.ops.task_rows import GradeRow
from reconciler.pricing import PriceBook, TokenUsage
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Tool

Usage = tuple[int, float, TokenUsage]  # a task's model calls, cost and summed usage


@runtime_checkable
class GradeRowSource(Protocol):
    """A TaskSource that also reads tasks as lean rows (TraceStore)."""

    def grade_rows(
        self, window: Window, environment: str | None = None, agent: str | None = None
    ) -> Iterator[GradeRow]: ...


@dataclass(frozen=True)
class Graded:
    """The parts of a CaseResult that depend on the task's grade only."""

    status: TrialStatus
    reason: str
    outcome: Outcome | None
    expected_outcome: Outcome | None
    violations: tuple[Violation, ...]
    tool_calls: tuple[ToolCallSummary, ...]
    final_output: str
    final_output_chars: int
    stop_reason: StopReason
    error: str | None


def task_of_grade(row: GradeRow) -> Task:
    """The task grading sees: the stored grade (store_codec.grade_json), no model calls
    (grading reads none), ids and agent of the row."""
    data: dict[str, Any] = decode(row.grade)
    tools = tuple(
        ToolUse("", tool, error=error, arguments=args) for tool, error, args in data["tools"]
    )
    return Task(
        row.trace_id, row.span_id, row.agent, row.revision, None, 0, 0,
        error=data["error"], tool_calls=tools, output_text=data["output_text"],
        outcome=data["outcome"], success=data["success"], feedback=data["feedback"],
        escalation_expected=data["escalation_expected"],
    )  # fmt: skip


def graded_of(result: CaseResult) -> Graded:
    path = result.trajectory
    assert path is not None  # Grader.result always summarises the trajectory
    return Graded(
        result.status, result.reason, result.outcome, result.expected_outcome,
        result.violations, path.tool_calls, path.final_output, path.final_output_chars,
        path.stop_reason, path.error,
    )  # fmt: skip


class RowGrader:
    """One agent's rows as CaseResults; grades remembered per grade key (bounded: forgotten
    past MEMO distinct grades, as Grader's memos are)."""

    def __init__(self, grader: Grader) -> None:
        self.grader = grader
        self._graded: dict[str, Graded] = {}
        self._usage: dict[str, Usage] = {}
        self.graded_count = 0  # grades actually graded (misses), for tests and profiles

    def graded(self, row: GradeRow) -> Graded:
        found = self._graded.get(row.grade_key)
        if found is None:
            if len(self._graded) >= MEMO:
                self._graded.clear()
            found = graded_of(self.grader.result(task_of_grade(row)))
            self._graded[row.grade_key] = found
            self.graded_count += 1
        return found

    def usage(self, text: str) -> Usage:
        """(model calls, cost, usage) of a task's stored usage; remembered per text, since
        tasks repeat the same calls (bounded as the grades are)."""
        found = self._usage.get(text)
        if found is None:
            if len(self._usage) >= MEMO:
                self._usage.clear()
            calls = json.loads(text)
            found = self._usage[text] = (len(calls), *self.cost(calls))
        return found

    def cost(self, calls: list[list[Any]]) -> tuple[float, TokenUsage]:
        """The task's cost (summed as Trajectory.cost_usd sums) and usage."""
        call_cost = self.grader.call_cost
        costs = []
        inputs = outputs = cached = 0
        for provider, model, input_tokens, output_tokens, cached_tokens in calls:
            usage = TokenUsage(input_tokens, output_tokens, cached_tokens)
            costs.append(call_cost(provider, model, usage))
            inputs += input_tokens
            outputs += output_tokens
            cached += cached_tokens
        return sum(costs), TokenUsage(inputs, outputs, cached)

    def result(self, row: GradeRow) -> CaseResult:
        """The CaseResult Grader.result gives for the row's task."""
        graded = self.graded(row)
        steps, cost, usage = self.usage(row.usage)
        summary = TrajectorySummary(
            steps, graded.stop_reason, graded.tool_calls, graded.final_output,
            graded.final_output_chars, usage, steps, cost, row.latency_ns / NS_PER_S,
            graded.error,
        )  # fmt: skip
        return CaseResult(
            sys.intern(row.agent), SUITE, f"{row.trace_id}:{row.span_id}", 0, 1, (), graded.status,
            graded.reason, graded.outcome, graded.expected_outcome, (), graded.violations,
            summary,
        )  # fmt: skip


def row_results(
    rows: Iterable[GradeRow],
    agents: Mapping[str, Agent],
    prices: PriceBook,
    catalog: Mapping[str, Tool] | None = None,
) -> dict[GroupKey, list[CaseResult]]:
    """online.window_results from lean rows: rows of agents not in `agents` left out."""
    groups: defaultdict[GroupKey, list[CaseResult]] = defaultdict(list)
    graders = {n: RowGrader(Grader(agent, prices, catalog)) for n, agent in agents.items()}
    for row in rows:
        grader = graders.get(row.agent)
        if grader is not None:
            groups[(row.agent, row.revision)].append(grader.result(row))
    return dict(groups)


def source_results(
    source: TaskSource,
    window: Window,
    environment: str | None,
    agents: Mapping[str, Agent],
    prices: PriceBook,
    catalog: Mapping[str, Tool] | None = None,
) -> dict[GroupKey, list[CaseResult]]:
    """The window's results, by lean rows when the source gives them, else by its Tasks
    (streamed either way: no task is held past its grading)."""
    if isinstance(source, GradeRowSource):
        return row_results(source.grade_rows(window, environment), agents, prices, catalog)
    return window_results(source.tasks(window, environment), agents, prices, catalog)
