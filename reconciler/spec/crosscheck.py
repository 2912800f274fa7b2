"""Checks that span documents: each returns findings with file:line:col.

Add a check by writing a function and listing it in CHECKS.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

from reconciler.errors import Finding, Location
from reconciler.pricing import PriceBook
from reconciler.spec import safeschema
from reconciler.spec.agent import grant_covers
from reconciler.spec.base import OWNER_RE
from reconciler.spec.catalog import Tool
from reconciler.spec.state import AgentSpec, DesiredState


@dataclass(frozen=True)
class Context:
    state: DesiredState
    tools: dict[str, Tool]
    environments: set[str]
    prices: PriceBook
    _validators: dict[str, safeschema.SafeValidator | None] = field(
        default_factory=dict, compare=False
    )
    # (tool, argument) -> its validator; (tool, argument, value as JSON) -> valid: thousands
    # of grants constrain a few arguments to the same few values
    _arguments: dict[tuple[str, str], safeschema.SafeValidator | None] = field(
        default_factory=dict, compare=False
    )
    _valid: dict[tuple[str, str, str], bool] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, state: DesiredState) -> Context:
        overrides = [m for p in state.pricing for m in p.model.models]
        return cls(state, state.tools, set(state.environment_order), PriceBook(overrides))

    def suggest(self, name: str) -> str:
        return did_you_mean(name, self.tools)

    def matching_tools(self, grant: str) -> list[str]:
        if grant.endswith(".*"):
            return [t for t in self.tools if grant_covers(grant, t)]
        return [grant] if grant in self.tools else []


Check = Callable[[Context], Iterator[Finding]]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _agents(ctx: Context) -> Iterator[AgentSpec]:
    return iter(ctx.state.agents)


def folder_matches_name(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        if spec.name != spec.folder:
            yield Finding(
                "name-mismatch",
                f"metadata.name is {spec.name!r}; expected the folder name {spec.folder!r}",
                spec.loaded.at("metadata", "name"),
            )


def unique_agent_names(ctx: Context) -> Iterator[Finding]:
    first: dict[str, AgentSpec] = {}
    for spec in _agents(ctx):
        if spec.name in first:
            yield Finding(
                "duplicate-agent",
                f"agent name {spec.name!r} is already used by {first[spec.name].loaded.file}; "
                "expected each agent name once",
                spec.loaded.at("metadata", "name"),
            )
        first.setdefault(spec.name, spec)


def granted_tools_exist(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        for i, grant in enumerate(spec.agent.grants):
            if not ctx.matching_tools(grant.name):
                yield Finding(
                    "unknown-tool",
                    f"tool {grant.name!r} is not in the tool catalog{ctx.suggest(grant.name)}; "
                    "expected a tool defined in policies/tools.yaml",
                    spec.loaded.at("tools", i, "name"),
                )


def constraints_name_arguments(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        for i, grant in enumerate(spec.agent.tools):
            if isinstance(grant, str):  # a bare name has no constraints
                continue
            tool = ctx.tools.get(grant.name)
            if tool is None:
                continue
            for arg, constraint in grant.constraints.items():
                where = partial(spec.loaded.at, "tools", i, "constraints", arg, prefer_key=True)
                if arg not in tool.argument_names:
                    yield Finding(
                        "unknown-argument",
                        f"constraint on {arg!r}, which is not an argument of {tool.name}; "
                        f"expected one of: {', '.join(sorted(tool.argument_names)) or '(none)'}",
                        where(),
                    )
                    continue
                yield from _enum_values_valid(ctx, tool, arg, constraint.enum or [], where)


def _enum_values_valid(
    ctx: Context, tool: Tool, arg: str, values: list[object], where: Callable[[], Location]
) -> Iterator[Finding]:
    validator = _argument_validator(ctx, tool, arg)
    if validator is None:
        return
    for value in values:
        try:
            valid = _is_valid(ctx, validator, (tool.name, arg), value)
        except safeschema.SchemaFailure as err:
            yield Finding(
                "bad-json-schema",
                f"parameters of {tool.name}: {err}; expected a value it can check",
                where(),
            )
            return
        if not valid:
            yield Finding(
                "constraint-value",
                f"enum value {value!r} is not a valid {arg!r} for {tool.name}; "
                f"expected a value matching {validator.validator.schema}",
                where(),
            )


def _is_valid(
    ctx: Context, validator: safeschema.SafeValidator, place: tuple[str, str], value: object
) -> bool:
    """Whether the value is valid there, once per distinct value (as JSON, so 1, 1.0 and
    true stay apart); a value JSON cannot write is checked each time."""
    try:
        key = (*place, json.dumps(value, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError):
        return validator.is_valid(value)
    if key not in ctx._valid:
        ctx._valid[key] = validator.is_valid(value)
    return ctx._valid[key]


def _argument_validator(ctx: Context, tool: Tool, arg: str) -> safeschema.SafeValidator | None:
    """A validator for one argument; None when the catalog schema cannot be used (loading
    the catalog reports why), so a bad schema is a finding, not a crash.
    The schema check runs once per tool: thousands of grants share a few tools."""
    if (tool.name, arg) in ctx._arguments:
        return ctx._arguments[(tool.name, arg)]
    if tool.name not in ctx._validators:
        try:
            ctx._validators[tool.name] = safeschema.compile(tool.parameters)
        except safeschema.SchemaFailure:
            ctx._validators[tool.name] = None
    root = ctx._validators[tool.name]
    found = None if root is None else root.at("properties", arg)  # keeps the root for $ref
    ctx._arguments[(tool.name, arg)] = found
    return found


def forbidden_tools_exist(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        for j, rule in enumerate(spec.agent.contract.must_never):
            for k, name in enumerate(rule.forbid_tools):
                if not ctx.matching_tools(name):
                    yield Finding(
                        "unknown-tool",
                        f"must_never rule {rule.id!r} forbids {name!r}, which is not in the "
                        f"tool catalog{ctx.suggest(name)}; expected a catalog tool",
                        spec.loaded.at("contract", "must_never", j, "forbid_tools", k),
                    )


def grants_not_forbidden(ctx: Context) -> Iterator[Finding]:
    """A grant that the agent's own must_never forbids contradicts the contract."""
    for spec in _agents(ctx):
        forbidden = [
            (j, k, name, rule.id)
            for j, rule in enumerate(spec.agent.contract.must_never)
            for k, name in enumerate(rule.forbid_tools)
        ]
        systems = {name.split(".", 1)[0] for *_, name, _ in forbidden}
        for i, tool in enumerate(spec.agent.tools if forbidden else ()):
            granted = tool if isinstance(tool, str) else tool.name
            if granted.split(".", 1)[0] not in systems:
                continue  # overlap needs the same system
            for j, k, name, rule in forbidden:
                if not _overlap(granted, name):
                    continue
                where = spec.loaded.at("contract", "must_never", j, "forbid_tools", k)
                yield Finding(
                    "grant-forbidden",
                    f"tool {granted!r} is granted, but must_never rule {rule!r} "
                    f"forbids {name!r} (line {where.line}); expected the grant removed, "
                    "or the rule changed in the contract",
                    spec.loaded.at("tools", i, "name"),
                )


