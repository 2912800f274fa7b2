"""A tool's own approvers (the catalog's `approvers`) for every new grant of that tool.

A grant is new when the agent is new, or when a tool it is granted at head, by name or
through a `system.*` wildcard, was not granted at base. The base side is expanded
against the base catalog, so a tool added to the catalog that a wildcard now reaches is
a new grant too: the agent can call it, and nobody has approved that.
"""

from __future__ import annotations

from reconciler.policy.approvals import Requirement
from reconciler.spec.agent import grant_covers
from reconciler.spec.catalog import Tool
from reconciler.spec.state import AgentSpec, DesiredState

SOURCE = "tool"


class _Expander:
    """The catalog tools each grant name reaches, computed once per name."""

    def __init__(self, tools: dict[str, Tool]) -> None:
        self.tools = tools
        self._seen: dict[str, tuple[str, ...]] = {}

    def granted(self, names: tuple[str, ...]) -> set[str]:
        return {tool for name in names for tool in self._reach(name)}

    def _reach(self, grant: str) -> tuple[str, ...]:
        found = self._seen.get(grant)
        if found is None:
            if grant.endswith(".*"):
                found = tuple(t for t in self.tools if grant_covers(grant, t))
            else:
                found = (grant,) if grant in self.tools else ()
            self._seen[grant] = found
        return found


def _names(spec: AgentSpec) -> tuple[str, ...]:
    return tuple(t if isinstance(t, str) else t.name for t in spec.agent.tools)


def new_grants(head: DesiredState, base: DesiredState) -> dict[str, list[str]]:
    """Tool name to the agents newly granted it, both sorted."""
    now, before = _Expander(head.tools), _Expander(base.tools)
    same_catalog = now.tools == before.tools
    old = {spec.name: _names(spec) for spec in base.agents}
    found: dict[str, set[str]] = {}
    for spec in head.agents:
        names, previous = _names(spec), old.get(spec.name)
        if same_catalog and names == previous:
            continue  # the same grants of the same tools: nothing new
        had = before.granted(previous) if previous is not None else set()
        for tool in now.granted(names) - had:
            found.setdefault(tool, set()).add(spec.name)
    return {tool: sorted(found[tool]) for tool in sorted(found)}


def requirements(head: DesiredState, base: DesiredState) -> list[Requirement]:
    """The approvers of every newly granted tool that names some; tools with the same
    approvers share one requirement (one approval of theirs covers them all)."""
    tools = head.tools
    grouped: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for name, agents in new_grants(head, base).items():
        approvers = tuple(tools[name].approvers)
        if approvers:
            grouped.setdefault(approvers, {})[name] = set(agents)
    return [_requirement(owners, granted) for owners, granted in grouped.items()]


def _requirement(owners: tuple[str, ...], granted: dict[str, set[str]]) -> Requirement:
    names = ", ".join(granted)
    whose = "the tool's approvers" if len(granted) == 1 else "the tools' approvers"
    return Requirement(
        f"{SOURCE}:{' '.join(owners)}",
        owners,
        f"new grant of {names}: {whose}",
        SOURCE,
        agents=tuple(sorted(set().union(*granted.values()))),
    )
