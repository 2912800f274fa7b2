"""Base vs head on paired cases: regressions that are beyond tolerance and significant.

Cases pair by (suite, case id) and must have the same case_hash on both sides (when both
sides know it); a case edited by the change is reported as changed, never paired. Each side
of a case is passed (every graded trial passed), failed (every one failed), flaky (its
repeats disagree) or not_run (no graded trial). Flaky and not-run cases are reported and
left out of the test, so a case that flips between repeats is never a regression.

On the stable pairs, b cases passed on base and fail on head, c failed and now pass. The
exact McNemar test is the two-sided binomial test of b against Binomial(b + c, 1/2):
p = min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c)), and p = 1 when b + c = 0.
A regression is flagged only when the drop in pass rate, (b - c) / pairs, exceeds
`success_drop` AND p < `alpha` (defaults 0.05 and 0.05). With no fixes, at least 6
regressed cases are needed for p < 0.05 (b = 5 gives p = 0.0625).

Cost and latency compare the cases graded on both sides (flaky included): mean cost per
case and the nearest-rank p95 of trial latency. They regress when head exceeds base by more
than the relative tolerance (defaults +10% cost, +20% latency), or rise from zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from reconciler.evals.metrics import percentile
from reconciler.evals.records import CaseResult

CaseState = Literal["passed", "failed", "flaky", "not_run", "missing"]


@dataclass(frozen=True)
class Tolerances:
    success_drop: float = 0.05  # absolute drop of the paired pass rate
    alpha: float = 0.05  # significance level of the exact McNemar test
    cost_increase: float = 0.10  # relative increase of the mean cost per case
    latency_increase: float = 0.20  # relative increase of the p95 latency


@dataclass(frozen=True)
class CaseChange:
    case: str  # "suite/case-id"
    base: CaseState
    head: CaseState


@dataclass(frozen=True)
class RelativeChange:
    metric: str
    base: float | None
    head: float | None
    change: float | None  # (head - base) / base; None when unknown or base is 0
    tolerance: float
    regressed: bool
    reason: str


@dataclass(frozen=True)
class Comparison:
    agent: str
    pairs: int  # stable, unchanged cases graded on both sides
    base_pass_rate: float | None
    head_pass_rate: float | None
    drop: float | None  # base_pass_rate - head_pass_rate on the pairs
    regressions: int  # b: passed on base, failed on head
    fixes: int  # c: failed on base, passed on head
    p_value: float
    regressed: bool  # drop > tolerance and p < alpha
    reason: str
    regressed_cases: tuple[CaseChange, ...]
    fixed_cases: tuple[CaseChange, ...]
    flaky_cases: tuple[CaseChange, ...]
    changed_cases: tuple[CaseChange, ...]  # the case's content differs between base and head
    unpaired_cases: tuple[CaseChange, ...]  # not run or missing on one side
    cost: RelativeChange
    latency_p95: RelativeChange

    @property
    def any_regression(self) -> bool:
        return self.regressed or self.cost.regressed or self.latency_p95.regressed


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def case_state(trials: Sequence[CaseResult]) -> CaseState:
    graded = [t for t in trials if t.graded]
    if not graded:
        return "not_run" if trials else "missing"
    passes = sum(t.passed for t in graded)
    if passes == len(graded):
        return "passed"
    return "failed" if passes == 0 else "flaky"


def _group(results: Iterable[CaseResult], agent: str) -> dict[str, list[CaseResult]]:
    grouped: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        if result.agent == agent:
            grouped[f"{result.suite}/{result.case_id}"].append(result)
    return grouped


def _changed(base: Sequence[CaseResult], head: Sequence[CaseResult]) -> bool:
    hashes = {t.case_hash for t in [*base, *head]}
    return None not in hashes and len(hashes) > 1


def _relative(
    metric: str, base: float | None, head: float | None, tolerance: float
) -> RelativeChange:
    if base is None or head is None:
        return RelativeChange(metric, base, head, None, tolerance, False, "not measured")
    if base == 0:
        regressed = head > 0
        reason = f"{metric} rose from 0 to {head:.4g}" if regressed else f"{metric} stayed 0"
        return RelativeChange(metric, base, head, None, tolerance, regressed, reason)
    change = (head - base) / base
    regressed = change > tolerance
    verdict = "beyond" if regressed else "within"
    reason = f"{metric} {base:.4g} -> {head:.4g} ({change:+.1%}, {verdict} +{tolerance:.0%})"
    return RelativeChange(metric, base, head, change, tolerance, regressed, reason)


def _mean_case_cost(cases: Sequence[Sequence[CaseResult]]) -> float | None:
    means = []
    for trials in cases:
        costs = [t.trajectory.cost_usd for t in trials if t.graded and t.trajectory]
        if costs:
            means.append(math.fsum(costs) / len(costs))
    return math.fsum(means) / len(means) if means else None


def _p95(cases: Sequence[Sequence[CaseResult]]) -> float | None:
    latencies = [t.trajectory.latency_s for ts in cases for t in ts if t.graded and t.trajectory]
    return percentile(latencies, 95)


def _verdict(b: int, c: int, pairs: int, tol: Tolerances) -> tuple[float | None, float, bool, str]:
    p_value = mcnemar_exact(b, c)
    if pairs == 0:
        return None, p_value, False, "no stable case was graded on both sides"
    drop = (b - c) / pairs
    regressed = drop > tol.success_drop and p_value < tol.alpha
    facts = f"{b} regressed, {c} fixed of {pairs} paired cases; drop {drop:+.1%}, p={p_value:.4g}"
    if regressed:
        return drop, p_value, True, f"regression: {facts}"
    why = "within tolerance" if drop <= tol.success_drop else "not significant"
    return drop, p_value, False, f"no regression ({why}): {facts}"


@dataclass
class _Pairing:
    buckets: dict[str, list[CaseChange]]
    base_sides: list[list[CaseResult]]  # the trials of cases graded on both sides
    head_sides: list[list[CaseResult]]


def _pair(base: dict[str, list[CaseResult]], head: dict[str, list[CaseResult]]) -> _Pairing:
    pairing = _Pairing(defaultdict(list), [], [])
    for case in sorted(set(base) | set(head)):
        b_trials, h_trials = base.get(case, []), head.get(case, [])
        change = CaseChange(case, case_state(b_trials), case_state(h_trials))
        bucket = _bucket(change, _changed(b_trials, h_trials))
        pairing.buckets[bucket].append(change)
        if bucket not in ("unpaired", "changed"):
            pairing.base_sides.append(b_trials)
            pairing.head_sides.append(h_trials)
    return pairing


def compare_agent(
    agent: str,
    base: Iterable[CaseResult],
    head: Iterable[CaseResult],
    tolerances: Tolerances | None = None,
) -> Comparison:
    """Compare one agent's trials on base with its trials on head."""
    tol = tolerances or Tolerances()
    pairing = _pair(_group(base, agent), _group(head, agent))
    buckets = pairing.buckets
    b, c, same = len(buckets["regressed"]), len(buckets["fixed"]), buckets["same"]
    pairs = b + c + len(same)
    drop, p_value, regressed, reason = _verdict(b, c, pairs, tol)
    base_ok = b + sum(ch.base == "passed" for ch in same)
    head_ok = c + sum(ch.head == "passed" for ch in same)
    base_cost, head_cost = _mean_case_cost(pairing.base_sides), _mean_case_cost(pairing.head_sides)
    base_p95, head_p95 = _p95(pairing.base_sides), _p95(pairing.head_sides)
    return Comparison(
        agent=agent,
        pairs=pairs,
        base_pass_rate=base_ok / pairs if pairs else None,
        head_pass_rate=head_ok / pairs if pairs else None,
        drop=drop,
        regressions=b,
        fixes=c,
        p_value=p_value,
        regressed=regressed,
        reason=reason,
        regressed_cases=tuple(buckets["regressed"]),
        fixed_cases=tuple(buckets["fixed"]),
        flaky_cases=tuple(buckets["flaky"]),
        changed_cases=tuple(buckets["changed"]),
        unpaired_cases=tuple(buckets["unpaired"]),
        cost=_relative("cost_per_task_usd", base_cost, head_cost, tol.cost_increase),
        latency_p95=_relative("latency_p95_s", base_p95, head_p95, tol.latency_increase),
    )


def _bucket(change: CaseChange, content_changed: bool) -> str:
    states = {change.base, change.head}
    if states & {"not_run", "missing"}:
        return "unpaired"
    if content_changed:
        return "changed"
    if "flaky" in states:
        return "flaky"
    if change.base == "passed" and change.head == "failed":
        return "regressed"
    if change.base == "failed" and change.head == "passed":
        return "fixed"
    return "same"


def compare(
    base: Iterable[CaseResult],
    head: Iterable[CaseResult],
    tolerances: Tolerances | None = None,
) -> list[Comparison]:
    """One comparison per agent that has trials on both sides, sorted by agent."""
    base_list, head_list = list(base), list(head)
    agents = {t.agent for t in base_list} & {t.agent for t in head_list}
    return [compare_agent(a, base_list, head_list, tolerances) for a in sorted(agents)]