def _overlap(grant: str, forbidden: str) -> bool:
    """Some tool is both granted and forbidden (either side may be a `system.*` wildcard)."""
    return grant_covers(grant, forbidden) or grant_covers(forbidden, grant)


def escalation_tool_available(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        escalation = spec.agent.contract.escalation
        if escalation is None:
            continue
        where = partial(spec.loaded.at, "contract", "escalation", "tool")  # only if found
        if escalation.tool not in ctx.tools:
            yield Finding(
                "missing-escalation-tool",
                f"escalation tool {escalation.tool!r} is not in the tool catalog; "
                "expected a catalog tool",
                where(),
            )
        elif not any(  # a wildcard grant (human.*) grants it too
            escalation.tool in ctx.matching_tools(g.name) for g in spec.agent.grants
        ):
            yield Finding(
                "missing-escalation-tool",
                f"escalation tool {escalation.tool!r} is not granted; expected it under tools:",
                where(),
            )


def model_is_priced(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        model = spec.agent.model
        if not ctx.prices.known(model.provider, model.name):
            yield Finding(
                "unknown-model",
                f"model {model.provider}/{model.name} has no price in the bundled price data"
                f"{_model_hint(ctx.prices, model.provider, model.name)}; "
                "expected a known model or a kind: Pricing override in policies/",
                spec.loaded.at("model", "name"),
            )


def _model_hint(prices: PriceBook, provider: str, name: str) -> str:
    """The closest priced model of the provider; the closest provider when it has none."""
    names = prices.model_names(provider)
    if names:
        return did_you_mean(name, names)
    close = difflib.get_close_matches(provider, prices.provider_names(), n=1)
    return f" (did you mean provider {close[0]!r}?)" if close else ""


def deploy_environments_defined(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        for k, env in enumerate(spec.agent.deploy.environments):
            if env not in ctx.environments:
                known = ", ".join(ctx.state.environment_order) or "(none defined)"
                yield Finding(
                    "unknown-environment",
                    f"environment {env!r} is not defined; expected one of: {known}",
                    spec.loaded.at("deploy", "environments", k),
                )


def _bad_owners(owners: list[str], where: Callable[[int], Location]) -> Iterator[Finding]:
    for k, owner in enumerate(owners):
        if not OWNER_RE.fullmatch(owner):  # match() would accept "@user\n"
            yield Finding(
                "bad-owner",
                f"owner {owner!r} is not a GitHub handle; expected @user or @org/team",
                where(k),
            )


def owners_well_formed(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        yield from _bad_owners(
            spec.agent.metadata.owners, partial(spec.loaded.at, "metadata", "owners")
        )
    for policy in ctx.state.policies:
        yield from _bad_owners(
            policy.model.metadata.owners, partial(policy.at, "metadata", "owners")
        )
    for catalog in ctx.state.catalogs:
        for i, tool in enumerate(catalog.model.tools):
            yield from _bad_owners(tool.approvers, partial(catalog.at, "tools", i, "approvers"))


def eval_suite_present(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        if spec.folder not in ctx.state.eval_folders:
            yield Finding(
                "missing-evals",
                f"agent {spec.name!r} has no eval suite; expected evals/{spec.folder}/ "
                "with at least one kind: EvalSuite file",
                spec.loaded.at("metadata", "name"),
            )


def customer_facing_is_guarded(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        contract = spec.agent.contract
        if not spec.agent.customer_facing:
            continue
        if contract.escalation is None:
            yield Finding(
                "customer-facing-unguarded",
                "customer-facing agent has no escalation path; expected contract.escalation",
                spec.loaded.at("contract", prefer_key=True),
            )
        if not contract.must_never:
            yield Finding(
                "customer-facing-unguarded",
                "customer-facing agent has no must_never rules; expected contract.must_never",
                spec.loaded.at("contract", prefer_key=True),
            )
