"""Assemble the plan report from what `alm plan` gathered (pure).

Inputs: the desired state at base and head, the validate findings on each side, the
policy check of the change, the eval results of the affected agents on each side, and
(from reconciler.plan.costs) the cost section. Output: a PlanReport whose verdict is
blocked by an error finding (new or not, said which), a missed threshold at head, a
significant regression, a cost rise beyond a policy's limit, cases that could not run
or agents not evaluated; and pending while approvals are missing (reviews are counted
later, by `alm github pr`). The sections are built in build_changes, build_findings,
build_evals and deploy_order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler import __version__
from reconciler.errors import Finding
from reconciler.evals.bundle import fingerprint
from reconciler.evals.results import Results
from reconciler.plan.build_changes import changes_section
from reconciler.plan.build_evals import Sides, evals_section
from reconciler.plan.build_findings import approvals_section, error_reasons, findings_section
from reconciler.plan.costs import cost_section
from reconciler.plan.deploy_order import deploy_steps
from reconciler.plan.diff import StateDiff, diff_states
from reconciler.plan.model import (
    SCHEMA_VERSION,
    AgentHashes,
    Cost,
    Links,
    PlanReport,
    Provenance,
    PullRequest,
    Reason,
    RefInfo,
)
from reconciler.plan.verdict import decide
from reconciler.policy.check import Report
from reconciler.spec.state import DesiredState


@dataclass(frozen=True)
class PlanInputs:
    base: DesiredState
    head: DesiredState
    base_ref: RefInfo
    head_ref: RefInfo
    policy: Report  # the policy check of the change (with its base)
    head_findings: Sequence[Finding]  # alm validate on head
    base_findings: Sequence[Finding] | None  # on base, to tell new findings; None: unknown
    affected: Sequence[str]  # agents of head affected by the change (evals.bundle)
    base_results: Results | None = None  # None: evals not run
    head_results: Results | None = None
    trials: Mapping[str, int] = field(default_factory=dict)
    cost: Cost | None = None  # None: reconciler.plan.costs.cost_section
    pull_request: PullRequest | None = None
    links: Links = field(default_factory=Links)


def cost_of(inp: PlanInputs, changed: Sequence[str]) -> Cost:
    if inp.cost is not None:
        return inp.cost
    return cost_section(inp.base, inp.head, inp.base_results, inp.head_results, changed)


def provenance(inp: PlanInputs, agents: Sequence[str]) -> Provenance:
    """Base and head, and per changed agent at head the hashes of what its evals ran."""
    hashes = []
    for name in sorted(agents):
        spec = inp.head.agent(name)
        if spec is None:
            continue
        print_ = fingerprint(spec, inp.head)
        prompt = spec.prompt.version if spec.prompt else None
        hashes.append(AgentHashes(agent=name, spec=print_.run, prompt=prompt, dataset=print_.cases))
    return Provenance(base=inp.base_ref, head=inp.head_ref, alm_version=__version__, agents=hashes)


def comparable(state: DesiredState, name: str) -> bool:
    """The agent loads at base with its eval suites: there is a base to compare with. An
    agent new at head, or broken at base and fixed by the change, has none."""
    spec = state.agent(name)
    if spec is None or not state.suites.get(spec.folder):
        return False
    return not any(f.location.file.startswith(f"evals/{spec.folder}/") for f in state.errors)


def _sides(inp: PlanInputs, diff: StateDiff) -> Sides:
    removed = frozenset(a.name for a in diff.agents if a.status == "removed")
    return Sides(
        base=inp.base_results,
        head=inp.head_results,
        agents=sorted(set(inp.affected) | removed),
        new=frozenset(a for a in inp.affected if not comparable(inp.base, a)),
        removed=removed,
    )


def _cost_reasons(cost: Cost) -> list[Reason]:
    return [
        Reason(kind="cost_limit", text=b.text, agent=b.agent)  # names agent and policy
        for b in cost.breaches
    ]


def build(inp: PlanInputs, diff: StateDiff | None = None) -> PlanReport:
    diff = diff if diff is not None else diff_states(inp.base, inp.head)
    changes = changes_section(diff, inp.base, inp.head, inp.affected)
    findings = findings_section(inp.head_findings, inp.base_findings, inp.policy)
    approvals = approvals_section(inp.policy)
    evals, eval_reasons = evals_section(_sides(inp, diff))
    cost = cost_of(inp, [a.agent for a in changes.agents])
    evals = evals.model_copy(
        update={"trials": dict(inp.trials), "run_cost_usd": cost.eval_run_cost_usd}
    )
    blocking = [*error_reasons(findings), *eval_reasons, *_cost_reasons(cost)]
    changed = [a.agent for a in changes.agents if a.status != "removed"]
    return PlanReport(
        schema_version=SCHEMA_VERSION,
        verdict=decide(blocking, approvals),
        pull_request=inp.pull_request,
        provenance=provenance(inp, changed),
        changes=changes,
        findings=findings,
        approvals=approvals,
        evals=evals,
        cost=cost,
        deploy=deploy_steps(inp.head, changed, inp.base),
        links=inp.links,
    )
