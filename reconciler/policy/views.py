"""What policy expressions see: each agent and the catalog as plain JSON values.

`object` is the agent as `model_dump(mode="json", by_alias=True)`, with `tools`
normalised to one entry per grant and enriched from the catalog, and `derived`
facts that are tedious to compute in CEL. The same shapes are described as
types (from pydantic models) so expressions are checked before they run.
"""

from __future__ import annotations

import fnmatch
from functools import cache
from typing import Any

from pydantic import Field

from reconciler.policy.types import STRING, Type, closed, from_schema, list_of, map_of
from reconciler.spec.agent import Agent, Constraint
from reconciler.spec.base import Strict
from reconciler.spec.catalog import RISK_ORDER, Tool
from reconciler.spec.state import AgentSpec

ACCESS_ORDER = {"read": 0, "write": 1, "destructive": 2}


class GrantView(Strict):
    """One entry of `object.tools`."""

    name: str
    constraints: dict[str, Constraint] = Field(default_factory=dict)
    requires_approval: bool = False
    wildcard: bool = Field(description="system.* grant; the fields below cover every match")
    known: bool = Field(description="the catalog defines the tool (or, for a wildcard, any)")
    access: str | None = Field(description="read, write or destructive; the strongest match")
    risk: str | None = Field(description="low .. critical; the highest match")
    data_classes: list[str] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)


class Derived(Strict):
    """`object.derived`: facts computed once, in Python."""

    tool_names: list[str] = Field(description="every grant's name, wildcards as written")
    data_classes: list[str] = Field(description="union of the granted tools' data classes")
    max_risk: str | None = Field(description="the highest risk among the granted tools")
    customer_facing: bool = Field(description="metadata.labels.tier == customer-facing")
    prompt_version: str | None = Field(description="sha256 of the system prompt's text")


@cache
def agent_type() -> Type:
    """The type of `object` and `oldObject` (non-null)."""
    base = from_schema(Agent.model_json_schema(by_alias=True))
    fields = dict(base.fields)
    fields["tools"] = list_of(from_schema(GrantView.model_json_schema(by_alias=True)))
    fields["derived"] = from_schema(Derived.model_json_schema(by_alias=True))
    return closed(fields)


@cache
def catalog_type() -> Type:
    return map_of(from_schema(Tool.model_json_schema(by_alias=True)))


def variable_types(kind: str) -> dict[str, Type]:
    """The variables an expression of a policy matching `kind` may use."""
    shared = {"catalog": catalog_type(), "changes": list_of(STRING)}
    if kind == "Change":
        return shared
    agent = agent_type().as_nullable()
    return {"object": agent, "oldObject": agent, "environment": STRING.as_nullable(), **shared}


def _highest(values: list[str], order: dict[str, int]) -> str | None:
    return max(values, key=lambda v: order.get(v, -1)) if values else None


class Catalog:
    """The tool catalog as expressions see it, with each grant's facts computed once."""

    def __init__(self, tools: dict[str, Tool]) -> None:
        self.tools = tools
        self._facts: dict[str, dict[str, Any]] = {}

    def matches(self, grant: str) -> list[Tool]:
        if grant.endswith(".*"):
            return [t for name, t in self.tools.items() if fnmatch.fnmatchcase(name, grant)]
        return [self.tools[grant]] if grant in self.tools else []

    def facts(self, grant: str) -> dict[str, Any]:
        """What a grant of `grant` adds to its entry in `object.tools` (shared: read only)."""
        cached = self._facts.get(grant)
        if cached is None:
            matched = self.matches(grant)
            cached = self._facts[grant] = {
                "wildcard": grant.endswith(".*"),
                "known": bool(matched),
                "access": _highest([t.access for t in matched], ACCESS_ORDER),
                "risk": _highest([t.risk for t in matched], RISK_ORDER),
                "data_classes": sorted({c for t in matched for c in t.data_classes}),
                "approvers": list(dict.fromkeys(a for t in matched for a in t.approvers)),
            }
        return cached

    def view(self) -> dict[str, Any]:
        """`catalog`: tool name to the tool as JSON."""
        return {n: t.model_dump(mode="json", by_alias=True) for n, t in self.tools.items()}


_PLAIN_GRANT = {"constraints": {}, "requires_approval": False}


def agent_view(spec: AgentSpec, catalog: Catalog) -> dict[str, Any]:
    """`object` for one agent, enriched from the catalog."""
    data: dict[str, Any] = spec.agent.model_dump(mode="json", by_alias=True)
    dumped: list[Any] = data["tools"]
    plain: list[dict[str, Any]] = [
        {"name": g, **_PLAIN_GRANT} if isinstance(g, str) else g for g in dumped
    ]
    grants = [{**g, **catalog.facts(g["name"])} for g in plain]
    data["tools"] = grants
    data["derived"] = {
        "tool_names": [g["name"] for g in grants],
        "data_classes": sorted({c for g in grants for c in g["data_classes"]}),
        "max_risk": _highest([g["risk"] for g in grants if g["risk"]], RISK_ORDER),
        "customer_facing": spec.agent.customer_facing,
        "prompt_version": spec.prompt.version if spec.prompt else None,
    }
    return data
