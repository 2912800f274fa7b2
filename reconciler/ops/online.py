"""Online metrics: production tasks graded as eval trials, so that `alm eval` and `alm ops
check` compute every metric with the same code (reconciler.evals.metrics.compute).

A task becomes a `Trajectory` (its tool calls, model calls, final output, latency), which
goes through the evals' own must-never check (grading.collect_violations) and outcome
rule (grading.derive_outcome, unless the runtime labelled it), then becomes a
`CaseResult` of suite "production": one task, one case, one trial.

Online a task has no expectations; when it fails is defined in reconciler.ops.task_failure
(a broken must-never rule, an error, a negative label or feedback, a wrong escalation).

Tool calls are checked as the eval sandbox checks them (evals.sandbox.Sandbox.check):
a tool the agent is not granted (or, with the catalog, not in it) is an `ungranted`
violation; with the catalog and recorded arguments, the arguments' schema and the grant's
constraints are checked too. A model alm cannot price makes the task's cost NaN in its
record and the window's cost per task is the mean over priced tasks (never priced at 0).
Escalation precision and recall count labelled tasks only (`alm.escalation.expected`;
false is recorded as expected outcome "resolved").
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from reconciler.evals.grading import collect_violations, derive_outcome
from reconciler.evals.metrics import Metrics, compute
from reconciler.evals.records import CaseResult, summarize
from reconciler.evals.sandbox import Sandbox
from reconciler.evals.types import (
    ModelCall,
    Outcome,
    ToolCall,
    Trajectory,
    Violation,
    canonical_json,
)
from reconciler.ops.model import NS_PER_S, ModelUse, Task, ToolUse
from reconciler.ops.task_failure import task_status
from reconciler.pricing import PriceBook, TokenUsage
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Tool

SUITE = "production"
MEMO = 100_000  # checks remembered per agent (calls; whole trajectories)
# alm.escalation.expected as an expected outcome: false reads as "resolved" (not escalated;
# only precision and recall use it), no label as None (left out of precision and recall)
EXPECTED: dict[bool | None, Outcome | None] = {True: "escalated", False: "resolved", None: None}
GroupKey = tuple[str, str | None]  # (agent, revision)


# --- one task ---------------------------------------------------------------------------


def _seconds(start_ns: int, end_ns: int) -> float:
    return max(end_ns - start_ns, 0) / NS_PER_S


# stands in for a tool whose arguments are not judged: any object passes its schema
OPEN_TOOL = Tool(
    name="any.tool",
    system="any",
    description="a tool whose arguments were not recorded",
    access="read",
    risk="low",
    parameters={"type": "object"},
)


class _Unjudged(Mapping[str, Tool]):
    """The catalog's tools (every name, without one) with open argument schemas."""

    def __init__(self, catalog: Mapping[str, Tool] | None) -> None:
        self.catalog = catalog

    def __getitem__(self, name: str) -> Tool:
        if self.catalog is None or name in self.catalog:
            return OPEN_TOOL
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.catalog or {})

    def __len__(self) -> int:
        return len(self.catalog or {})


