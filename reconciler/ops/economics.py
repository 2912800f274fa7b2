"""Unit economics of a window of production tasks (pure): what the fleet costs, per agent
and revision, against what each agent's contract declares.

    economics(tasks, plans, prices, window, source) -> Economics

One pass over the tasks (an iterator: a window of 200,000 tasks is never held as Task
objects); everything returned is plain data, JSON-serialisable with `to_json`. What
each number means, for a finance reader: docs/ops-report.md.

- A task's cost is reconciler.ops.model.task_cost's (computed by the driver tally with a
  RatedPriceBook, once per model call): None when one of its models has no price.
  Unpriced tasks are counted, never priced at 0: every USD figure is over the priced
  tasks only, and the report says how many were left out.
- Run-rate (USD a month, a month being 30 days): observed = the window's cost per day x
  30; declared = contract.volume.tasks_per_month x the observed mean cost per task.
- Budget = declared volume x contract.success_metrics.cost_per_task_usd.max (the cost
  the contract plans for); ceiling = volume x limits.max_cost_usd_per_task (the hard cap).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.evals.metrics import percentile
from reconciler.ops.drivers import Drivers, DriverTally
from reconciler.ops.model import NS_PER_S, Task, Window
from reconciler.ops.rates import RatedPriceBook
from reconciler.spec.agent import Agent

DAYS_PER_MONTH = 30
HOURLY_BELOW_S = 2 * 86400  # a window under 2 days trends per hour, else per day


@dataclass(frozen=True)
class AgentPlan:
    """What an agent's spec declares about its cost."""

    agent: str
    tasks_per_month: int | None  # contract.volume.tasks_per_month
    target_usd_per_task: float | None  # contract.success_metrics.cost_per_task_usd.max
    limit_usd_per_task: float | None  # limits.max_cost_usd_per_task
    max_steps: int | None  # limits.max_steps: more tool calls than this is a loop


def plan_of(agent: Agent) -> AgentPlan:
    volume = agent.contract.volume
    target = agent.contract.success_metrics.cost_per_task_usd
    return AgentPlan(
        agent=agent.metadata.name,
        tasks_per_month=None if volume is None else volume.tasks_per_month,
        target_usd_per_task=None if target is None else target.max,
        limit_usd_per_task=agent.limits.max_cost_usd_per_task,
        max_steps=agent.limits.max_steps,
    )


@dataclass(frozen=True)
class CostStats:
    tasks: int
    unpriced: int  # tasks with a model without a price: in `tasks`, in no USD figure
    total_usd: float
    mean_usd: float | None  # per priced task
    p50_usd: float | None  # nearest-rank, as the evals' latency percentiles
    p95_usd: float | None

    @property
    def priced(self) -> int:
        return self.tasks - self.unpriced


@dataclass(frozen=True)
class RevisionRow:
    revision: str | None
    cost: CostStats


BudgetStatus = Literal["over budget", "within budget", "no budget", "no cost data"]


@dataclass(frozen=True)
class AgentRow:
    agent: str
    cost: CostStats
    revisions: tuple[RevisionRow, ...]  # most tasks first
    tasks_per_day: float
    run_rate_usd: float | None  # observed cost per day x 30
    declared_tasks_per_month: int | None
    declared_run_rate_usd: float | None  # declared volume x observed mean cost per task
    budget_usd: float | None  # declared volume x cost target per task
    ceiling_usd: float | None  # declared volume x hard limit per task
    status: BudgetStatus


@dataclass(frozen=True)
class Trend:
    bucket: Literal["hour", "day"]
    starts_ns: tuple[int, ...]  # each bucket's start (UTC hour or day)
    cost_usd: dict[str, tuple[float, ...]]  # agent -> priced USD in each bucket
    tasks: dict[str, tuple[int, ...]]  # agent -> tasks in each bucket


@dataclass(frozen=True)
class Mover:
    """The agent whose cost changed most between the window's two halves."""

    agent: str
    first_half_usd: float
    second_half_usd: float

    @property
    def change_usd(self) -> float:
        return self.second_half_usd - self.first_half_usd


@dataclass(frozen=True)
class Economics:
    window: Window
    source: str  # where the tasks came from (the store's file, a ClickHouse URL)
    days: float  # the window's length in days
    total: CostStats
    run_rate_usd: float | None
    budget_usd: float | None  # the agents' budgets added up (those that declare one)
    agents: tuple[AgentRow, ...]  # costliest first
    trend: Trend
    drivers: Drivers
    mover: Mover | None
    undeclared_agents: tuple[str, ...]  # agents in the traces the fleet no longer declares


