"""Run compiled policies over agents (and over a change): violations and approval demands.

One CEL context per side of a change: the catalog is converted into CEL once,
each agent once. An expression that fails on one agent is reported against that
agent and that rule; it never aborts the run and never counts as a pass.

An evaluation cannot be interrupted (see policy.cost), so a rule whose cost
depends on the data is bounded before it runs, over the sizes of the values it
would see: over the budget, it is reported for that agent instead of run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cel

from reconciler.errors import Finding, Location
from reconciler.policy.compiler import Compiled, Rule
from reconciler.policy.cost import BUDGET
from reconciler.policy.needs import project
from reconciler.policy.sizes import Sizes, measure
from reconciler.policy.views import Catalog
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Policy
from reconciler.spec.state import AgentSpec

KINDS = ("violation", "runtime-error", "bad-policy", "secret", "load-error")


@dataclass(frozen=True)
class Violation:
    """One problem `alm policy check` reports; `finding` says where and what."""

    kind: str  # one of KINDS
    finding: Finding
    policy: str | None = None
    rule: str | None = None
    agent: str | None = None
    environment: str | None = None
    policy_location: Location | None = None
    new: bool | None = None  # introduced by the change; None without a base

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None, str | None]:
        return (self.kind, self.policy, self.rule, self.agent, self.environment)

    def to_dict(self) -> dict[str, Any]:
        where = self.policy_location
        return {
            "kind": self.kind,
            **self.finding.to_dict(),
            "rule": f"{self.policy}/{self.rule}" if self.policy else self.finding.code,
            "policy": self.policy,
            "agent": self.agent,
            "environment": self.environment,
            "policy_file": where.file if where else None,
            "policy_line": where.line if where else None,
            "new": self.new,
        }


@dataclass(frozen=True)
class Demand:
    """An approval rule whose `when` held for an agent (or for the change)."""

    rule: Rule
    agent: str | None = None
    environment: str | None = None


@dataclass
class Results:
    violations: list[Violation] = field(default_factory=list)
    demands: list[Demand] = field(default_factory=list)


def environments(policy: Policy, agent: Agent) -> list[str | None]:
    """The environments to evaluate a policy in for an agent; empty when it does not match."""
    labels = agent.metadata.labels
    if any(labels.get(key) != value for key, value in policy.match.labels.items()):
        return []
    if not policy.match.environments:
        return [None]
    wanted = policy.match.environments
    return [env for env in agent.deploy.environments if env in wanted]


def _locate(spec: AgentSpec, rule: Rule) -> Location:
    data = spec.loaded.doc.data
    for path in rule.paths:
        if path and isinstance(data, dict) and path[0] in data:
            return spec.loaded.at(*path)
    return spec.loaded.at("metadata", "name")


def _summary(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"no key or field {err}"
    text = str(err).split(". ", 1)[0].splitlines()[0] if str(err) else type(err).__name__
    if text.startswith("No such overload"):
        text += " (a null value where a map or number was expected?)"
    return text[:200]


class Evaluator:
    """Evaluates compiled rules against one side of a change (its catalog and changes).

    Each agent gets a new CEL context holding only the variables its rules read:
    a context changed after it ran copies everything it holds, and converting a
    value into CEL costs far more than evaluating an expression over it. The
    environment, which changes between evaluations, is looked up through a resolver.
    """

    def __init__(
        self, compiled: Compiled, catalog: Catalog, changes: list[str], bad: set[str]
    ) -> None:
        self.compiled = compiled
        self.catalog = catalog
        self.bad = bad  # rules that returned a non-boolean: reported once, then skipped
        self.values: dict[str, Any] = {
            "catalog": project(catalog.view(), compiled.need("catalog", approvals=True)),
            "changes": changes,
        }
        self.environment: str | None = None
        self.context = cel.Context()
        self.fixed = {"catalog": measure([self.values["catalog"]]), "changes": measure([changes])}
        self.sizes: Sizes | None = None  # of the agent bound now, measured when first needed
        self.bound: dict[str, Any] = {}
        self.costs: dict[tuple[str, tuple[Sizes, ...]], int] = {}
        self.envs: dict[str | None, Sizes] = {}

    def _bind(self, values: dict[str, Any], reads: frozenset[str]) -> None:
        variables = dict.fromkeys(("object", "oldObject", "environment", *self.values))
        variables.update((k, v) for k, v in {**self.values, **values}.items() if k in reads)
        self.context = cel.Context(variables=variables)
        self.bound, self.sizes = variables, None
        if "environment" in reads:
            self.context.set_variable_resolver(self._resolve)

    def _resolve(self, name: str) -> Any:
        return self.environment if name == "environment" else None

    def agent(
        self,
        spec: AgentSpec,
        view: dict[str, Any],
        old_view: dict[str, Any] | None,
        out: Results,
        approvals: bool,
    ) -> None:
        self._bind({"object": view, "oldObject": old_view}, self.compiled.reads("Agent", approvals))
        for policy in self.compiled.of_kind("Agent"):
            for env in environments(policy.policy, spec.agent):
                self.environment = env
                for rule in policy.rules:
                    if rule.kind == "validation" or approvals:
                        self._run(rule, spec, env, out)

    def change(self, out: Results) -> None:
        self._bind({}, self.compiled.reads("Change", True))
        self.environment = None
        for policy in self.compiled.of_kind("Change"):
            for rule in policy.rules:
                self._run(rule, None, None, out)

    def _run(self, rule: Rule, spec: AgentSpec | None, env: str | None, out: Results) -> None:
        if rule.key in self.bad:
            return
        units = self._cost(rule)
        if units > BUDGET:
            out.violations.append(_too_costly(rule, spec, env, units))
            return
        try:
            result = rule.program.execute(self.context)
        except Exception as err:  # any failure of one evaluation is reported, never raised
            out.violations.append(_runtime_error(rule, spec, env, err))
            return
        if not isinstance(result, bool):
            self.bad.add(rule.key)
            out.violations.append(_not_boolean(rule, result))
        elif rule.kind == "validation" and not result:
            out.violations.append(_violation(rule, spec, env))
        elif rule.kind == "approval" and result:
            out.demands.append(Demand(rule, spec.name if spec else None, env))

    def _cost(self, rule: Rule) -> int:
        """The rule's bound over the values bound now, rounded up to powers of two: the
        same bound serves agents of about the same size."""
        if rule.tree is None:
            return 0
        if self.sizes is None:
            values = [self.bound.get("object"), self.bound.get("oldObject")]
            same = values[0] is values[1] or values[0] == values[1]  # compared in C: cheap
            self.sizes = measure(values[1:] if same else values).rounded()
        sizes = {"object": self.sizes, "oldObject": self.sizes, **self.fixed}
        sizes["environment"] = self._environment_sizes()
        key = (rule.key, tuple(sizes.values()))
        if key not in self.costs:
            self.costs[key] = rule.max_cost(sizes)
        return self.costs[key]

    def _environment_sizes(self) -> Sizes:
        env = self.environment
        if env not in self.envs:
            self.envs[env] = measure([env])
        return self.envs[env]


def _subject(spec: AgentSpec | None, env: str | None) -> str:
    if spec is None:
        return "this change"
    return f"{spec.name} in {env}" if env else spec.name


def _violation(rule: Rule, spec: AgentSpec | None, env: str | None) -> Violation:
    where = _locate(spec, rule) if spec else rule.location
    finding = Finding(rule.key, f"{_subject(spec, env)}: {rule.message}", where, rule.severity)
    return Violation(
        "violation",
        finding,
        rule.policy,
        rule.id,
        spec.name if spec else None,
        env,
        rule.location,
    )


def _runtime_error(
    rule: Rule, spec: AgentSpec | None, env: str | None, err: Exception
) -> Violation:
    where = _locate(spec, rule) if spec else rule.location
    message = (
        f"policy {rule.key} could not be evaluated on {_subject(spec, env)}: {_summary(err)}; "
        "expected the expression to handle every agent (a failed evaluation is not a pass)"
    )
    return Violation(
        "runtime-error",
        Finding("policy-runtime-error", message, where),
        rule.policy,
        rule.id,
        spec.name if spec else None,
        env,
        rule.location,
    )


def _too_costly(rule: Rule, spec: AgentSpec | None, env: str | None, units: int) -> Violation:
    message = (
        f"policy {rule.key} is too costly to evaluate on {_subject(spec, env)}: up to "
        f"{units:,} units over its data; expected at most {BUDGET:,} (nested comprehensions "
        "over long lists?); an expression that is not evaluated is not a pass"
    )
    return Violation(
        "runtime-error",
        Finding("policy-too-costly", message, rule.location),
        rule.policy,
        rule.id,
        spec.name if spec else None,
        env,
        rule.location,
    )


def _not_boolean(rule: Rule, result: object) -> Violation:
    kind = "null" if result is None else type(result).__name__
    message = f"policy {rule.key}: the expression returned {kind}; expected a boolean"
    return Violation(
        "bad-policy",
        Finding("policy-expression", message, rule.location),
        rule.policy,
        rule.id,
        policy_location=rule.location,
    )
