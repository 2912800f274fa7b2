"""The agent-ops metrics of DESIGN.md, computed from graded trials.

The unit is the graded trial (passed or failed); not-run trials are excluded from every
denominator and counted in `not_run_trials` / `not_run_cases`. With k repeats a case
contributes k trials, so each rate is the mean over cases of the per-case pass fraction
when every case has the same k. Definitions:

- task_success_rate: passed trials / graded trials. A trial passes when every expectation
  holds and no must-never rule is broken (reconciler.evals.grading).
- tool_call_success_rate: tool calls that succeeded (granted tool, valid arguments and
  constraints, no error) / all tool calls in graded trials.
- escalation_precision: trials that escalated and whose case expects escalation / trials
  that escalated; escalation_recall: that same count / trials whose case expects it.
- policy_compliance: graded trials without a must-never violation / graded trials.
- cost_per_task_usd: mean cost in USD of a graded trial.
- latency_p50_s / latency_p95_s: nearest-rank percentiles of the graded trials' latency:
  the value at rank ceil(p/100 * n) of the n latencies sorted ascending. A trial's latency
  is recorded, never local wall time (runners.base.recorded_latency): under replay it is
  the cassettes' latency, the same on any machine.
- pass_hat_k: for each case with c passes in n graded trials and k declared repeats, the
  unbiased estimate C(c, k) / C(n, k) that all k trials pass (as in tau-bench), averaged
  over cases with n >= k. pass_hat_by_k gives the same for every k from 1 to the largest n.

Each rate carries a 95% Wilson score interval. The interval treats its units as
independent; for pass_hat_k the units are cases and the successes the summed estimates.
A rate with no units has value None: not measured.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from reconciler.evals.records import CaseKey, CaseResult

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


@dataclass(frozen=True)
class Rate:
    successes: float
    total: int
    value: float | None  # successes / total; None when total is 0 (not measured)
    low: float | None  # the 95% Wilson score interval
    high: float | None


@dataclass(frozen=True)
class Metrics:
    trials: int  # graded trials: the denominator of the per-trial rates
    cases: int  # cases with at least one graded trial
    not_run_trials: int
    not_run_cases: int  # cases none of whose trials ran
    task_success_rate: Rate
    tool_call_success_rate: Rate
    escalation_precision: Rate
    escalation_recall: Rate
    policy_compliance: Rate
    pass_hat_k: Rate
    pass_hat_by_k: dict[int, float]
    cost_per_task_usd: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None

    def value(self, metric: str) -> float | None:
        """The point value of a metric named as in contract.success_metrics."""
        return METRIC_VALUES[metric](self)


@dataclass(frozen=True)
class AgentMetrics:
    overall: Metrics
    by_tag: dict[str, Metrics]


METRIC_VALUES: dict[str, Callable[[Metrics], float | None]] = {
    "task_success_rate": lambda m: m.task_success_rate.value,
    "tool_call_success_rate": lambda m: m.tool_call_success_rate.value,
    "escalation_precision": lambda m: m.escalation_precision.value,
    "escalation_recall": lambda m: m.escalation_recall.value,
    "policy_compliance": lambda m: m.policy_compliance.value,
    "pass_hat_k": lambda m: m.pass_hat_k.value,
    "cost_per_task_usd": lambda m: m.cost_per_task_usd,
    "latency_p50_s": lambda m: m.latency_p50_s,
    "latency_p95_s": lambda m: m.latency_p95_s,
}

RATE_METRICS: dict[str, Callable[[Metrics], Rate]] = {
    "task_success_rate": lambda m: m.task_success_rate,
    "tool_call_success_rate": lambda m: m.tool_call_success_rate,
    "escalation_precision": lambda m: m.escalation_precision,
    "escalation_recall": lambda m: m.escalation_recall,
    "policy_compliance": lambda m: m.policy_compliance,
    "pass_hat_k": lambda m: m.pass_hat_k,
}


# --- primitives ------------------------------------------------------------------------


def wilson(successes: float, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion successes / total (total > 0)."""
    p = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(successes: float, total: int) -> Rate:
    if total == 0:
        return Rate(successes, 0, None, None, None)
    low, high = wilson(successes, total)
    return Rate(successes, total, successes / total, low, high)


