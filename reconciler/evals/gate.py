"""The gate: an agent's metrics against its contract.success_metrics bounds.

Each declared bound gives one check on the metric's point value (bounds are inclusive):
passed, failed, or not_measured when the metric has no data (no graded trial, no tool
call, no escalation made or expected, no case with all its k trials graded). A metric
that was not measured is never a pass. The gate's status is failed when any check
failed, else not_measured when any check was not measured, else passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from reconciler.evals.metrics import METRIC_VALUES, RATE_METRICS, Metrics
from reconciler.spec.agent import Bound

CheckStatus = Literal["passed", "failed", "not_measured"]

_EPSILON = 1e-12  # floating-point slack on inclusive bounds

NO_DATA: dict[str, str] = {
    "tool_call_success_rate": "no tool calls were made",
    "escalation_precision": "no escalations were made",
    "escalation_recall": "no case expects an escalation",
    "pass_hat_k": "no case has all its k trials graded",
}


@dataclass(frozen=True)
class GateCheck:
    metric: str
    status: CheckStatus
    value: float | None
    min: float | None
    max: float | None
    reason: str


@dataclass(frozen=True)
class Gate:
    status: CheckStatus
    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if c.status == "failed")


def _describe(metric: str, value: float, metrics: Metrics) -> str:
    rate_of = RATE_METRICS.get(metric)
    if rate_of is None:
        return f"{metric} {value:.4g}"
    r = rate_of(metrics)
    return f"{metric} {value:.4g} (95% CI {r.low:.3f}-{r.high:.3f}, n={r.total})"


def _no_data(metric: str, metrics: Metrics) -> str:
    if metrics.trials == 0:
        return f"not measured: no graded trial ({metrics.not_run_trials} not run)"
    return f"not measured: {NO_DATA.get(metric, 'no data')}"


def check(metric: str, bound: Bound, metrics: Metrics) -> GateCheck:
    """One metric against one bound."""
    value_of = METRIC_VALUES.get(metric)
    if value_of is None:
        return GateCheck(metric, "not_measured", None, bound.min, bound.max, "unknown metric")
    value = value_of(metrics)
    if value is None:
        reason = _no_data(metric, metrics)
        return GateCheck(metric, "not_measured", None, bound.min, bound.max, reason)
    described = _describe(metric, value, metrics)
    if bound.min is not None and value < bound.min - _EPSILON:
        reason = f"{described} is below min {bound.min:g}"
        return GateCheck(metric, "failed", value, bound.min, bound.max, reason)
    if bound.max is not None and value > bound.max + _EPSILON:
        reason = f"{described} is above max {bound.max:g}"
        return GateCheck(metric, "failed", value, bound.min, bound.max, reason)
    return GateCheck(metric, "passed", value, bound.min, bound.max, f"{described} within bounds")


def evaluate(metrics: Metrics, bounds: Mapping[str, Bound]) -> Gate:
    """Every declared bound checked; `bounds` is contract.success_metrics.declared()."""
    checks = tuple(check(metric, bound, metrics) for metric, bound in bounds.items())
    statuses = {c.status for c in checks}
    status: CheckStatus = "passed"
    if "failed" in statuses:
        status = "failed"
    elif "not_measured" in statuses:
        status = "not_measured"
    return Gate(status, checks)
