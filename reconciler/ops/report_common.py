"""What the cost report says, as plain text (pure): the markdown and HTML pages format
these same sentences and tables, escaping every cell (model, tool and revision names come
from traces)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.ops.economics import AgentRow, Economics
from reconciler.plan.render_common import NONE, money, plural

TITLE = "alm ops report: unit economics"
CHART_TITLES = {
    "cost-per-task": "Cost per task by agent and revision",
    "cost-trend": "Cost over time by agent",
    "run-rate": "Monthly run-rate against budget",
    "cost-drivers": "Cost drivers",
}
AGENT_HEADER = ("agent", "tasks", "tasks/day", "cost in window", "run-rate/month",
                "declared tasks/month", "at declared volume", "budget/month",
                "ceiling/month", "status")  # fmt: skip
REVISION_HEADER = ("agent", "revision", "tasks", "unpriced", "mean/task", "p50/task",
                   "p95/task", "cost in window")  # fmt: skip
MODEL_HEADER = ("model", "calls", "input tokens", "cached input", "output tokens", "cost",
                "share")  # fmt: skip
PATTERN_HEADER = ("pattern", "tasks", "occurrences", "cost", "share", "tools most involved")
STATUS_ICONS = {"over budget": "🔴", "within budget": "🟢", "no budget": "⚪",
                "no cost data": "⚪"}  # fmt: skip


def no_tasks(economics: Economics) -> str:
    return (
        f"No tasks in this window ({economics.window.describe()}) from {economics.source}: "
        "nothing to cost. Ingest traces with `alm ops ingest`, or widen the window "
        "(--since, --hours)."
    )


def headline(economics: Economics) -> list[str]:
    """The three lines a reader wants first: spend, run-rate against budget, mover."""
    total = economics.total
    spent = f"Spent {money(total.total_usd)} on {plural(total.tasks, 'task', 'tasks')}"
    if total.unpriced:
        spent += f" ({total.unpriced:,} unpriced, not included)"
    lines = [f"{spent} in {economics.window.describe()}."]
    over = [a.agent for a in economics.agents if a.status == "over budget"]
    rate = f"Monthly run-rate {money(economics.run_rate_usd)}"
    if economics.budget_usd is not None:
        rate += f" against a budget of {money(economics.budget_usd)}"
    rate += f": {len(over)} of {plural(len(economics.agents), 'agent')} over budget"
    lines.append(rate + (f" ({', '.join(over)})." if over else "."))
    lines.append(mover_line(economics))
    return lines


def mover_line(economics: Economics) -> str:
    mover = economics.mover
    if mover is None:
        return "Biggest mover: none (no agent's cost changed between the window's halves)."
    change = mover.change_usd
    relative = f" ({change / mover.first_half_usd:+.0%})" if mover.first_half_usd > 0 else " (new)"
    sign = "+" if change > 0 else "-"
    return (
        f"Biggest mover: {mover.agent}, {sign}{money(abs(change))}{relative} in the second "
        f"half of the window against the first ({money(mover.first_half_usd)} to "
        f"{money(mover.second_half_usd)})."
    )


def agent_rows(economics: Economics) -> list[list[str]]:
    return [_agent_row(a) for a in economics.agents]


def _agent_row(row: AgentRow) -> list[str]:
    volume = row.declared_tasks_per_month
    return [
        row.agent,
        f"{row.cost.tasks:,}",
        f"{row.tasks_per_day:,.1f}",
        money(row.cost.total_usd) if row.cost.priced else NONE,
        money(row.run_rate_usd),
        NONE if volume is None else f"{volume:,}",
        money(row.declared_run_rate_usd),
        money(row.budget_usd),
        money(row.ceiling_usd),
        f"{STATUS_ICONS[row.status]} {row.status}",
    ]


def revision_rows(economics: Economics) -> list[list[str]]:
    return [
        [a.agent, r.revision or "no revision", f"{r.cost.tasks:,}", f"{r.cost.unpriced:,}",
         money(r.cost.mean_usd), money(r.cost.p50_usd), money(r.cost.p95_usd),
         money(r.cost.total_usd) if r.cost.priced else NONE]
        for a in economics.agents
        for r in a.revisions
    ]  # fmt: skip


def model_rows(economics: Economics) -> list[list[str]]:
    return [
        [f"{m.provider}/{m.model}", f"{m.calls:,}", f"{m.input_tokens:,}",
         f"{m.cached_input_tokens:,}", f"{m.output_tokens:,}",
         money(m.cost_usd) if m.cost_usd is not None else "no price", _percent(m.share)]
        for m in economics.drivers.models
    ]  # fmt: skip


def pattern_rows(economics: Economics) -> list[list[str]]:
    return [
        [p.label, f"{p.tasks:,}", f"{p.occurrences:,}", money(p.cost_usd), _percent(p.share),
         ", ".join(p.tools) or NONE]
        for p in economics.drivers.patterns
    ]  # fmt: skip


def notes(economics: Economics) -> list[str]:
    """What a reader must know to trust the numbers."""
    found = []
    unpriced = [f"{m.provider}/{m.model}" for m in economics.drivers.models if m.cost_usd is None]
    if economics.total.unpriced:
        found.append(
            f"{plural(economics.total.unpriced, 'task', 'tasks')} used a model without a "
            f"price ({', '.join(unpriced)}): counted in tasks, left out of every USD figure "
            "(never priced at $0). Add the price to a Pricing document in policies/."
        )
    if economics.undeclared_agents:
        names = ", ".join(economics.undeclared_agents)
        found.append(f"In the traces but not declared in agents/: {names} (no budget).")
    no_volume = [a.agent for a in economics.agents if a.declared_tasks_per_month is None]
    if no_volume:
        found.append(
            f"No contract.volume.tasks_per_month for {', '.join(no_volume)}: no declared "
            "run-rate, budget or ceiling."
        )
    found.append(
        "The patterns overlap (a looping task is often in the long tail): their shares do "
        "not add up to 100%."
    )
    return found


def source_lines(economics: Economics) -> list[str]:
    return [
        f"Window: {economics.window.describe()}; trends per {economics.trend.bucket} (UTC).",
        f"Tasks from: {economics.source}.",
        "A month is 30 days. Prices: genai-prices (pinned) with the overrides in policies/.",
    ]


def _percent(share: float | None) -> str:
    return NONE if share is None else f"{share:.1%}"


def chart_names(charts: Sequence[str]) -> list[tuple[str, str]]:
    return [(name, CHART_TITLES[name]) for name in charts if name in CHART_TITLES]
