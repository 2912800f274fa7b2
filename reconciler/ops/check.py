"""`alm ops check`, the pure part: each agent's production window against its contract's
success_metrics and against the eval baseline of the revision that is live.

So that a quiet hour never pages anyone:

- a metric measured on fewer than `min_samples` units (tasks; tool calls for tool-call
  success; escalations made or expected for precision and recall) is *insufficient*,
  never a breach, and an agent with fewer tasks than that is *insufficient* as a whole;
- a rate breaches a `min` bound only when the upper end of its 95% Wilson interval is
  below it (a `max` bound: the lower end above it), i.e. the whole interval is outside;
- cost per task and latency (p50/p95, nearest rank as offline) breach when the point
  value is beyond the bound;
- against the baseline (the eval results of the live revision): a rate breaches when it
  is below the baseline's by more than `tolerance` (5 points, the evals' success_drop)
  and a one-sided two-proportion z-test says the drop is significant (p < alpha = 0.05).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from reconciler.evals.metrics import RATE_METRICS, Metrics, Rate
from reconciler.evals.records import CaseResult
from reconciler.evals.regression_checks import Tolerances
from reconciler.ops.check_examples import examples
from reconciler.ops.model import Breach, Window
from reconciler.ops.online import GroupKey, metrics_of, priced
from reconciler.spec.agent import Agent, Bound

Side = Literal["min", "max"]
Against = Literal["contract", "baseline"]
MetricStatus = Literal["ok", "breach", "insufficient", "not_measured"]
AgentStatus = Literal["ok", "breach", "insufficient"]

EPSILON = 1e-9  # floating-point slack on inclusive bounds (a Wilson bound of 1.0 may be 0.999...)
BASELINE_RATES = (
    "task_success_rate",
    "tool_call_success_rate",
    "policy_compliance",
    "escalation_precision",
    "escalation_recall",
)


@dataclass(frozen=True)
class Settings:
    min_samples: int = 30
    alpha: float = Tolerances().alpha
    tolerance: float = Tolerances().success_drop  # an absolute drop below the baseline


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    against: Against
    bound: Side
    threshold: float  # the contract's bound, or the baseline's value
    value: float | None
    low: float | None  # the 95% Wilson interval of a rate
    high: float | None
    samples: int
    status: MetricStatus
    p_value: float | None = None  # against the baseline: the one-sided test's


@dataclass(frozen=True)
class AgentCheck:
    agent: str
    environment: str
    revision: str | None
    current: bool  # the live revision (or every revision, when nothing is known live)
    status: AgentStatus
    tasks: int
    unpriced: int  # tasks with a model alm cannot price: left out of cost per task
    escalation_rate: float | None
    metrics: Metrics
    checks: tuple[MetricCheck, ...]
    breaches: tuple[Breach, ...]


# --- statistics ------------------------------------------------------------------------


def drop_p_value(base: Rate, window: Rate) -> float | None:
    """One-sided pooled two-proportion z-test of window < base; None when untestable."""
    if not base.total or not window.total:
        return None
    pooled = (base.successes + window.successes) / (base.total + window.total)
    spread = pooled * (1 - pooled) * (1 / base.total + 1 / window.total)
    if spread <= 0:
        return 1.0  # both all passes or all failures: no evidence of a drop
    z = (base.successes / base.total - window.successes / window.total) / math.sqrt(spread)
    return 0.5 * math.erfc(z / math.sqrt(2))


# --- samples ---------------------------------------------------------------------------


def samples(metric: str, metrics: Metrics, priced_tasks: int) -> int:
    rate_of = RATE_METRICS.get(metric)
    if rate_of is not None:
        return rate_of(metrics).total
    if metric == "cost_per_task_usd":
        return priced_tasks
    return metrics.trials


# --- checks ----------------------------------------------------------------------------


def _outside(check_side: Side, threshold: float, low: float, high: float) -> bool:
    # bounds are inclusive, with the gate's slack: 60 of 60 meets a min of 1.0
    if check_side == "min":
        return high < threshold - EPSILON
    return low > threshold + EPSILON


def contract_check(
    metric: str, side: Side, threshold: float, metrics: Metrics, n: int, settings: Settings
) -> MetricCheck:
    rate_of = RATE_METRICS.get(metric)
    value = metrics.value(metric)
    low = high = None
    if rate_of is not None:
        low, high = rate_of(metrics).low, rate_of(metrics).high

    def made(status: MetricStatus) -> MetricCheck:
        return MetricCheck(metric, "contract", side, threshold, value, low, high, n, status)

    if value is None:
        return made("not_measured")
    if n < settings.min_samples:
        return made("insufficient")
    lo, hi = (low, high) if low is not None and high is not None else (value, value)
    return made("breach" if _outside(side, threshold, lo, hi) else "ok")


def contract_checks(
    bounds: Mapping[str, Bound], metrics: Metrics, priced_tasks: int, s: Settings
) -> list[MetricCheck]:
    found = []
    for metric, bound in bounds.items():
        n = samples(metric, metrics, priced_tasks)
        sides: tuple[tuple[Side, float | None], ...] = (("min", bound.min), ("max", bound.max))
        for side, threshold in sides:
            if threshold is not None:
                found.append(contract_check(metric, side, threshold, metrics, n, s))
    return found


def baseline_check(metric: str, base: Rate, window: Rate, settings: Settings) -> MetricCheck:
    assert base.value is not None
    p_value = drop_p_value(base, window)
    status: MetricStatus = "ok"
    if window.value is None:
        status = "not_measured"
    elif window.total < settings.min_samples:
        status = "insufficient"
    elif base.value - window.value > settings.tolerance and (p_value or 1.0) < settings.alpha:
        status = "breach"
    return MetricCheck(
        metric, "baseline", "min", base.value, window.value, window.low, window.high,
        window.total, status, p_value,
    )  # fmt: skip


def baseline_checks(baseline: Metrics, metrics: Metrics, settings: Settings) -> list[MetricCheck]:
    found = []
    for metric in BASELINE_RATES:
        base, window = RATE_METRICS[metric](baseline), RATE_METRICS[metric](metrics)
        if base.value is not None:
            found.append(baseline_check(metric, base, window, settings))
    return found


@dataclass(frozen=True)
class Row:
    """One (agent, revision) of the window to check."""

    agent: Agent
    revision: str | None
    current: bool
    results: Sequence[CaseResult]
    baseline: Metrics | None = None


def _escalation_rate(results: Sequence[CaseResult]) -> float | None:
    return sum(r.outcome == "escalated" for r in results) / len(results) if results else None


def check_agent(row: Row, environment: str, window: Window, settings: Settings) -> AgentCheck:
    """One agent's revision in the window against its contract and its baseline."""
    results = row.results
    metrics = metrics_of(results)
    unpriced = sum(not priced(r) for r in results)
    bounds = row.agent.contract.success_metrics.declared()
    checks = contract_checks(bounds, metrics, len(results) - unpriced, settings)
    if row.baseline is not None:
        checks += baseline_checks(row.baseline, metrics, settings)
    if len(results) < settings.min_samples:  # a quiet window never breaches
        checks = [c if c.status != "breach" else _quiet(c) for c in checks]
    name = row.agent.name

    def breach(c: MetricCheck) -> Breach:
        assert c.value is not None
        found = examples(c.metric, c.threshold, results)
        return Breach(
            name, environment, row.revision, c.metric, c.bound, c.threshold, c.value, c.low,
            c.high, c.samples, window, found, c.against,
        )  # fmt: skip

    breaches = tuple(breach(c) for c in checks if c.status == "breach")
    status: AgentStatus = "breach" if breaches else "ok"
    if not breaches and len(results) < settings.min_samples:
        status = "insufficient"
    return AgentCheck(
        name, environment, row.revision, row.current, status, len(results), unpriced,
        _escalation_rate(results), metrics, tuple(checks), breaches,
    )  # fmt: skip


