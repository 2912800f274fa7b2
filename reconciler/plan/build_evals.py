"""The Evals section of the plan: base vs head per changed agent, and what blocks (pure).

Per agent: each declared contract metric at head against its threshold, with the base
figure beside it (reconciler.evals.gate); the paired comparison's checks and headline
(reconciler.evals.stats, phrased by reconciler.evals.compare_text, as `alm eval compare`
prints them); the failing, newly failing and not-run cases. An agent new at head has
nothing to compare: it is "new", still held to its thresholds. Nothing that could not
run or was not evaluated ever reads as passed: each is a blocking reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.evals.compare_text import NAMES, cases, check_text, headline
from reconciler.evals.gate import GateCheck
from reconciler.evals.results import AgentResult, Results
from reconciler.evals.stats import Comparison, compare_runs
from reconciler.plan.build_cases import case_entries
from reconciler.plan.model import (
    AgentEval,
    AgentEvalStatus,
    CheckEntry,
    Evals,
    Metric,
    MetricStatus,
    Reason,
)

_STATUS: dict[str, MetricStatus] = {
    "passed": "ok",
    "failed": "missed",
    "not_measured": "not measured",
}


@dataclass(frozen=True)
class Sides:
    """The evals of a plan: results on each side (None: not run) and whom to report."""

    base: Results | None
    head: Results | None
    agents: Sequence[str]  # affected at head, and removed ones
    new: frozenset[str]  # no loaded spec at base: nothing to compare
    removed: frozenset[str]  # no spec at head


def threshold(check: GateCheck) -> str:
    parts = [f">= {check.min:g}"] if check.min is not None else []
    parts += [f"<= {check.max:g}"] if check.max is not None else []
    return " and ".join(parts)


def metrics(head: AgentResult, base: AgentResult | None) -> list[Metric]:
    return [
        Metric(
            name=c.metric,
            base=base.metrics.overall.value(c.metric) if base else None,
            head=c.value,
            threshold=threshold(c),
            status=_STATUS[c.status],
        )
        for c in head.gate.checks
    ]


def _gate_text(check: GateCheck) -> str:
    """The check's reason, which names the metric when it has a value."""
    named = check.reason.startswith(check.metric)
    return check.reason if named else f"{check.metric} {check.reason}"


def gate_reasons(head: AgentResult) -> list[Reason]:
    """A missed threshold, or one that could not be measured (never a pass)."""
    return [
        Reason(kind="threshold", text=f"{head.agent}: {_gate_text(c)}", agent=head.agent)
        for c in head.gate.checks
        if c.status != "passed"
    ]


def comparison_reasons(c: Comparison) -> list[Reason]:
    reasons = [
        Reason(
            kind="regression",
            text=f"{c.agent}: {NAMES[k.metric]} {check_text(k, c)}",
            agent=c.agent,
        )
        for k in c.regressed
    ]
    if c.not_run:
        first = c.not_run[0]
        text = f"{c.agent}: {cases(len(c.not_run))} could not run (first: {first.case})"
        reasons.append(Reason(kind="not_run", text=text, agent=c.agent))
    return reasons  # no pair at all (every case new or edited): the thresholds still hold


def _checks(c: Comparison) -> list[CheckEntry]:
    return [
        CheckEntry(
            metric=k.metric,
            base=k.base,
            head=k.head,
            p_value=k.p_value,
            regressed=k.regressed,
            why=check_text(k, c),
        )
        for k in c.checks
    ]


def _status(reasons: Sequence[Reason], missed: bool, new: bool) -> AgentEvalStatus:
    """Regressed, then a missed threshold, then cases not run (a metric they leave
    unmeasured is their doing), then a metric not measured for another reason."""
    kinds = {r.kind for r in reasons}
    if "regression" in kinds:
        return "regressed"
    if missed:
        return "failed"
    if kinds & {"not_run", "not_evaluated"}:
        return "not run"
    if "threshold" in kinds:
        return "failed"
    return "new" if new else "passed"


def _not_run_reason(agent: str, count: int, side: str) -> Reason:
    text = f"{agent}: {cases(count)} could not run on {side}"
    return Reason(kind="not_run", text=text, agent=agent)


def agent_eval(
    name: str, sides: Sides, comparison: Comparison | None
) -> tuple[AgentEval, list[Reason]]:
    """One evaluated agent (present in the head results)."""
    assert sides.head is not None
    head = sides.head.agent(name)
    assert head is not None
    base = sides.base.agent(name) if sides.base else None
    base_cases = sides.base.cases_of(name) if sides.base else ()
    entries = case_entries(base_cases, sides.head.cases_of(name))
    judged = sides.head.run.whole
    reasons = gate_reasons(head) if judged else []
    if comparison is not None:
        reasons += comparison_reasons(comparison)
        line = headline(comparison)
    else:  # new at head: still held to its thresholds, and to running every case
        not_run = sum(e.state == "not_run" for e in entries)
        reasons += [_not_run_reason(name, not_run, "head")] if not_run else []
        line = f"{name}: new at head, nothing to compare: {cases(len(entries))} failing or not run"
    result = AgentEval(
        agent=name,
        status=_status(reasons, bool(head.gate.failed) and judged, comparison is None),
        headline=line,
        metrics=metrics(head, base),
        checks=_checks(comparison) if comparison else [],
        paired=len(comparison.pairs) if comparison else 0,
        cases=entries,
        not_run=len({e.case for e in entries if e.state == "not_run"}),
    )
    return result, reasons


def _missing(name: str, sides: Sides) -> str | None:
    """Why an agent to report has no usable results, or None."""
    if sides.head is None:
        return "evals were not run"
    for results, side in ((sides.head, "head"), (sides.base, "base")):
        if results is None:
            continue
        skipped = next((u.reason for u in results.run.not_evaluated if u.agent == name), None)
        if skipped is not None:  # the run's reason may itself start "not evaluated: "
            return f"not evaluated at {side}: {skipped.removeprefix('not evaluated: ')}"
    if sides.head.agent(name) is None:
        return "not evaluated at head: missing from the head results"
    if not sides.head.run.whole:
        return "the head results are a shard or a selection of cases: gates not judged"
    if name not in sides.new and (sides.base is None or sides.base.agent(name) is None):
        return "not evaluated at base: missing from the base results"
    return None


def _unevaluated(name: str, why: str) -> tuple[AgentEval, Reason]:
    reason = Reason(kind="not_evaluated", text=f"{name}: {why}", agent=name)
    return AgentEval(agent=name, status="not run", headline=reason.text, paired=0), reason


def evals_section(sides: Sides) -> tuple[Evals, list[Reason]]:
    both = compare_runs(sides.base, sides.head) if sides.base and sides.head else None
    by_agent = {c.agent: c for c in both.comparisons} if both else {}
    agents: list[AgentEval] = []
    reasons: list[Reason] = []
    missing: list[Reason] = []
    for name in sorted(sides.agents):
        if name in sides.removed:
            line = f"{name}: removed at head, nothing to evaluate"
            agents.append(AgentEval(agent=name, status="removed", headline=line, paired=0))
            continue
        why = _missing(name, sides)
        if why is not None:
            entry, reason = _unevaluated(name, why)
            agents.append(entry)
            missing.append(reason)
            continue
        compared = None if name in sides.new else by_agent.get(name)
        entry, found = agent_eval(name, sides, compared)
        agents.append(entry)
        reasons += found
    ran = sides.head is not None and bool(sides.agents)
    return Evals(ran=ran, agents=agents, not_evaluated=missing), [*reasons, *missing]
