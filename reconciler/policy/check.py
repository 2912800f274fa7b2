"""`alm policy check` as a pure function: states, files and ownership in, a report out.

With a base, a change is checked: `oldObject` is each agent's base spec (null
for a new agent), violations are marked new or pre-existing, and the required
approvals are the code owners of each changed file (from the base's CODEOWNERS),
every approval a policy demands for a changed agent or for the change, and the
catalog's approvers of every tool newly granted to an agent.
Without a base the state is checked as it stands: `oldObject` is the object
itself, so rules about a change see none, and no approvals are computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.errors import Finding
from reconciler.policy import tool_approvers
from reconciler.policy.approvals import Requirement
from reconciler.policy.codeowners import Codeowners
from reconciler.policy.compiler import Compiled, compile_policies, rule_meanings
from reconciler.policy.engine import Demand, Evaluator, Results, Violation
from reconciler.policy.needs import project
from reconciler.policy.secrets import scan
from reconciler.policy.views import Catalog, agent_view
from reconciler.spec.state import AgentSpec, DesiredState


@dataclass(frozen=True)
class CheckInput:
    head: DesiredState
    files: Mapping[str, bytes | None] = field(default_factory=dict)  # scanned for secrets
    base: DesiredState | None = None
    changed: tuple[str, ...] | None = None  # changed paths; None without a base
    codeowners: Codeowners | None = None  # as on the base


@dataclass
class Report:
    violations: list[Violation]
    approvals: list[Requirement]
    agents: int
    policies: int
    rules: int
    changed: tuple[str, ...] | None = None
    unowned: tuple[str, ...] = ()
    codeowners: str | None = None  # where ownership came from

    @property
    def errors(self) -> int:
        return sum(v.finding.severity == "error" for v in self.violations)

    @property
    def warnings(self) -> int:
        return len(self.violations) - self.errors

    @property
    def ok(self) -> bool:
        return self.errors == 0


def check(inp: CheckInput) -> Report:
    compiled = compile_policies(inp.head.policies)
    violations = [_plain("bad-policy", f) for f in compiled.findings]
    violations += [_plain("load-error", f) for f in inp.head.findings if f.severity == "error"]
    violations += [_plain("secret", f) for f in scan(inp.files)]
    results = _evaluate(compiled, inp)
    violations += results.violations
    approvals: list[Requirement] = []
    unowned: tuple[str, ...] = ()
    if inp.changed is not None:
        owned, unowned = codeowner_requirements(inp.changed, inp.codeowners)
        approvals = owned + _policy_requirements(results.demands)
        if inp.base is not None:
            approvals += tool_approvers.requirements(inp.head, inp.base)
    violations.sort(key=lambda v: (v.finding.sort_key(), v.agent or "", v.environment or ""))
    return Report(
        violations,
        approvals,
        len(inp.head.agents),
        len(compiled.policies),
        sum(len(p.rules) for p in compiled.policies),
        inp.changed,
        unowned,
        inp.codeowners.source if inp.codeowners else None,
    )


def _plain(kind: str, finding: Finding) -> Violation:
    return Violation(kind, finding)


@dataclass
class _Sides:
    head: Evaluator
    base: Evaluator | None
    old_specs: dict[str, AgentSpec]
    same_catalog: bool  # base and head catalogs are equal: an equal spec means an equal view
    # rules new at head or that mean something else there: what they find is the change's
    changed_rules: frozenset[str] = frozenset()


def _evaluate(compiled: Compiled, inp: CheckInput) -> Results:
    bad: set[str] = set()
    changes = list(inp.changed or ())
    head_tools = inp.head.tools
    base_tools = inp.base.tools if inp.base else {}
    sides = _Sides(
        Evaluator(compiled, Catalog(head_tools), changes, bad),
        Evaluator(compiled, Catalog(base_tools), changes, bad) if inp.base else None,
        {a.name: a for a in inp.base.agents} if inp.base else {},
        head_tools == base_tools,
        _changed_rules(inp.head, inp.base),
    )
    results = Results()
    for spec in inp.head.agents:
        _agent(sides, spec, compiled, results)
    if inp.changed:
        found = Results()
        sides.head.change(found)
        results.violations += [replace(v, new=True) for v in found.violations]
        results.demands += found.demands
    return results


def _changed_rules(head: DesiredState, base: DesiredState | None) -> frozenset[str]:
    if base is None:
        return frozenset()
    before = rule_meanings(base.policies)
    return frozenset(k for k, v in rule_meanings(head.policies).items() if before.get(k) != v)


def _unchanged(sides: _Sides, spec: AgentSpec, old: AgentSpec) -> bool:
    """Same document, prompt and catalog: the same view, without building it twice."""
    prompts = [s.prompt.text if s.prompt else None for s in (spec, old)]
    same_doc = spec.loaded.doc.data == old.loaded.doc.data
    return sides.same_catalog and same_doc and prompts[0] == prompts[1]


def _agent(sides: _Sides, spec: AgentSpec, compiled: Compiled, results: Results) -> None:
    """Evaluate one agent at head; on a change, also at base to tell new violations."""
    old_spec = sides.old_specs.get(spec.name)
    view = agent_view(spec, sides.head.catalog)
    old_view = None
    if sides.base is not None and old_spec is not None:
        same = _unchanged(sides, spec, old_spec)
        old_view = view if same else agent_view(old_spec, sides.base.catalog)
    changed = sides.base is not None and view != old_view
    need = compiled.need("object", approvals=changed)
    obj = project(view, need)
    # without a base the state is checked as it stands: oldObject is the object itself
    old = obj if sides.base is None or old_view is view else project(old_view, need)
    found = Results()
    sides.head.agent(spec, obj, old, found, approvals=changed)
    results.demands += found.demands
    if sides.base is None:
        results.violations += found.violations
        return
    before: set[Any] = set()
    if old_spec is not None and changed:
        previous = Results()
        sides.base.agent(old_spec, old, old, previous, approvals=False)
        before = {v.key for v in previous.violations}
    for v in found.violations:
        new = changed and (old_spec is None or v.key not in before)
        new = new or f"{v.policy}/{v.rule}" in sides.changed_rules
        results.violations.append(v if v.kind == "bad-policy" else replace(v, new=new))


def codeowner_requirements(
    changed: tuple[str, ...], codeowners: Codeowners | None
) -> tuple[list[Requirement], tuple[str, ...]]:
    by_owners: dict[tuple[str, ...], list[str]] = {}
    unowned: list[str] = []
    for path in changed:
        owners = codeowners.owners_of(path) if codeowners else ()
        if owners:
            by_owners.setdefault(owners, []).append(path)
        else:
            unowned.append(path)
    requirements = [
        Requirement(
            f"codeowners:{' '.join(owners)}",
            owners,
            f"code owners of {_files(paths)}",
            "codeowners",
            files=tuple(paths),
        )
        for owners, paths in by_owners.items()
    ]
    return requirements, tuple(unowned)


def _files(paths: list[str]) -> str:
    return (
        ", ".join(paths) if len(paths) <= 3 else f"{', '.join(paths[:3])} and {len(paths) - 3} more"
    )


def _policy_requirements(demands: list[Demand]) -> list[Requirement]:
    grouped: dict[str, list[Demand]] = {}
    for demand in demands:
        grouped.setdefault(demand.rule.key, []).append(demand)
    requirements = []
    for key, group in grouped.items():
        rule = group[0].rule
        agents = tuple(sorted({d.agent for d in group if d.agent}))
        requirements.append(
            Requirement(
                f"policy:{key}", rule.owners, rule.message, "policy", (), agents, rule.policy
            )
        )
    return requirements
