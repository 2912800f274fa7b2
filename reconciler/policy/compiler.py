"""Compile every policy expression once per run, and refuse bad policies.

A bad policy is an error finding at the expression's file:line:col: a CEL syntax
error, a reference to a field or variable that does not exist, or a result
that is not a boolean, or one over the bounds that keep a hostile expression from
hanging or crashing the run (its length and depth, see celparse; its comprehension
nesting and cost, see cost). Its expression is left out of the run; the rest still runs.
An expression alm's own parser cannot follow is refused too: its cost could not be bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import cel

from reconciler.errors import Finding, Location, Severity
from reconciler.policy import celparse, celregex
from reconciler.policy.celparse import Node
from reconciler.policy.cost import BUDGET, MAX_NESTED, bound, nesting
from reconciler.policy.needs import Need, settle
from reconciler.policy.sizes import Sizes
from reconciler.policy.typecheck import analyse
from reconciler.policy.views import variable_types
from reconciler.spec.base import OWNER_RE
from reconciler.spec.catalog import Policy
from reconciler.spec.state import Loaded

_SYNTAX = re.compile(r"<input>:(\d+):(\d+): (?:Syntax error: )?([^\n]*)")
ALL_VARIABLES = ("object", "oldObject", "environment", "catalog", "changes")
_PURPOSE = {
    "validation": "true when the agent complies",
    "approval": "true when the approvals are required",
}


@dataclass(frozen=True)
class Rule:
    """One compiled expression: a validation, or the `when` of an approval."""

    policy: str
    id: str
    kind: str  # validation | approval
    expression: str
    program: cel.Program
    location: Location
    message: str  # the validation's message, or the approval's reason
    severity: Severity = "error"
    owners: tuple[str, ...] = ()
    paths: tuple[tuple[str, ...], ...] = ()  # parts of `object` read, to point at a line
    reads: frozenset[str] = frozenset(ALL_VARIABLES)  # the variables it uses
    tree: Node | None = None  # when its cost depends on the data: bounded before each run

    def max_cost(self, sizes: dict[str, Sizes]) -> int:
        """The most units one evaluation can cost over values of these sizes (0: cheap)."""
        return 0 if self.tree is None else bound(self.tree, sizes)

    @property
    def key(self) -> str:
        return f"{self.policy}/{self.id}"


@dataclass(frozen=True)
class CompiledPolicy:
    loaded: Loaded[Policy]
    rules: tuple[Rule, ...]

    @property
    def policy(self) -> Policy:
        return self.loaded.model

    @property
    def name(self) -> str:
        return self.loaded.model.metadata.name


@dataclass
class Compiled:
    policies: list[CompiledPolicy] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # rule kind -> variable (object stands for oldObject too, and catalog) -> what it reads
    needs: dict[str, dict[str, Need]] = field(default_factory=dict)
    merged: dict[tuple[str, bool], Need] = field(default_factory=dict)

    def of_kind(self, kind: str) -> Iterator[CompiledPolicy]:
        return (p for p in self.policies if kind in p.policy.match.kinds)

    def need(self, variable: str, approvals: bool) -> Need:
        """What the validations (and the approval rules, too, or not) read of a variable."""
        key = (variable, approvals)
        if key not in self.merged:
            merged = Need()
            for kind in ("validation", "approval") if approvals else ("validation",):
                merged.merge(self.needs[kind][variable])
            self.merged[key] = settle(merged)
        return self.merged[key]

    def reads(self, kind: str, approvals: bool) -> frozenset[str]:
        """The variables the rules of policies of `kind` read (approval rules too, or not)."""
        rules = [r for p in self.of_kind(kind) for r in p.rules]
        return frozenset(
            name for r in rules if approvals or r.kind == "validation" for name in r.reads
        )


@dataclass(frozen=True)
class _Source:
    loaded: Loaded[Policy]
    kind: str
    index: int
    id: str
    expression: str

    @property
    def where(self) -> Location:
        part = "validations" if self.kind == "validation" else "approvals"
        key = "expression" if self.kind == "validation" else "when"
        return self.loaded.at(part, self.index, key)

    @property
    def message(self) -> str:
        """The validation's message, or the approval's reason."""
        policy = self.loaded.model
        if self.kind == "validation":
            return policy.validations[self.index].message
        return policy.approvals[self.index].reason

    @property
    def severity(self) -> Severity:
        if self.kind == "approval":
            return "error"
        warn = self.loaded.model.validations[self.index].severity == "warn"
        return "warning" if warn else "error"

    @property
    def owners(self) -> tuple[str, ...]:
        if self.kind == "validation":
            return ()
        return tuple(self.loaded.model.approvals[self.index].from_)

    def bad(self, code: str, message: str) -> Finding:
        name = self.loaded.model.metadata.name
        return Finding(code, f"policy {name}, {self.id}: {message}", self.where)


def compile_policies(policies: list[Loaded[Policy]]) -> Compiled:
    compiled = Compiled(
        needs={kind: {"object": Need(), "catalog": Need()} for kind in ("validation", "approval")}
    )
    seen: dict[str, Loaded[Policy]] = {}
    for loaded in policies:
        name = loaded.model.metadata.name
        if name in seen:
            compiled.findings.append(
                Finding(
                    "policy-duplicate",
                    f"policy name {name!r} is already used in {seen[name].file}; "
                    "expected each policy name once",
                    loaded.at("metadata", "name"),
                )
            )
            continue
        seen[name] = loaded
        rules = [r for s in _sources(loaded) if (r := _compile(s, compiled)) is not None]
        compiled.policies.append(CompiledPolicy(loaded, tuple(rules)))
    return compiled


def _sources(loaded: Loaded[Policy]) -> Iterator[_Source]:
    policy = loaded.model
    for i, validation in enumerate(policy.validations):
        rule_id = validation.id or f"validations[{i}]"
        yield _Source(loaded, "validation", i, rule_id, validation.expression)
    for i, approval in enumerate(policy.approvals):
        yield _Source(loaded, "approval", i, f"approvals[{i}]", approval.when)


def rule_meanings(policies: list[Loaded[Policy]]) -> dict[str, tuple[object, ...]]:
    """Each rule's key (policy/id) and what decides its result: its expression, its
    severity and the policy's match. Equal at base and head: a finding is not the change's."""
    meanings: dict[str, tuple[object, ...]] = {}
    for loaded in policies:
        match = loaded.model.match.model_dump()
        severities = [v.severity for v in loaded.model.validations]
        for source in _sources(loaded):
            severity = severities[source.index] if source.kind == "validation" else None
            key = f"{loaded.model.metadata.name}/{source.id}"
            meanings.setdefault(key, (source.kind, source.expression, severity, match))
    return meanings


def _compile(source: _Source, compiled: Compiled) -> Rule | None:
    tree = _parse(source, compiled)
    if tree is None:
        return None
    try:  # only once the text is known to be within the bounds
        program = cel.compile(source.expression)
    except (ValueError, RuntimeError) as err:
        compiled.findings.append(source.bad("policy-syntax", _syntax_message(str(err))))
        return None
    if isinstance(tree, celparse.ParseError):
        message = (
            f"alm cannot analyse this expression ({tree}{_column(tree.pos)}), so it cannot "
            "bound its cost; expected the CEL syntax of the policy docs"
        )
        compiled.findings.append(source.bad("policy-expression", message))
        return None
    bad_owners = [o for o in source.owners if not OWNER_RE.match(o)]
    if bad_owners:
        message = f"approvers {', '.join(bad_owners)} are not @user or @org/team"
        compiled.findings.append(source.bad("policy-owner", message))
    checked = _static_checks(source, tree, compiled)
    heavy = _cost_checks(source, tree, compiled)
    if checked is None or heavy is None or bad_owners:
        return None
    paths, reads = checked
    return Rule(
        source.loaded.model.metadata.name,
        source.id,
        source.kind,
        source.expression,
        program,
        source.where,
        source.message,
        source.severity,
        source.owners,
        paths,
        reads,
        tree if heavy else None,
    )


def _parse(source: _Source, compiled: Compiled) -> Node | celparse.ParseError | None:
    """The tree; the parse error when cel may still accept it; None when over a bound."""
    try:
        return celparse.parse(source.expression)
    except celparse.TooComplex as err:
        message = f"the expression {err}{_column(err.pos)}"
        compiled.findings.append(source.bad("policy-too-complex", message))
        return None
    except celparse.ParseError as err:
        return err


def _cost_checks(source: _Source, tree: Node, compiled: Compiled) -> bool | None:
    """Whether the cost depends on the data (bounded at run time); None (and a finding)
    when the expression is too costly whatever the data."""
    deepest, where = nesting(tree)
    if where >= 0:
        message = (
            f"nests comprehensions {deepest} deep{_column(where)}; expected at most {MAX_NESTED}"
        )
        compiled.findings.append(source.bad("policy-too-costly", message))
        return None
    least = bound(tree, dict.fromkeys(ALL_VARIABLES, Sizes()))
    if least > BUDGET:
        message = (
            f"costs up to {least:,} units to evaluate even over empty data; "
            f"expected at most {BUDGET:,} (large literal lists in nested comprehensions?)"
        )
        compiled.findings.append(source.bad("policy-too-costly", message))
        return None
    return deepest > 0


Paths = tuple[tuple[str, ...], ...]


def _static_checks(
    source: _Source, tree: Node, compiled: Compiled
) -> tuple[Paths, frozenset[str]] | None:
    """Check the expression for every kind its policy matches: the object paths and the
    variables it reads, or None (and findings) when it is bad."""
    paths: list[tuple[str, ...]] = []
    reads: set[str] = set()
    errors: dict[tuple[int, str], None] = {}
    for kind in source.loaded.model.match.kinds:
        analysis = analyse(tree, variable_types(kind))
        errors.update(dict.fromkeys(analysis.errors))
        if analysis.result.kind not in ("bool", "dyn"):
            returns = analysis.result.describe()
            message = f"returns {returns}; expected a boolean ({_PURPOSE[source.kind]})"
            errors[(0, message)] = None
        reads.update(analysis.needs)
        for root, need in analysis.needs.items():
            target = "object" if root == "oldObject" else root
            if target in compiled.needs[source.kind]:
                compiled.needs[source.kind][target].merge(need)
        paths.extend(analysis.paths)
    errors.update(dict.fromkeys(celregex.bad_patterns(tree)))
    for pos, message in errors:
        compiled.findings.append(source.bad("policy-expression", message + _column(pos)))
    return None if errors else (tuple(dict.fromkeys(paths)), frozenset(reads))


def _column(pos: int) -> str:
    return f" (column {pos + 1} of the expression)" if pos else ""


def _syntax_message(text: str) -> str:
    match = _SYNTAX.search(text)
    if match is None:
        return f"CEL syntax error: {text.splitlines()[0] if text else 'empty expression'}"
    line, column, what = match.groups()
    return f"CEL syntax error at line {line}, column {column} of the expression: {what}"