def percentile(values: Iterable[float], p: float) -> float | None:
    """The nearest-rank p-th percentile (0 < p <= 100), or None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = math.ceil(Fraction(str(p)) * len(ordered) / 100)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def pass_hat(passes: int, trials: int, k: int) -> float | None:
    """C(c, k) / C(n, k): the chance that k trials drawn from n all pass; None if n < k."""
    if k < 1 or trials < k:
        return None
    return math.comb(passes, k) / math.comb(trials, k)


# --- computation -----------------------------------------------------------------------


def _by_case(results: Iterable[CaseResult]) -> dict[CaseKey, list[CaseResult]]:
    grouped: dict[CaseKey, list[CaseResult]] = defaultdict(list)
    for result in results:  # case_key spelled out: a production window has ~10^5 trials
        grouped[(result.agent, result.suite, result.case_id)].append(result)
    return grouped


Tally = tuple[int, int, int]  # of a case: passed trials, graded trials, declared repeats


def _tallies(cases: Sequence[Sequence[CaseResult]]) -> list[Tally]:
    found: list[Tally] = []
    for trials in cases:
        if len(trials) == 1:  # one trial a case (every production task): no lists
            one = trials[0]
            found.append((int(one.passed), int(one.graded), one.repeats))
            continue
        graded = [t for t in trials if t.graded]
        found.append((sum(t.passed for t in graded), len(graded), trials[0].repeats))
    return found


def _pass_hat_rate(tallies: Sequence[Tally]) -> Rate:
    estimates = []
    for passes, graded, repeats in tallies:
        estimate = pass_hat(passes, graded, repeats)
        if estimate is not None:
            estimates.append(estimate)
    return rate(math.fsum(estimates), len(estimates))


def _pass_hat_curve(tallies: Sequence[Tally]) -> dict[int, float]:
    curve: dict[int, float] = {}
    for k in range(1, max((n for _, n, _ in tallies), default=0) + 1):
        estimates = [pass_hat(c, n, k) for c, n, _ in tallies if n >= k]
        curve[k] = math.fsum(e for e in estimates if e is not None) / len(estimates)
    return curve


def _escalations(graded: Sequence[CaseResult]) -> tuple[Rate, Rate]:
    made = [t for t in graded if t.outcome == "escalated"]
    expected = [t for t in graded if t.expected_outcome == "escalated"]
    hits = sum(t.expected_outcome == "escalated" for t in made)
    return rate(hits, len(made)), rate(hits, len(expected))


def compute(results: Iterable[CaseResult]) -> Metrics:
    """The metrics of a set of trials (normally one agent's, or one tag's)."""
    cases = list(_by_case(results).values())
    trials = [t for ts in cases for t in ts]
    graded = [t for t in trials if t.graded]
    summaries = [t.trajectory for t in graded if t.trajectory is not None]
    calls = [c for s in summaries for c in s.tool_calls]
    precision, recall = _escalations(graded)
    tallies = _tallies(cases)
    costs = [s.cost_usd for s in summaries]
    latencies = [s.latency_s for s in summaries]
    return Metrics(
        trials=len(graded),
        cases=sum(any(t.graded for t in ts) for ts in cases),
        not_run_trials=len(trials) - len(graded),
        not_run_cases=sum(not any(t.graded for t in ts) for ts in cases),
        task_success_rate=rate(sum(t.passed for t in graded), len(graded)),
        tool_call_success_rate=rate(sum(c.succeeded for c in calls), len(calls)),
        escalation_precision=precision,
        escalation_recall=recall,
        policy_compliance=rate(sum(not t.must_never_violated for t in graded), len(graded)),
        pass_hat_k=_pass_hat_rate(tallies),
        pass_hat_by_k=_pass_hat_curve(tallies),
        cost_per_task_usd=math.fsum(costs) / len(costs) if costs else None,
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
    )


def compute_agent(results: Iterable[CaseResult]) -> AgentMetrics:
    """Overall metrics and metrics per tag (a trial counts in each of its tags)."""
    trials = list(results)
    tags = sorted({tag for t in trials for tag in t.tags})
    by_tag = {tag: compute(t for t in trials if tag in t.tags) for tag in tags}
    return AgentMetrics(overall=compute(trials), by_tag=by_tag)
