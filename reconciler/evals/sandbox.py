"""The tool sandbox: answers an agent's tool calls from the case's fixtures, never real systems.

Every call goes through the same checks a real policy-enforcing sandbox would make.
A call that fails one is recorded with its violations and answered with an error,
so the agent sees what it would see in production and may recover:

- ``ungranted``: the tool is not granted to the agent (a ``system.*`` grant covers every
  tool of that system) or is not in the catalog at all;
- ``must_never``: a ``contract.must_never`` rule forbids the tool (the rule id is kept);
- ``arguments``: the arguments are not an object or fail the tool's JSON Schema
  (Draft 2020-12);
- ``constraint``: an argument breaks the grant's constraints (enum, const, pattern,
  not_pattern, minimum, maximum, max_length). An omitted argument is checked through the schema's
  ``default``, since that is the value the tool would use.

A call that passes is answered by the first fixture of the same tool whose ``args`` are a
subset of the call's arguments (nested objects match as subsets too). A fixture with
``error`` answers with that error. When no fixture matches, the call is answered with an
error starting ``no fixture:`` and no violation: the agent did nothing forbidden, the case
simply did not foresee the call. It still counts against tool-call success, because the
call errored.

Grants with ``requires_approval: true``: the sandbox records that approval was requested
(``ToolCall.approval_requested``) and lets the fixture stand in for the human's answer:
``returns`` is an approval followed by the tool's result, ``error`` (for example
"approval denied") is a refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.errors import AlmError
from reconciler.evals.safejson import TooDeep, check_depth
from reconciler.evals.types import CaseJob, ToolCall, Violation
from reconciler.spec import saferegex, safeschema
from reconciler.spec.agent import Agent, Constraint, MustNever, ToolGrant, grant_covers
from reconciler.spec.catalog import Tool
from reconciler.spec.evalsuite import Fixture

NO_FIXTURE = "no fixture"


def find_grant(grants: Sequence[ToolGrant], tool: str) -> ToolGrant | None:
    """The grant for a tool: an exact grant wins over a wildcard."""
    wildcard: ToolGrant | None = None
    for grant in grants:
        if grant.name == tool:
            return grant
        if wildcard is None and grant_covers(grant.name, tool):
            wildcard = grant
    return wildcard


def granted_tools(agent: Agent, catalog: Mapping[str, Tool]) -> list[Tool]:
    """The catalog tools the agent may call, in name order (deterministic requests): those
    `find_grant` finds a grant for, by set lookups (it ran for every catalog tool of every
    agent: 8% of `alm plan` at 1,000 agents)."""
    exact = {grant.name for grant in agent.grants}
    systems = {name[:-2] for name in exact if name.endswith(".*")}
    return [
        catalog[name]
        for name in sorted(catalog)
        if name in exact or name.split(".", 1)[0] in systems
    ]


# --- argument checks -------------------------------------------------------------------


def schema_errors(schema: dict[str, Any], arguments: dict[str, Any]) -> list[str]:
    """The arguments' errors against the tool's schema, through safeschema: it never
    retrieves a $ref and is bounded. A schema it will not use refuses the call."""
    try:
        return list(safeschema.compile(schema).messages(arguments))
    except safeschema.SchemaFailure as err:
        return [f"arguments cannot be checked: {err}"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


ConstraintCheck = Callable[[Any, Any], str | None]

CONSTRAINT_CHECKS: dict[str, ConstraintCheck] = {
    "enum": lambda v, allowed: None if v in allowed else f"expected one of {allowed}",
    "const": lambda v, const: None if v == const else f"expected {const!r}",
    "pattern": lambda v, p: (
        None if isinstance(v, str) and saferegex.search(p, v) else f"expected to match {p!r}"
    ),
    "not_pattern": lambda v, p: (
        f"expected no match of {p!r}" if isinstance(v, str) and saferegex.search(p, v) else None
    ),
    "minimum": lambda v, m: None if _is_number(v) and v >= m else f"expected >= {m}",
    "maximum": lambda v, m: None if _is_number(v) and v <= m else f"expected <= {m}",
    "max_length": lambda v, n: (
        None if isinstance(v, str | list) and len(v) <= n else f"expected at most {n} long"
    ),
}


def constraint_errors(grant: ToolGrant, tool: Tool, arguments: dict[str, Any]) -> list[str]:
    properties: dict[str, Any] = tool.parameters.get("properties", {})
    errors: list[str] = []
    for arg, constraint in grant.constraints.items():
        if arg in arguments:
            value = arguments[arg]
        elif "default" in properties.get(arg, {}):
            value = properties[arg]["default"]
        else:
            continue
        errors.extend(f"{arg}: {message}" for message in _check_constraint(constraint, value))
    return errors


def _check_constraint(constraint: Constraint, value: Any) -> list[str]:
    messages = []
    for field in sorted(constraint.model_fields_set):
        limit = getattr(constraint, field)
        if limit is None and field != "const":
            continue
        message = CONSTRAINT_CHECKS[field](value, limit)
        if message is not None:
            messages.append(f"{value!r} breaks the grant's {field}: {message}")
    return messages


# --- fixtures --------------------------------------------------------------------------


def subset_match(expected: Any, actual: Any) -> bool:
    """Dicts match when every expected key matches; other values must be equal (bool-aware)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset_match(v, actual[k]) for k, v in expected.items()
        )
    return isinstance(expected, bool) == isinstance(actual, bool) and expected == actual


