"""Granted tools as OpenAI function definitions, and the case input as a user message.

OpenAI function names must match ``^[a-zA-Z0-9_-]+$``, so ``crm.update_record`` is sent
as ``crm__update_record`` and mapped back. The grant's constraints are folded into the
schema the model sees (enum, const, pattern, not, minimum, maximum, maxLength), so a model
is told what it may do; the sandbox still checks every call.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from reconciler.evals.sandbox import find_grant, granted_tools
from reconciler.evals.types import canonical_json
from reconciler.spec.agent import Agent, Constraint
from reconciler.spec.catalog import Tool
from reconciler.spec.evalsuite import CaseInput

SEPARATOR = "__"
_SCHEMA_KEYWORDS = {"max_length": "maxLength"}


def function_name(tool: str) -> str:
    return tool.replace(".", SEPARATOR, 1)


def tool_name(function: str) -> str:
    """Back from a function name; a name already in dotted form is kept."""
    if "." in function:
        return function
    return function.replace(SEPARATOR, ".", 1)


def function_definitions(agent: Agent, catalog: Mapping[str, Tool]) -> tuple[dict[str, Any], ...]:
    grants = agent.grants
    definitions = []
    for tool in granted_tools(agent, catalog):
        grant = find_grant(grants, tool.name)
        constraints = grant.constraints if grant is not None else {}
        definitions.append(
            {
                "type": "function",
                "function": {
                    "name": function_name(tool.name),
                    "description": tool.description,
                    "parameters": narrowed_schema(tool.parameters, constraints),
                },
            }
        )
    return tuple(definitions)


def narrowed_schema(
    schema: dict[str, Any], constraints: Mapping[str, Constraint]
) -> dict[str, Any]:
    if not constraints:
        return schema
    narrowed = copy.deepcopy(schema)
    properties: dict[str, Any] = narrowed.setdefault("properties", {})
    for arg, constraint in sorted(constraints.items()):
        prop = properties.setdefault(arg, {})
        for field in sorted(constraint.model_fields_set):
            if field == "not_pattern":  # JSON Schema says "no match" as not: {pattern}
                prop["not"] = {"pattern": constraint.not_pattern}
                continue
            prop[_SCHEMA_KEYWORDS.get(field, field)] = getattr(constraint, field)
    return narrowed


def user_message(case_input: CaseInput) -> dict[str, Any]:
    """The case input as the user's message: the text, then the context as JSON, if any."""
    content = case_input.message
    if case_input.context:
        content += "\n\nContext (JSON):\n" + canonical_json(case_input.context)
    return {"role": "user", "content": content}
