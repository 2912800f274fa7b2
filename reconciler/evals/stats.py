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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.evals.records import CaseResult
from reconciler.evals.regression_checks import (
    CasePair,
    Check,
    Tolerances,
    cost_check,
    latency_check,
    pass_rate_check,
    side,
)
from reconciler.evals.results import Results


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
