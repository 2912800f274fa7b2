"""The tasks that count against a metric, for the example trace ids a breach shows.

A window may hold ~10^5 failing tasks: only the first EXAMPLES distinct traces are
kept (the worst first for cost and latency, so the examples show the outliers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from reconciler.evals.records import CaseResult
from reconciler.ops.online import priced, trace_id

EXAMPLES = 5  # example trace ids per breach


def _cost(result: CaseResult) -> float:
    return result.trajectory.cost_usd if result.trajectory and priced(result) else 0.0


def _latency(result: CaseResult) -> float:
    return result.trajectory.latency_s if result.trajectory else 0.0


def _failed_call(result: CaseResult) -> bool:
    return result.trajectory is not None and any(
        not c.succeeded for c in result.trajectory.tool_calls
    )


Failing = Callable[[CaseResult, float], bool]
FAILING: dict[str, Failing] = {
    "task_success_rate": lambda r, _: not r.passed,
    "pass_hat_k": lambda r, _: not r.passed,
    "tool_call_success_rate": lambda r, _: _failed_call(r),
    "policy_compliance": lambda r, _: r.must_never_violated,
    "escalation_precision": lambda r, _: (
        r.outcome == "escalated" and r.expected_outcome not in (None, "escalated")
    ),
    "escalation_recall": lambda r, _: (
        r.expected_outcome == "escalated" and r.outcome != "escalated"
    ),
    "cost_per_task_usd": lambda r, limit: _cost(r) > limit,
    "latency_p50_s": lambda r, limit: _latency(r) > limit,
    "latency_p95_s": lambda r, limit: _latency(r) > limit,
}
WORST_FIRST: dict[str, Callable[[CaseResult], float]] = {
    "cost_per_task_usd": _cost,
    "latency_p50_s": _latency,
    "latency_p95_s": _latency,
}


def examples(metric: str, threshold: float, results: Sequence[CaseResult]) -> tuple[str, ...]:
    """Up to EXAMPLES trace ids of tasks that count against the metric (the worst first
    for cost and latency)."""
    fails = FAILING[metric]
    failing: Iterable[CaseResult] = (r for r in results if fails(r, threshold))
    order = WORST_FIRST.get(metric)
    if order is not None:
        failing = sorted(failing, key=order, reverse=True)
    found: dict[str, None] = {}
    for result in failing:  # the first few only: a window may hold ~10^5 failing tasks
        found[trace_id(result)] = None
        if len(found) == EXAMPLES:
            break
    return tuple(found)
