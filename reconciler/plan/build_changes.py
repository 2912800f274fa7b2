"""The Changes section of the plan: what changed, in reviewer words (pure).

From the semantic diff (reconciler.plan.diff): one entry per changed agent with its
phrased changes and every tool newly granted to it (access, risk, the catalog's
approvers). An agent whose own spec did not change but whose behaviour may have (its
eval cases, a policy matching it, a granted tool's catalog entry, its model's price) is
listed too, saying which. Unchanged agents are only counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.evals.bundle import fingerprint
from reconciler.plan.build_cases import clip
from reconciler.plan.diff import StateDiff
from reconciler.plan.model import AgentChange, ChangeLine, Changes, Grant
from reconciler.plan.phrasing import Change
from reconciler.policy.tool_approvers import new_grants
from reconciler.spec.state import DesiredState

# A line of the report is bounded (a long description, a whole prompt rewritten); the
# report's fields hold 20,000 characters and `alm diff` prints the change in full.
TEXT_CHARS = 2_000
DETAIL_CHARS = 16_000


def _detail(detail: str | None) -> str | None:
    if detail is None or len(detail) <= DETAIL_CHARS:
        return detail
    kept = detail[:DETAIL_CHARS].rsplit("\n", 1)[0]
    rest = detail.count("\n") - kept.count("\n")
    return f"{kept}\n… {rest} more lines: alm diff shows them all"


def _line(change: Change) -> ChangeLine:
    return ChangeLine(text=clip(change.text, TEXT_CHARS), detail=_detail(change.detail))


def grants_by_agent(base: DesiredState, head: DesiredState) -> dict[str, list[Grant]]:
    """Per agent, the tools it is newly granted at head (by name or through a wildcard)."""
    tools = head.tools
    found: dict[str, list[Grant]] = {}
    for name, agents in new_grants(head, base).items():
        tool = tools.get(name)
        grant = Grant(
            tool=name,
            access=tool.access if tool else None,
            risk=tool.risk if tool else None,
            approvers=list(tool.approvers) if tool else [],
        )
        for agent in agents:
            found.setdefault(agent, []).append(grant)
    return found


def _why_affected(name: str, base: DesiredState, head: DesiredState) -> list[ChangeLine]:
    """Why an agent whose spec did not change is evaluated again."""
    old, new = base.agent(name), head.agent(name)
    if old is None or new is None:
        return []
    before, after = fingerprint(old, base), fingerprint(new, head)
    lines = []
    if before.cases != after.cases:
        lines.append(ChangeLine(text=f"eval cases changed (evals/{new.folder}/)"))
    if before.policies != after.policies:
        lines.append(ChangeLine(text="a policy that matches this agent changed"))
    if before.run != after.run:
        lines.append(ChangeLine(text="a granted tool's catalog entry or the model's price changed"))
    return lines


def _agent_change(name: str, lines: list[ChangeLine], grants: list[Grant]) -> AgentChange:
    if not lines and grants:  # reached through a wildcard by a catalog change
        tools = ", ".join(g.tool for g in grants)
        lines = [ChangeLine(text=f"newly reachable through a wildcard grant: {tools}")]
    return AgentChange(agent=name, status="changed", changes=lines, new_grants=grants)


def changes_section(
    diff: StateDiff, base: DesiredState, head: DesiredState, affected: Sequence[str]
) -> Changes:
    grants = grants_by_agent(base, head)
    agents = [
        AgentChange(
            agent=a.name,
            status=a.status,
            changes=[_line(c) for c in a.changes],
            new_grants=grants.get(a.name, []),
        )
        for a in diff.agents
    ]
    listed = {a.agent for a in agents}
    others = sorted((set(affected) | set(grants)) - listed)
    agents += [_agent_change(n, _why_affected(n, base, head), grants.get(n, [])) for n in others]
    agents.sort(key=lambda a: a.agent)
    every = {s.name for s in base.agents} | {s.name for s in head.agents}
    sections = {
        name: [_line(c) for c in changes] for name, changes in diff.sections.items() if changes
    }
    return Changes(
        agents=agents, unchanged_agents=len(every - {a.agent for a in agents}), sections=sections
    )