def economics(
    tasks: Iterable[Task],
    plans: Mapping[str, AgentPlan],
    prices: RatedPriceBook,
    window: Window,
    source: str,
) -> Economics:
    """The economics of `tasks` (those of `window`) for the fleet of `plans`."""
    costs: dict[tuple[str, str | None], list[float | None]] = defaultdict(list)
    bucket_s = 3600 if window.end_ns - window.start_ns < HOURLY_BELOW_S * NS_PER_S else 86400
    buckets: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    halves: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    middle = (window.start_ns + window.end_ns) // 2
    tally = DriverTally(prices, {name: plan.max_steps for name, plan in plans.items()})
    for task in tasks:
        cost = tally.add(task)
        costs[(task.agent, task.revision)].append(cost)
        slot = buckets[task.agent][task.start_ns // NS_PER_S // bucket_s * bucket_s * NS_PER_S]
        slot[0] += 1
        if cost is not None:
            slot[1] += cost
            halves[task.agent][task.start_ns >= middle] += cost
    days = (window.end_ns - window.start_ns) / NS_PER_S / 86400
    rows = _agent_rows(costs, plans, days)
    return Economics(
        window=window,
        source=source,
        days=days,
        total=cost_stats([c for group in costs.values() for c in group]),
        run_rate_usd=_sum_known([r.run_rate_usd for r in rows]),
        budget_usd=_sum_known([r.budget_usd for r in rows]),
        agents=rows,
        trend=_trend(buckets, window, bucket_s),
        drivers=tally.drivers(),
        mover=_mover(halves),
        undeclared_agents=tuple(sorted({a for a, _ in costs} - set(plans))),
    )


def cost_stats(costs: list[float | None]) -> CostStats:
    priced = [c for c in costs if c is not None]
    total = math.fsum(priced)
    return CostStats(
        tasks=len(costs),
        unpriced=len(costs) - len(priced),
        total_usd=total,
        mean_usd=total / len(priced) if priced else None,
        p50_usd=percentile(priced, 50),
        p95_usd=percentile(priced, 95),
    )


def _agent_rows(
    costs: Mapping[tuple[str, str | None], list[float | None]],
    plans: Mapping[str, AgentPlan],
    days: float,
) -> tuple[AgentRow, ...]:
    by_agent: dict[str, list[tuple[str | None, list[float | None]]]] = defaultdict(list)
    for (agent, revision), group in costs.items():
        by_agent[agent].append((revision, group))
    rows = [_agent_row(agent, groups, plans.get(agent), days) for agent, groups in by_agent.items()]
    return tuple(sorted(rows, key=lambda r: (-r.cost.total_usd, r.agent)))


def _agent_row(
    agent: str,
    groups: list[tuple[str | None, list[float | None]]],
    plan: AgentPlan | None,
    days: float,
) -> AgentRow:
    revisions = [RevisionRow(revision, cost_stats(group)) for revision, group in groups]
    revisions.sort(key=lambda r: (-r.cost.tasks, r.revision or ""))
    cost = cost_stats([c for _, group in groups for c in group])
    volume = None if plan is None else plan.tasks_per_month
    run_rate = cost.total_usd / days * DAYS_PER_MONTH if cost.priced else None
    budget = _times(volume, None if plan is None else plan.target_usd_per_task)
    return AgentRow(
        agent=agent,
        cost=cost,
        revisions=tuple(revisions),
        tasks_per_day=cost.tasks / days,
        run_rate_usd=run_rate,
        declared_tasks_per_month=volume,
        declared_run_rate_usd=_times(volume, cost.mean_usd),
        budget_usd=budget,
        ceiling_usd=_times(volume, None if plan is None else plan.limit_usd_per_task),
        status=_status(run_rate, budget),
    )


def _status(run_rate: float | None, budget: float | None) -> BudgetStatus:
    if run_rate is None:
        return "no cost data"
    if budget is None:
        return "no budget"
    return "over budget" if run_rate > budget else "within budget"


def _times(count: int | None, usd: float | None) -> float | None:
    return None if count is None or usd is None else count * usd


def _sum_known(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return math.fsum(known) if known else None


def _trend(
    buckets: Mapping[str, Mapping[int, list[float]]], window: Window, bucket_s: int
) -> Trend:
    step = bucket_s * NS_PER_S
    first = window.start_ns // step * step
    starts = tuple(range(first, window.end_ns, step))
    series = sorted(buckets.items())
    return Trend(
        bucket="hour" if bucket_s == 3600 else "day",
        starts_ns=starts,
        cost_usd={a: tuple(float(b[s][1]) if s in b else 0.0 for s in starts) for a, b in series},
        tasks={a: tuple(int(b[s][0]) if s in b else 0 for s in starts) for a, b in series},
    )


def _mover(halves: Mapping[str, list[float]]) -> Mover | None:
    movers = [Mover(agent, first, second) for agent, (first, second) in halves.items()]
    moved = [m for m in movers if m.change_usd != 0]
    if not moved:
        return None
    return max(moved, key=lambda m: (abs(m.change_usd), m.agent))


def to_json(value: Economics) -> dict[str, Any]:
    """Plain JSON data (dataclasses as objects, tuples as lists)."""
    data: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(value)))
    return data
