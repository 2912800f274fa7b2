"""What an agent's behaviour depends on, hashed: the cache key and the "affected" test.

The run hash covers what changes a run's answers (spec, prompt, granted tools'
catalog entries, the price of its model). Whether an agent is affected by a
change also looks at the policies that match it and at its eval cases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from reconciler.evals.sandbox import granted_tools
from reconciler.evals.types import canonical_json, sha256_of
from reconciler.spec.catalog import Tool
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
        self._tool_json: dict[int, str] = {}  # by id: the catalog's tools outlive this
        self._policy_hashes: dict[tuple[int, ...], str] = {}

    def tool_json(self, tool: Tool) -> str:
        """A catalog tool's canonical JSON, made once for all the agents granted it."""
        text = self._tool_json.get(id(tool))
        if text is None:
            text = self._tool_json[id(tool)] = canonical_json(_dump(tool))
        return text

    def policies_hash(self, labels: dict[str, str]) -> str:
        """The hash of the policies matching these labels, once per set of policies."""
        matching = tuple(
            i
            for i, (match, _) in enumerate(self.policies)
            if all(labels.get(k) == v for k, v in match.items())
        )
        found = self._policy_hashes.get(matching)
        if found is None:
            found = sha256_of([self.policies[i][1] for i in matching])
            self._policy_hashes[matching] = found
        return found


def run_hash(spec: AgentSpec, state: DesiredState, shared: Shared | None = None) -> str:
    shared = shared or Shared(state)
    model = spec.agent.model
    granted = {tool.name: tool for tool in granted_tools(spec.agent, shared.tools)}
    # sha256_of({"agent", "prices", "prompt", "tools"}) with each tool's JSON made once:
    # canonical JSON is these parts in key order (tests/test_evals_bundle.py)
    tools = ",".join(
        f"{canonical_json(name)}:{shared.tool_json(tool)}" for name, tool in sorted(granted.items())
    )
    text = (
        f'{{"agent":{canonical_json(_dump(spec.agent))},'
        f'"prices":{canonical_json(shared.prices.get((model.provider, model.name), []))},'
        f'"prompt":{canonical_json(spec.prompt.text if spec.prompt else None)},'
        f'"tools":{{{tools}}}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def case_hash(case: Case) -> str:
    return sha256_of(_dump(case))


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
        run_hash(spec, state, shared),
        shared.policies_hash(spec.agent.metadata.labels),
        sha256_of(cases),
    )


def affected_agents(base: DesiredState, head: DesiredState) -> list[str]:
    """Agents of head whose spec, prompt, granted tools, policies or cases differ from base."""
    old, new = Shared(base), Shared(head)
    before = {spec.name: fingerprint(spec, base, old) for spec in base.agents}
    return sorted(
        spec.name for spec in head.agents if before.get(spec.name) != fingerprint(spec, head, new)
    )
