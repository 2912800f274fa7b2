"""What `alm ops simulate` knows of one agent: who it is in the repository (grants, escalation
tool, must-never output patterns, volume, contract bounds) and what runs (the live
revision and its model, and during a canary the stable revision beside it).

Tools and their arguments come from the desired spec and the catalog, checked with the
eval sandbox's own `check` (the check `alm ops check` makes on recorded calls), so
healthy simulated traffic is healthy by the same definition. Models come from the
bundles that run: a held or pinned agent runs its live revision, not the desired one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.deploy.model import Bundle
from reconciler.evals.sandbox import Sandbox, find_grant, granted_tools
from reconciler.ops import simargs
from reconciler.ops.simtext import kind_of
from reconciler.spec.agent import Agent, grant_covers
from reconciler.spec.catalog import Tool

CANDIDATES = 12  # argument sets tried per tool
KEPT = 6  # of which at most this many are kept


@dataclass(frozen=True)
class ToolPlan:
    name: str
    arguments: tuple[dict[str, Any], ...]  # sets the sandbox accepts; empty: none recorded


@dataclass(frozen=True)
class Arm:
    """One revision of an agent that takes a share of its traffic."""

    revision: str
    provider: str
    model: str
    share: float


@dataclass(frozen=True)
class Deployed:
    """An agent as its environment's target holds it: the live bundle and, when its
    rollout is a canary in progress, the stable revision (and its bundle when kept)."""

    live: Bundle
    stable_revision: str | None = None
    stable: Bundle | None = None


@dataclass(frozen=True)
class AgentProfile:
    name: str
    kind: str  # simtext.KITS key
    arms: tuple[Arm, ...]  # the canary (live) first when split
    reads: tuple[ToolPlan, ...]
    writes: tuple[ToolPlan, ...]
    approvals: tuple[ToolPlan, ...]  # requires_approval grants
    escalation: ToolPlan | None
    forbidden_outputs: tuple[str, ...]
    tasks_per_month: float
    max_tools: int
    cost_max: float | None
    latency_max: float | None
    breach: str | None = None  # how a --breach shows in alm ops check (BREACHES), or None
    no_breach: str = ""  # when None: why no simulated breach would be detected

    @property
    def canary(self) -> str | None:
        return self.arms[0].revision if len(self.arms) > 1 else None


# A breach fills a quarter of the window (simulate.Settings.breach_start_ns): over the
# whole window at most that share of tasks fails, so a task_success_rate floor at or
# below this cannot be shown broken by failing them.
BREACH_SHARE = 0.25
SUCCESS_MARGIN = 0.05  # room for the healthy failures' noise and the Wilson interval


def breach_mode(agent: Agent, forbidden: tuple[str, ...]) -> tuple[str | None, str]:
    """How this agent's simulated breach breaks what alm ops check checks: "leak" (output
    its must-never patterns forbid: policy_compliance) or "unsuccessful" (every breaching
    task labelled unsuccessful: task_success_rate); else None and why not."""
    metrics = agent.contract.success_metrics
    if forbidden and metrics.policy_compliance is not None:
        return "leak", ""
    floor = 1 - BREACH_SHARE + SUCCESS_MARGIN
    success = metrics.task_success_rate.min if metrics.task_success_rate else None
    if success is not None and success > floor:
        return "unsuccessful", ""
    leak = (
        "its contract declares no policy_compliance"
        if forbidden
        else "it has no must_never rule with forbid_output_patterns to leak"
    )
    rate = (
        f"its task_success_rate min {success:g} is not above {floor:g}"
        if success is not None
        else "its contract declares no task_success_rate min"
    )
    return None, f"{leak}, and {rate} (a breach fails at most the window's last quarter)"


def _arguments(sandbox: Sandbox, tool: Tool, agent: Agent, rng: random.Random) -> ToolPlan:
    grant = find_grant(agent.grants, tool.name)
    constraints = grant.constraints if grant else {}
    rules = {k: v.model_dump(exclude_none=True) for k, v in constraints.items()}
    kept: list[dict[str, Any]] = []
    for _ in range(CANDIDATES):
        try:
            made = simargs.example(tool.parameters, rng)
            candidate = simargs.constrained(made if isinstance(made, dict) else {}, rules, rng)
        except simargs.Unsupported:
            continue
        if not sandbox.check(tool.name, candidate) and candidate not in kept:
            kept.append(candidate)
        if len(kept) >= KEPT:
            break
    return ToolPlan(tool.name, tuple(kept))


def _usable(sandbox: Sandbox, tool: Tool) -> bool:
    """Granted and forbidden by no must-never rule (whatever the arguments)."""
    return not any(v.kind in ("must_never", "ungranted") for v in sandbox.check(tool.name, {}))


def _live_tools(bundle: Bundle) -> set[str] | None:
    tools = bundle.content.get("tools")
    if not isinstance(tools, list):
        return None
    return {t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)}


def _model(bundle: Bundle | None, agent: Agent) -> tuple[str, str]:
    model = bundle.content.get("model") if bundle is not None else None
    if isinstance(model, dict) and isinstance(model.get("name"), str):
        return str(model.get("provider") or agent.model.provider), model["name"]
    return agent.model.provider, agent.model.name


def arms_of(agent: Agent, deployed: Deployed) -> tuple[Arm, ...]:
    """The live revision alone, or during a canary (rollout canary, a stable revision in
    the target's history, not pinned by a rollback, not promoted to all traffic) the
    canary's share and the stable's."""
    live = deployed.live
    provider, model = _model(live, agent)
    rollout = live.content.get("rollout")
    percent = rollout.get("canary_percent") if isinstance(rollout, dict) else None
    if live.promotion is not None:  # alm ops promote-canary gave it this share
        percent = live.promotion.traffic_percent
    split = (
        isinstance(rollout, dict)
        and rollout.get("strategy") == "canary"
        and isinstance(percent, int | float)
        and percent < 100
        and deployed.stable_revision is not None
        and deployed.stable_revision != live.revision
        and live.pin is None
    )
    if not split or deployed.stable_revision is None:
        return (Arm(live.revision, provider, model, 1.0),)
    share = float(percent) / 100  # type: ignore[arg-type]
    stable_provider, stable_model = _model(deployed.stable or live, agent)
    return (
        Arm(live.revision, provider, model, share),
        Arm(deployed.stable_revision, stable_provider, stable_model, 1 - share),
    )


def build(
    agent: Agent, catalog: Mapping[str, Tool], deployed: Deployed, rng: random.Random
) -> AgentProfile:
    sandbox = Sandbox(agent, catalog, ())
    running = _live_tools(deployed.live)
    tools = [
        t
        for t in granted_tools(agent, catalog)
        if (running is None or t.name in running) and _usable(sandbox, t)
    ]
    escalation_grant = agent.contract.escalation.tool if agent.contract.escalation else None
    approval = {g.name for g in agent.grants if g.requires_approval}
    plans = {t.name: _arguments(sandbox, t, agent, rng) for t in tools}
    escalation = next(
        (plans[n] for n in plans if escalation_grant and grant_covers(escalation_grant, n)), None
    )
    others = [t for t in tools if escalation is None or t.name != escalation.name]
    metrics = agent.contract.success_metrics
    volume = agent.contract.volume
    forbidden = tuple(p for rule in agent.contract.must_never for p in rule.forbid_output_patterns)
    mode, why = breach_mode(agent, forbidden)
    return AgentProfile(
        name=agent.name,
        kind=kind_of([t.name for t in tools]),
        arms=arms_of(agent, deployed),
        reads=_pick(plans, others, lambda t: t.access == "read"),
        writes=_pick(plans, others, lambda t: t.access != "read" and t.name not in approval),
        approvals=_pick(plans, others, lambda t: t.access != "read" and t.name in approval),
        escalation=escalation,
        forbidden_outputs=forbidden,
        tasks_per_month=float(volume.tasks_per_month) if volume else 3000.0,
        max_tools=max(agent.limits.max_steps - 1, 1),
        cost_max=metrics.cost_per_task_usd.max if metrics.cost_per_task_usd else None,
        latency_max=metrics.latency_p95_s.max if metrics.latency_p95_s else None,
        breach=mode,
        no_breach=why,
    )


def _pick(plans: Mapping[str, ToolPlan], tools: Sequence[Tool], keep: Any) -> tuple[ToolPlan, ...]:
    return tuple(plans[t.name] for t in tools if keep(t))
