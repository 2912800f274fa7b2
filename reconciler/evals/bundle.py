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


class Shared:
    """What every agent's hashes read from one state, computed once: the merged catalog,
    the prices and each policy's dump (per agent, that was the whole catalog merged and
    every policy dumped again: a quarter of `alm plan` at 1,000 agents)."""

    def __init__(self, state: DesiredState) -> None:
        self.tools = state.tools
        self.prices: dict[tuple[str, str], list[Any]] = {}
        for doc in state.pricing:
            for price in doc.model.models:
                self.prices.setdefault((price.provider, price.name), []).append(_dump(price))
        self.policies = [(p.model.match.labels, _dump(p.model)) for p in state.policies]


def run_hash(spec: AgentSpec, state: DesiredState, shared: Shared | None = None) -> str:
    shared = shared or Shared(state)
    model = spec.agent.model
    tools = {tool.name: tool for tool in granted_tools(spec.agent, shared.tools)}
    return sha256_of(
        {
            "agent": _dump(spec.agent),
            "prompt": spec.prompt.text if spec.prompt else None,
            "tools": {name: _dump(tool) for name, tool in sorted(tools.items())},
            "prices": shared.prices.get((model.provider, model.name), []),
        }
    )


def case_hash(case: Case) -> str:
    return sha256_of(_dump(case))


def _policies_hash(spec: AgentSpec, shared: Shared) -> str:
    labels = spec.agent.metadata.labels
    matching = [
        dump for match, dump in shared.policies if all(labels.get(k) == v for k, v in match.items())
    ]
    return sha256_of(matching)


@dataclass(frozen=True)
class Fingerprint:
    run: str
    policies: str
    cases: str


def fingerprint(spec: AgentSpec, state: DesiredState, shared: Shared | None = None) -> Fingerprint:
    shared = shared or Shared(state)
    suites = state.suites.get(spec.folder, [])
    cases = sorted(
        (s.model.metadata.name, c.id, case_hash(c)) for s in suites for c in s.model.cases
    )
    return Fingerprint(
        run_hash(spec, state, shared), _policies_hash(spec, shared), sha256_of(cases)
    )


def affected_agents(base: DesiredState, head: DesiredState) -> list[str]:
    """Agents of head whose spec, prompt, granted tools, policies or cases differ from base."""
    old, new = Shared(base), Shared(head)
    before = {spec.name: fingerprint(spec, base, old) for spec in base.agents}
    return sorted(
        spec.name for spec in head.agents if before.get(spec.name) != fingerprint(spec, head, new)
    )
