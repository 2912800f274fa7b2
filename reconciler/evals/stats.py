"""Base vs head on paired cases: one verdict per agent, regressions beyond tolerance only.

Cases pair by (suite, case id) when both sides graded at least one trial and the case's
content is the same (equal case_hash, when both sides know it). A case's score on a side
is the fraction of its graded trials that passed (1 or 0 with one trial); flaky cases
(repeats disagree) are paired like any other and also listed. Not paired, and reported:
cases edited by the change, cases present on one side only (new or removed), and cases
with trials that did not run, which make the comparison incomplete.

Checks, each over the paired cases (the headline figures are their means over cases):

- pass rate: d_i = head score - base score. A paired one-sided sign-flip permutation
  test (reconciler.evals.signflip: exact, or Monte Carlo with a fixed seed) on the d_i,
  scaled to integers by the common denominator of the scores. Regressed when p < alpha
  AND the drop, mean(base) - mean(head), exceeds ``success_drop`` (defaults 0.05, 5
  points).
- cost: mean cost of a case (over its graded trials). Regressed when the mean over cases
  rises by more than ``cost_increase`` (relative, default +10%), or from 0.
- latency: mean latency of a case. Regressed when the mean over cases rises by more than
  ``latency_min_s`` (absolute, default 0.5 s) AND by more than ``latency_increase``
  (relative, default +20%). Never a ratio of two p95s: a few slow trials are not a trend.

Under replay on both sides (``deterministic``) cost and latency are recorded figures
(tokens and model latency from cassettes, never wall time), so there is no noise and the
tolerances alone decide. Otherwise (live or record) a cost or latency rise beyond its
tolerance is also tested, with the same paired sign-flip test (upper tail) on the
per-case differences (nano-dollars, microseconds), and regresses only when p < alpha.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from reconciler.evals.records import CaseResult
from reconciler.evals.results import Results
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


@dataclass(frozen=True)
class Comparison:
    agent: str
    deterministic: bool  # replay on both sides: cost and latency have no noise
    tolerances: Tolerances
    pairs: tuple[CasePair, ...]
    pass_rate: Check
    cost: Check
    latency: Check
    not_run: tuple[CasePair, ...]  # some or all trials did not run on a side
    edited: tuple[str, ...]  # content differs between base and head: not paired
    only_base: tuple[str, ...]  # removed, or not evaluated at head
    only_head: tuple[str, ...]  # new at head

    @property
    def checks(self) -> tuple[Check, ...]:
        return (self.pass_rate, self.cost, self.latency)

    @property
    def regressed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.regressed)

    @property
    def incomplete(self) -> bool:
        """Cases that could not run, or nothing paired: never a pass."""
        return bool(self.not_run) or not self.pairs

    @property
    def failed(self) -> bool:
        return bool(self.regressed) or self.incomplete

    @property
    def changed(self) -> tuple[CasePair, ...]:
        return tuple(p for p in self.pairs if p.changed)

    @property
    def flaky(self) -> tuple[CasePair, ...]:
        return tuple(p for p in self.pairs if p.flaky)


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


# --- pairing ---------------------------------------------------------------------------


def _group(results: Iterable[CaseResult], agent: str) -> dict[str, list[CaseResult]]:
    grouped: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        if result.agent == agent:
            grouped[f"{result.suite}/{result.case_id}"].append(result)
    return grouped


def _edited(base: Sequence[CaseResult], head: Sequence[CaseResult]) -> bool:
    hashes = {t.case_hash for t in [*base, *head]}
    return None not in hashes and len(hashes) > 1


@dataclass
class _Pairing:
    pairs: list[CasePair]
    not_run: list[CasePair]
    buckets: dict[str, list[str]]  # edited, only_base, only_head


def _pair(base: dict[str, list[CaseResult]], head: dict[str, list[CaseResult]]) -> _Pairing:
    pairing = _Pairing([], [], defaultdict(list))
    for case in sorted(set(base) | set(head)):
        b_trials, h_trials = base.get(case, []), head.get(case, [])
        if not b_trials or not h_trials:
            pairing.buckets["only_head" if h_trials else "only_base"].append(case)
            continue
        pair = CasePair(case, side(b_trials), side(h_trials))
        if pair.incomplete or not (pair.base.graded and pair.head.graded):
            pairing.not_run.append(pair)
        if _edited(b_trials, h_trials):
            pairing.buckets["edited"].append(case)
        elif pair.base.graded and pair.head.graded:
            pairing.pairs.append(pair)
    return pairing


def compare_agent(
    agent: str,
    base: Iterable[CaseResult],
    head: Iterable[CaseResult],
    tolerances: Tolerances | None = None,
    deterministic: bool = False,
) -> Comparison:
    """Compare one agent's trials on base with its trials on head."""
    tol = tolerances or Tolerances()
    pairing = _pair(_group(base, agent), _group(head, agent))
    pairs = pairing.pairs
    return Comparison(
        agent=agent,
        deterministic=deterministic,
        tolerances=tol,
        pairs=tuple(pairs),
        pass_rate=pass_rate_check(pairs, tol),
        cost=cost_check(pairs, deterministic, tol),
        latency=latency_check(pairs, deterministic, tol),
        not_run=tuple(pairing.not_run),
        edited=tuple(pairing.buckets["edited"]),
        only_base=tuple(pairing.buckets["only_base"]),
        only_head=tuple(pairing.buckets["only_head"]),
    )


def compare(
    base: Iterable[CaseResult],
    head: Iterable[CaseResult],
    tolerances: Tolerances | None = None,
    deterministic: bool = False,
) -> list[Comparison]:
    """One comparison per agent that has trials on both sides, sorted by agent."""
    base_list, head_list = list(base), list(head)
    agents = {t.agent for t in base_list} & {t.agent for t in head_list}
    return [
        compare_agent(a, base_list, head_list, tolerances, deterministic) for a in sorted(agents)
    ]


@dataclass(frozen=True)
class RunComparison:
    comparisons: tuple[Comparison, ...]  # agents evaluated on both sides, sorted
    only_base: tuple[str, ...]  # agents evaluated on base only (removed, or not at head)
    only_head: tuple[str, ...]  # new agents

    @property
    def failed(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.failed)


def compare_runs(
    before: Results, after: Results, tolerances: Tolerances | None = None
) -> RunComparison:
    """Every agent of both results files; replay on both sides makes cost and latency
    deterministic."""
    base_agents = {a.agent for a in before.agents}
    head_agents = {a.agent for a in after.agents}
    deterministic = before.run.mode == after.run.mode == "replay"
    comparisons = tuple(
        compare_agent(name, before.cases_of(name), after.cases_of(name), tolerances, deterministic)
        for name in sorted(base_agents & head_agents)
    )
    return RunComparison(
        comparisons,
        tuple(sorted(base_agents - head_agents)),
        tuple(sorted(head_agents - base_agents)),
    )