class Grader:
    """Grades one agent's tasks; the sandboxes are built once (an agent's grants are)."""

    def __init__(
        self, agent: Agent, prices: PriceBook, catalog: Mapping[str, Tool] | None = None
    ) -> None:
        self.agent = agent
        self.prices = prices
        self._judged = None if catalog is None else Sandbox(agent, catalog, ())
        self._unjudged = Sandbox(agent, _Unjudged(catalog), ())
        # a window repeats the same few tools and models: their checks and prices, once
        self._by_tool: dict[str, tuple[Violation, ...]] = {}
        self._by_call: dict[tuple[str, str], tuple[Violation, ...]] = {}
        self._by_path: dict[tuple[Any, str], tuple[Violation, ...]] = {}
        self._known: dict[tuple[str, str], bool] = {}

    def violations(self, use: ToolUse) -> tuple[Violation, ...]:
        """The sandbox's checks of one recorded call. Content capture is opt-in: without
        recorded arguments (or without the catalog) only the grants, the catalog's names
        and the must-never rules are checked."""
        if self._judged is not None and use.arguments is not None:
            return self._judged_check(self._judged, use.tool, use.arguments)
        found = self._by_tool.get(use.tool)
        if found is None:
            found = self._by_tool[use.tool] = self._unjudged.check(use.tool, {})
        return found

    def _judged_check(self, sandbox: Sandbox, tool: str, arguments: Any) -> tuple[Violation, ...]:
        """Sandbox.check, remembered per (tool, arguments): a schema check costs ~100 µs and
        production repeats the same calls (bounded: forgotten past MEMO entries)."""
        try:
            key = (tool, canonical_json(arguments))
        except (TypeError, ValueError):  # not JSON-encodable as given: check it every time
            return sandbox.check(tool, arguments)
        found = self._by_call.get(key)
        if found is None:
            if len(self._by_call) >= MEMO:
                self._by_call.clear()
            found = self._by_call[key] = sandbox.check(tool, arguments)
        return found

    def tool_call(self, use: ToolUse) -> ToolCall:
        return ToolCall(
            id=use.call_id or use.span_id,
            tool=use.tool,
            arguments=use.arguments if isinstance(use.arguments, dict) else {},
            result=use.result,
            error=use.error,
            violations=self.violations(use),
            latency_s=_seconds(use.start_ns, use.end_ns),
        )

    def call_cost(self, provider: str, model: str, usage: TokenUsage) -> float:
        """USD of one model call; NaN when alm cannot price the model."""
        key = (provider, model)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = self.prices.known(*key)
        return self.prices.cost_usd(provider, model, usage) if known else math.nan

    def model_call(self, use: ModelUse) -> ModelCall:
        """A chat span as the evals record a model call; NaN cost when it is not priced."""
        usage = use.usage
        cost = self.call_cost(use.provider, use.model, usage)
        latency = _seconds(use.start_ns, use.end_ns)
        return ModelCall(use.provider, use.model, usage, latency, cost)

    def trajectory(self, task: Task) -> Trajectory:
        models = [self.model_call(m) for m in task.model_calls]
        return Trajectory(
            tool_calls=[self.tool_call(t) for t in task.tool_calls],
            final_output=task.output_text or "",
            model_calls=models,
            latency_s=task.latency_s,
            steps=len(models),
            stop_reason="final" if task.error is None else "error",
            outcome=task.outcome,
            error=task.error,
        )

    def _violations(self, path: Trajectory) -> tuple[Violation, ...]:
        """grading.collect_violations, remembered per (calls and their checks, answer): it
        depends on nothing else, and the output patterns cost a regex search each."""
        key = (tuple((c.tool, c.violations) for c in path.tool_calls), path.final_output)
        found = self._by_path.get(key)
        if found is None:
            if len(self._by_path) >= MEMO:
                self._by_path.clear()
            found = self._by_path[key] = collect_violations(self.agent.contract, path)
        return found

    def result(self, task: Task) -> CaseResult:
        """One production task as one graded eval trial of suite "production"."""
        path = self.trajectory(task)
        contract = self.agent.contract
        violations = self._violations(path)
        outcome = task.outcome or derive_outcome(contract, path)
        status, reason = task_status(task, outcome, violations)
        return CaseResult(
            agent=task.agent,
            suite=SUITE,
            case_id=f"{task.trace_id}:{task.span_id}",
            trial=0,
            repeats=1,
            tags=(),
            status=status,
            reason=reason,
            outcome=outcome,
            expected_outcome=EXPECTED[task.escalation_expected],
            violations=violations,
            trajectory=summarize(path),
        )


def to_result(
    task: Task, agent: Agent, prices: PriceBook, catalog: Mapping[str, Tool] | None = None
) -> CaseResult:
    """One production task as one graded eval trial (Grader.result)."""
    return Grader(agent, prices, catalog).result(task)


# --- a window ---------------------------------------------------------------------------


def trace_id(result: CaseResult) -> str:
    return result.case_id.split(":", 1)[0]


def priced(result: CaseResult) -> bool:
    return result.trajectory is not None and not math.isnan(result.trajectory.cost_usd)


def window_results(
    tasks: Iterable[Task],
    agents: Mapping[str, Agent],
    prices: PriceBook,
    catalog: Mapping[str, Tool] | None = None,
) -> dict[GroupKey, list[CaseResult]]:
    """The tasks of known agents as trials, grouped by (agent, revision)."""
    groups: defaultdict[GroupKey, list[CaseResult]] = defaultdict(list)
    graders = {name: Grader(agent, prices, catalog) for name, agent in agents.items()}
    for task in tasks:
        grader = graders.get(task.agent)
        if grader is not None:
            groups[(task.agent, task.revision)].append(grader.result(task))
    return dict(groups)


def labelled(result: CaseResult) -> bool:
    """A reviewer said whether the task should have been escalated."""
    return result.expected_outcome is not None


def metrics_of(results: Sequence[CaseResult]) -> Metrics:
    """reconciler.evals.metrics.compute over the trials, with two production rules: cost
    per task over priced tasks only, escalation precision and recall over labelled ones."""
    metrics = compute(results)
    if not all(labelled(r) for r in results):
        scored = compute([r for r in results if labelled(r)])
        metrics = replace(
            metrics,
            escalation_precision=scored.escalation_precision,
            escalation_recall=scored.escalation_recall,
        )
    if not all(priced(r) for r in results):
        costs = compute([r for r in results if priced(r)]).cost_per_task_usd
        metrics = replace(metrics, cost_per_task_usd=costs)
    return metrics


def window_metrics(
    tasks: Iterable[Task],
    agents: Mapping[str, Agent],
    prices: PriceBook,
    catalog: Mapping[str, Tool] | None = None,
) -> dict[GroupKey, Metrics]:
    """Per (agent, revision), the metrics of the window's tasks (one definition offline
    and online); tasks of agents not in `agents` are left out."""
    groups = window_results(tasks, agents, prices, catalog)
    return {key: metrics_of(results) for key, results in groups.items()}
