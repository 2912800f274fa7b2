"""Cross-checks of each agent's tool grants: against the catalog (names, constraint
arguments and values), its own must_never rules, and its escalation tool."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial

from reconciler.errors import Finding, Location
from reconciler.spec import safeschema
from reconciler.spec.agent import grant_covers
from reconciler.spec.catalog import Tool
from reconciler.spec.crosscheck import Context


def granted_tools_exist(ctx: Context) -> Iterator[Finding]:
    for spec in ctx.state.agents:
        for i, grant in enumerate(spec.agent.grants):
            if not ctx.matching_tools(grant.name):
                yield Finding(
                    "unknown-tool",
                    f"tool {grant.name!r} is not in the tool catalog{ctx.suggest(grant.name)}; "
                    "expected a tool defined in policies/tools.yaml",
                    spec.loaded.at("tools", i, "name"),
                )


def constraints_name_arguments(ctx: Context) -> Iterator[Finding]:
    for spec in ctx.state.agents:
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
    for spec in ctx.state.agents:
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
    for spec in ctx.state.agents:
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
    for spec in ctx.state.agents:
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
