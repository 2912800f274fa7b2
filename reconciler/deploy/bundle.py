"""Bundles from the desired state: what one agent is, for one environment, as JSON.

`content` is everything a runtime needs and nothing about where or when it runs:
the agent's spec (contract, model and params, limits, runtime, rollout with the canary
percentage), the system prompt's text inlined with its version, each granted tool
resolved from the catalog (description, argument schema, access, risk, data classes)
with the grant's constraints and requires_approval, and the A2A Agent Card.

Left out of `content`, so of the revision: the environment (the same agent is the same
revision in dev, staging and prod, which is what promotion order compares) and the list
of environments the agent deploys to (adding prod must not change dev's revision).

The Agent Card's `version` is the revision, which hashes the card: circular. So the card
in `content` has no `version`; `agent_card(bundle)` returns it with version = revision,
as a runtime serves it.

Built for fleets: the catalog is indexed and each tool dumped once per call of
`desired_bundles`, each bundle hashed once. Content dicts share the catalog's parameter
schemas between bundles: treat `content` as read-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.deploy.model import Bundle, revision_of
from reconciler.errors import AlmError
from reconciler.gcpause import gc_paused
from reconciler.spec.agent import Agent, ToolGrant
from reconciler.spec.catalog import Tool
from reconciler.spec.state import AgentSpec, DesiredState

A2A_PROTOCOL_VERSION = "0.3.0"
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class _Catalog:
    """The catalog for one build: tools by name and by system, each dumped once."""

    tools: Mapping[str, Tool]
    _by_system: dict[str, list[str]] = field(default_factory=dict)
    _dumped: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in sorted(self.tools):
            self._by_system.setdefault(self.tools[name].system, []).append(name)

    def covered(self, grant: str) -> list[str]:
        if grant.endswith(".*"):
            return self._by_system.get(grant[:-2], [])
        return [grant] if grant in self.tools else []

    def dumped(self, name: str) -> dict[str, Any]:
        cached = self._dumped.get(name)
        if cached is None:
            tool = self.tools[name]
            cached = self._dumped[name] = {
                "name": tool.name,
                "description": tool.description,
                "access": tool.access,
                "risk": tool.risk,
                "data_classes": list(tool.data_classes),
                "parameters": tool.parameters,
            }
        return cached


def build_bundle(spec: AgentSpec, state: DesiredState, environment: str) -> Bundle:
    """The bundle of one agent for one environment."""
    return _build(spec, _Catalog(state.tools), environment)


def desired_bundles(state: DesiredState, environment: str) -> dict[str, Bundle]:
    """The bundles of every agent whose deploy.environments lists `environment`, by name."""
    catalog = _Catalog(state.tools)
    chosen = sorted(
        (s for s in state.agents if environment in s.agent.deploy.environments),
        key=lambda s: s.name,
    )
    with gc_paused():  # many small dicts over the fleet's large heap: see reconciler.gcpause
        return {spec.name: _build(spec, catalog, environment) for spec in chosen}


def agent_card(bundle: Bundle) -> dict[str, Any]:
    """The A2A Agent Card as a runtime serves it: the stored card plus version = revision."""
    card = dict(bundle.content.get("agent_card") or {})
    card["version"] = bundle.revision
    return card


def _build(spec: AgentSpec, catalog: _Catalog, environment: str) -> Bundle:
    content = _content(spec, catalog)
    return Bundle.model_construct(
        agent=spec.name, environment=environment, revision=revision_of(content), content=content
    )


def _content(spec: AgentSpec, catalog: _Catalog) -> dict[str, Any]:
    agent = spec.agent
    if spec.prompt is None:
        raise AlmError(
            f"{spec.loaded.at('prompt', 'system')}: agent {spec.name}: its system prompt "
            f"{agent.prompt.system} cannot be read; expected the prompt file in its folder"
        )
    return {
        "name": agent.name,
        "metadata": agent.metadata.model_dump(mode="json"),
        "contract": agent.contract.model_dump(mode="json", by_alias=True, exclude_none=True),
        "model": {
            "provider": agent.model.provider,
            "name": agent.model.name,
            "params": agent.model.params.model_dump(mode="json", exclude_none=True),
        },
        "prompt": {
            "path": agent.prompt.system,
            "version": spec.prompt.version,
            "text": spec.prompt.text,
        },
        "tools": _tools(spec, catalog),
        "limits": agent.limits.model_dump(mode="json"),
        "runtime": agent.runtime.model_dump(mode="json", exclude_none=True),
        "rollout": agent.deploy.rollout.model_dump(mode="json", exclude_none=True),
        "agent_card": _card(agent),
    }


def _tools(spec: AgentSpec, catalog: _Catalog) -> list[dict[str, Any]]:
    """Every catalog tool a grant covers, in name order; an exact grant wins over a
    wildcard (as the eval sandbox decides)."""
    chosen: dict[str, ToolGrant] = {}
    for index, grant in enumerate(spec.agent.grants):
        names = catalog.covered(grant.name)
        if not names:
            raise AlmError(
                f"{spec.loaded.at('tools', index)}: agent {spec.name}: grant {grant.name} "
                "names no tool of the catalog; expected a tool of policies/tools.yaml"
            )
        for name in names:
            if name not in chosen or grant.name == name:
                chosen[name] = grant
    return [_tool(catalog.dumped(name), chosen[name]) for name in sorted(chosen)]


def _tool(dumped: dict[str, Any], grant: ToolGrant) -> dict[str, Any]:
    return {
        **dumped,
        "grant": grant.name,
        "constraints": {
            argument: constraint.model_dump(mode="json", exclude_none=True)
            for argument, constraint in sorted(grant.constraints.items())
        },
        "requires_approval": grant.requires_approval,
    }


def _card(agent: Agent) -> dict[str, Any]:
    """The A2A Agent Card without its version (see the module's docstring)."""
    card: dict[str, Any] = {
        "protocolVersion": A2A_PROTOCOL_VERSION,
        "name": agent.name,
        "description": agent.contract.purpose,
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": _skills(agent),
    }
    if agent.runtime.type == "http" and agent.runtime.url:
        card["url"] = agent.runtime.url
    return card


def _skills(agent: Agent) -> list[dict[str, Any]]:
    tags = [f"{key}:{value}" for key, value in sorted(agent.metadata.labels.items())]
    skills: list[dict[str, Any]] = []
    seen: set[str] = set()
    for text in agent.contract.scope.in_:
        base = _SLUG.sub("-", text.lower()).strip("-")[:60].rstrip("-") or "skill"
        slug, n = base, 2
        while slug in seen:
            slug, n = f"{base}-{n}", n + 1
        seen.add(slug)
        skills.append({"id": slug, "name": text, "description": text, "tags": tags})
    return skills
