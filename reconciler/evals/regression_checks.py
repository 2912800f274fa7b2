"""The checks of a base-vs-head comparison, over cases paired on both sides: pass rate,
cost and latency, each with its tolerance and, where there is noise, a paired one-sided
sign-flip test (the rules are in reconciler.evals.stats)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from reconciler.evals.records import CaseResult
from reconciler.evals.signflip import DRAWS, SEED, lower_tail, upper_tail

CaseState = Literal["passed", "failed", "flaky", "not_run", "missing"]
Metric = Literal["pass_rate", "cost", "latency"]
Why = Literal["regressed", "within tolerance", "not significant", "not measured"]


@dataclass(frozen=True)
class Tolerances:
    success_drop: float = 0.05  # absolute drop of the mean per-case pass fraction
    alpha: float = 0.05  # one-sided significance level
    cost_increase: float = 0.10  # relative rise of the mean cost per case
    latency_increase: float = 0.20  # relative rise of the mean latency per case
    latency_min_s: float = 0.5  # and at least this many seconds
    draws: int = DRAWS  # Monte Carlo draws, when the exact test is too large
    seed: int = SEED


@dataclass(frozen=True)
class Side:
    """One case on one side: its graded trials summed up."""

    state: CaseState
    passed: int
    graded: int
    trials: int
    cost_usd: float | None  # mean over graded trials
    latency_s: float | None

    @property
    def score(self) -> Fraction:
        return Fraction(self.passed, self.graded) if self.graded else Fraction(0)


@dataclass(frozen=True)
class CasePair:
    case: str  # "suite/case-id"
    base: Side
    head: Side

    @property
    def changed(self) -> bool:
        return self.base.score != self.head.score

    @property
    def worse(self) -> bool:
        return self.head.score < self.base.score

    @property
    def flaky(self) -> bool:
        return "flaky" in (self.base.state, self.head.state)

    @property
    def incomplete(self) -> bool:
        """Some trial did not run on a side (a case with none is never paired)."""
        return any(s.graded < s.trials for s in (self.base, self.head))


@dataclass(frozen=True)
class Check:
    metric: Metric
    base: float | None  # mean over the paired cases
    head: float | None
    p_value: float | None  # one-sided paired sign-flip; None when not tested
    regressed: bool
    why: Why


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def side(trials: Sequence[CaseResult]) -> Side:
    graded = [t for t in trials if t.graded]
    passed = sum(t.passed for t in graded)
    summaries = [t.trajectory for t in graded if t.trajectory is not None]
    return Side(
        state=case_state(trials),
        passed=passed,
        graded=len(graded),
        trials=len(trials),
        cost_usd=_mean([s.cost_usd for s in summaries]),
        latency_s=_mean([s.latency_s for s in summaries]),
    )


def case_state(trials: Sequence[CaseResult]) -> CaseState:
    graded = [t for t in trials if t.graded]
    if not graded:
        return "not_run" if trials else "missing"
    passes = sum(t.passed for t in graded)
    if passes == len(graded):
        return "passed"
    return "failed" if passes == 0 else "flaky"


# --- the checks ------------------------------------------------------------------------


def pass_rate_check(pairs: Sequence[CasePair], tol: Tolerances) -> Check:
    if not pairs:
        return Check("pass_rate", None, None, None, False, "not measured")
    scale = math.lcm(*(s.graded for p in pairs for s in (p.base, p.head)))
    diffs = [int((p.head.score - p.base.score) * scale) for p in pairs]
    p_value = lower_tail(diffs, draws=tol.draws, seed=tol.seed).p_value
    drop = Fraction(-sum(diffs), scale * len(pairs))
    beyond = drop > Fraction(tol.success_drop)
    regressed = beyond and p_value < tol.alpha
    why: Why = "regressed" if regressed else "not significant" if beyond else "within tolerance"
    base = math.fsum(float(p.base.score) for p in pairs) / len(pairs)
    head = math.fsum(float(p.head.score) for p in pairs) / len(pairs)
    return Check("pass_rate", base, head, p_value, regressed, why)


Beyond = Callable[[float, float], bool]


def _rise_check(
    metric: Metric,
    values: Sequence[tuple[float, float]],
    beyond: Beyond,
    unit: float,
    deterministic: bool,
    tol: Tolerances,
) -> Check:
    """A cost or latency rise: beyond tolerance, and significant unless deterministic."""
    if not values:
        return Check(metric, None, None, None, False, "not measured")
    base = math.fsum(b for b, _ in values) / len(values)
    head = math.fsum(h for _, h in values) / len(values)
    if not beyond(base, head):
        return Check(metric, base, head, None, False, "within tolerance")
    if deterministic:
        return Check(metric, base, head, None, True, "regressed")
    diffs = [round(h / unit) - round(b / unit) for b, h in values]
    p_value = upper_tail(diffs, draws=tol.draws, seed=tol.seed).p_value
    regressed = p_value < tol.alpha
    return Check(
        metric, base, head, p_value, regressed, "regressed" if regressed else "not significant"
    )


def cost_check(pairs: Sequence[CasePair], deterministic: bool, tol: Tolerances) -> Check:
    values = [
        (p.base.cost_usd, p.head.cost_usd)
        for p in pairs
        if p.base.cost_usd is not None and p.head.cost_usd is not None
    ]

    def beyond(base: float, head: float) -> bool:
        return head > base * (1 + tol.cost_increase) if base > 0 else head > 0

    return _rise_check("cost", values, beyond, 1e-9, deterministic, tol)


def latency_check(pairs: Sequence[CasePair], deterministic: bool, tol: Tolerances) -> Check:
    values = [
        (p.base.latency_s, p.head.latency_s)
        for p in pairs
        if p.base.latency_s is not None and p.head.latency_s is not None
    ]

    def beyond(base: float, head: float) -> bool:
        return head - base > tol.latency_min_s and head > base * (1 + tol.latency_increase)

    return _rise_check("latency", values, beyond, 1e-6, deterministic, tol)
