"""What an agent's behaviour depends on, hashed: the cache key and the "affected" test.

The run hash covers what changes a run's answers (spec, prompt, granted tools'
catalog entries, the price of its model). Whether an agent is affected by a
change also looks at the policies that match it and at its eval cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.evals.sandbox import granted_tools
from reconciler.evals.types import sha256_of
from reconciler.spec.evalsuite import Case
from reconciler.spec.state import AgentSpec, DesiredState


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json", by_alias=True)


def run_hash(spec: AgentSpec, state: DesiredState) -> str:
    model = spec.agent.model
    prices = [
        _dump(p)
        for doc in state.pricing
        for p in doc.model.models
        if (p.provider, p.name) == (model.provider, model.name)
    ]
    tools = {tool.name: tool for tool in granted_tools(spec.agent, state.tools)}
    return sha256_of(
        {
            "agent": _dump(spec.agent),
            "prompt": spec.prompt.text if spec.prompt else None,
            "tools": {name: _dump(tool) for name, tool in sorted(tools.items())},
            "prices": prices,
        }
    )


def case_hash(case: Case) -> str:
    return sha256_of(_dump(case))


def _policies_hash(spec: AgentSpec, state: DesiredState) -> str:
    labels = spec.agent.metadata.labels
    matching = [
        _dump(p.model)
        for p in state.policies
        if all(labels.get(k) == v for k, v in p.model.match.labels.items())
    ]
    return sha256_of(matching)


@dataclass(frozen=True)
class Fingerprint:
    run: str
    policies: str
    cases: str


def fingerprint(spec: AgentSpec, state: DesiredState) -> Fingerprint:
    suites = state.suites.get(spec.folder, [])
    cases = sorted(
        (s.model.metadata.name, c.id, case_hash(c)) for s in suites for c in s.model.cases
    )
    return Fingerprint(run_hash(spec, state), _policies_hash(spec, state), sha256_of(cases))


def affected_agents(base: DesiredState, head: DesiredState) -> list[str]:
    """Agents of head whose spec, prompt, granted tools, policies or cases differ from base."""
    before = {spec.name: fingerprint(spec, base) for spec in base.agents}
    return sorted(
        spec.name for spec in head.agents if before.get(spec.name) != fingerprint(spec, head)
    )