def _quiet(check: MetricCheck) -> MetricCheck:
    return MetricCheck(
        check.metric, check.against, check.bound, check.threshold, check.value, check.low,
        check.high, check.samples, "insufficient", check.p_value,
    )  # fmt: skip


def rows(
    groups: Mapping[GroupKey, Sequence[CaseResult]],
    agents: Mapping[str, Agent],
    live: Mapping[str, str | None],
    baselines: Mapping[str, Metrics],
) -> list[Row]:
    """Per agent (by name), its live revision first (even with no task in the window), then
    the other revisions seen, most tasks first. With nothing known live for an agent,
    every revision seen is current."""
    found = []
    for name in sorted(agents):
        current = live.get(name)
        seen = {rev: list(res) for (a, rev), res in groups.items() if a == name}
        if current is not None or not seen:
            seen.setdefault(current, [])  # a quiet agent still gets its line
        order = sorted(seen, key=lambda rev: (rev != current, -len(seen[rev]), rev or ""))
        for rev in order:
            now = current is None or rev == current
            base = baselines.get(name) if now else None
            found.append(Row(agents[name], rev, now, seen[rev], base))
    return found


def check_fleet(
    fleet_rows: Sequence[Row], environment: str, window: Window, settings: Settings
) -> list[AgentCheck]:
    return [check_agent(row, environment, window, settings) for row in fleet_rows]


def breached(checks: Sequence[AgentCheck]) -> list[AgentCheck]:
    """The current revisions in breach: what pages, opens issues and rolls back."""
    return [c for c in checks if c.current and c.status == "breach"]
