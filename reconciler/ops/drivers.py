"""What drives the cost of a window of tasks (pure): the models, and four patterns.

- tool loops: tasks that called the same tool LOOP_RUN or more times in a row, or made
  more tool calls than their agent's limits.max_steps; their cost.
- tool retries: a failed tool call followed by a call to the same tool; the cost of the
  tasks that retried.
- model re-calls: model calls beyond the first in a step (a step is the stretch between
  two tool calls: a well-behaved agent asks the model once, then acts); their own cost.
- long tail: the costliest LONG_TAIL share of the priced tasks; their cost.

Each pattern's share is of the priced cost of the whole window; the patterns overlap (a
looping task is often in the long tail), so the shares do not add up.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.ops.model import Task
from reconciler.ops.rates import RatedPriceBook

LOOP_RUN = 3
LONG_TAIL = 0.05


@dataclass(frozen=True)
class ModelDriver:
    provider: str  # from the traces: untrusted text
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: float | None  # None: no price for this model (its calls are in no USD figure)
    share: float | None  # of the window's priced cost


@dataclass(frozen=True)
class PatternDriver:
    key: str  # tool-loops | tool-retries | model-recalls | long-tail
    label: str
    tasks: int  # tasks showing the pattern
    occurrences: int  # loops, retries, extra model calls, tasks in the tail
    cost_usd: float
    share: float | None  # of the window's priced cost
    tools: tuple[str, ...] = ()  # the tools most involved (loops, retries), from the traces


@dataclass(frozen=True)
class Drivers:
    priced_usd: float
    models: tuple[ModelDriver, ...]  # costliest first, unpriced last
    patterns: tuple[PatternDriver, ...]


class _Pattern:
    def __init__(self) -> None:
        self.tasks = 0
        self.occurrences = 0
        self.cost = 0.0
        self.tools: dict[str, int] = {}

    def add(self, occurrences: int, cost: float, tools: Mapping[str, int] = {}) -> None:
        self.tasks += 1
        self.occurrences += occurrences
        self.cost += cost
        for tool, count in tools.items():
            self.tools[tool] = self.tools.get(tool, 0) + count


_LABELS = {
    "tool-loops": f"tool loops (one tool {LOOP_RUN}+ times in a row, or over max_steps calls)",
    "tool-retries": "tool retries (a failed call, then the same tool again)",
    "model-recalls": "model re-calls (more than one model call in a step)",
    "long-tail": f"long tail (the costliest {LONG_TAIL:.0%} of tasks)",
}


class DriverTally:
    """Accumulates the drivers over tasks, one at a time."""

    def __init__(self, prices: RatedPriceBook, max_steps: Mapping[str, int | None]) -> None:
        self._prices = prices
        self._max_steps = max_steps
        self._models: dict[tuple[str, str], list[int]] = {}
        self._model_cost: dict[tuple[str, str], float] = {}
        self._patterns = {key: _Pattern() for key in _LABELS}
        self._priced: list[float] = []

    def add(self, task: Task) -> float | None:
        """Tally one task; its cost (reconciler.ops.model.task_cost's answer, computed
        here once with the per-call costs the model drivers need)."""
        cost, recall_cost, recalls = self._models_of(task)
        if cost is None:
            return None
        self._priced.append(cost)
        if recalls:
            self._patterns["model-recalls"].add(recalls, recall_cost)
        loops = _loops(task, self._max_steps.get(task.agent))
        if loops:
            self._patterns["tool-loops"].add(sum(loops.values()), cost, loops)
        retries = _retries(task)
        if retries:
            self._patterns["tool-retries"].add(sum(retries.values()), cost, retries)
        return cost

    def _models_of(self, task: Task) -> tuple[float | None, float, int]:
        """Tally the task's model calls; the task's cost (None when a model is unpriced),
        and the cost and count of its re-calls. USD goes to the model drivers only for
        a priced task, as every USD figure of the report."""
        tool_starts = [t.start_ns for t in task.tool_calls]
        steps: set[int] = set()
        costs: list[tuple[tuple[str, str], float | None]] = []
        recall_cost, recalls = 0.0, 0
        for call in task.model_calls:
            key = (call.provider, call.model)
            counts = self._models.get(key) or self._models.setdefault(key, [0, 0, 0, 0])
            counts[0] += 1
            counts[1] += call.input_tokens
            counts[2] += call.output_tokens
            counts[3] += call.cached_input_tokens
            cost = self._prices.call_cost(
                *key, call.input_tokens, call.output_tokens, call.cached_input_tokens
            )
            costs.append((key, cost))
            step = bisect.bisect_right(tool_starts, call.start_ns)
            if step in steps:
                recalls += 1
                recall_cost += cost or 0.0
            steps.add(step)
        if any(cost is None for _, cost in costs):
            return None, 0.0, 0
        for key, cost in costs:
            self._model_cost[key] = self._model_cost.get(key, 0.0) + (cost or 0.0)
        return math.fsum(cost or 0.0 for _, cost in costs), recall_cost, recalls

    def drivers(self) -> Drivers:
        total = math.fsum(self._priced)
        self._tail()
        models = [
            ModelDriver(p, m, c[0], c[1], c[2], c[3], self._model_cost.get((p, m)),
                        _share(self._model_cost.get((p, m)), total))
            for (p, m), c in self._models.items()
        ]  # fmt: skip
        models.sort(key=lambda d: (d.cost_usd is None, -(d.cost_usd or 0.0), d.provider, d.model))
        patterns = [
            PatternDriver(key, _LABELS[key], p.tasks, p.occurrences, p.cost,
                          _share(p.cost, total), _top(p.tools))
            for key, p in self._patterns.items()
        ]  # fmt: skip
        return Drivers(total, tuple(models), tuple(patterns))

    def _tail(self) -> None:
        tail = self._patterns["long-tail"] = _Pattern()
        if not self._priced:
            return
        count = math.ceil(len(self._priced) * LONG_TAIL)
        for cost in sorted(self._priced, reverse=True)[:count]:
            tail.add(1, cost)


def _loops(task: Task, max_steps: int | None) -> dict[str, int]:
    """Tool -> runs of LOOP_RUN+ calls in a row; the most called tool when the task made
    more tool calls than max_steps (and had no such run)."""
    runs: dict[str, int] = {}
    calls = task.tool_calls
    at = 0
    while at < len(calls):
        end = at
        while end + 1 < len(calls) and calls[end + 1].tool == calls[at].tool:
            end += 1
        if end - at + 1 >= LOOP_RUN:
            runs[calls[at].tool] = runs.get(calls[at].tool, 0) + 1
        at = end + 1
    if not runs and max_steps is not None and len(calls) > max_steps:
        counts: dict[str, int] = {}
        for call in calls:
            counts[call.tool] = counts.get(call.tool, 0) + 1
        runs[min(counts, key=lambda t: (-counts[t], t))] = 1
    return runs


def _retries(task: Task) -> dict[str, int]:
    found: dict[str, int] = {}
    calls = task.tool_calls
    for before, after in itertools.pairwise(calls):
        if before.error is not None and after.tool == before.tool:
            found[before.tool] = found.get(before.tool, 0) + 1
    return found


def _share(part: float | None, total: float) -> float | None:
    return None if part is None or total <= 0 else part / total


def _top(tools: Mapping[str, int], count: int = 3) -> tuple[str, ...]:
    return tuple(sorted(tools, key=lambda t: (-tools[t], t))[:count])