def find_fixture(
    fixtures: Sequence[Fixture], tool: str, arguments: dict[str, Any]
) -> Fixture | None:
    for fixture in fixtures:
        if fixture.tool == tool and subset_match(fixture.args, arguments):
            return fixture
    return None


# --- the sandbox -----------------------------------------------------------------------


class Sandbox:
    """One per trial: answers tool calls and never touches a real system."""

    def __init__(
        self, agent: Agent, catalog: Mapping[str, Tool], fixtures: Sequence[Fixture]
    ) -> None:
        self.agent = agent
        self.catalog = catalog
        self.fixtures = list(fixtures)
        self._grants = agent.grants

    @classmethod
    def for_job(cls, job: CaseJob) -> Sandbox:
        return cls(job.agent, job.catalog, job.case.fixtures)

    def call(self, call_id: str, tool: str, arguments: Any) -> ToolCall:
        # every runner's tool calls pass here: refuse what schema checks, records and the
        # results JSON could not recurse through (an AlmError ends the trial as not run)
        try:
            check_depth(arguments)
        except TooDeep as exc:
            raise AlmError(f"the arguments of a call to {tool}: {exc}") from None
        violations = self.check(tool, arguments)
        if violations:
            error = "refused by the sandbox: " + "; ".join(v.message for v in violations)
            return ToolCall(call_id, tool, _as_dict(arguments), error=error, violations=violations)
        grant = find_grant(self._grants, tool)
        approval = grant is not None and grant.requires_approval
        fixture = find_fixture(self.fixtures, tool, arguments)
        if fixture is None:
            error = f"{NO_FIXTURE}: the case has no fixture for {tool} with these arguments"
            return ToolCall(call_id, tool, arguments, error=error, approval_requested=approval)
        return ToolCall(
            call_id,
            tool,
            arguments,
            result=fixture.returns if fixture.error is None else None,
            error=fixture.error,
            approval_requested=approval,
            latency_s=fixture.latency_s,
        )

    def check(self, tool: str, arguments: Any) -> tuple[Violation, ...]:
        violations = [*self._must_never(tool)]
        grant = find_grant(self._grants, tool)
        spec = self.catalog.get(tool)
        if spec is None or grant is None:
            where = "in the catalog" if spec is None else "granted to this agent"
            violations.append(Violation("ungranted", f"{tool} is not {where}"))
            return tuple(violations)
        if not isinstance(arguments, dict):
            violations.append(Violation("arguments", f"{tool} arguments expected a JSON object"))
            return tuple(violations)
        for message in schema_errors(spec.parameters, arguments):
            violations.append(Violation("arguments", f"{tool} {message}"))
        for message in constraint_errors(grant, spec, arguments):
            violations.append(Violation("constraint", f"{tool} {message}"))
        return tuple(violations)

    def _must_never(self, tool: str) -> list[Violation]:
        return [
            Violation("must_never", f"{tool} is forbidden by must_never {rule.id}", rule=rule.id)
            for rule in self.agent.contract.must_never
            if _forbids(rule, tool)
        ]


def _forbids(rule: MustNever, tool: str) -> bool:
    return any(grant_covers(pattern, tool) for pattern in rule.forbid_tools)


def _as_dict(arguments: Any) -> dict[str, Any]:
    return arguments if isinstance(arguments, dict) else {"_raw": arguments}
