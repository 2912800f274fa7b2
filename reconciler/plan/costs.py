"""The cost section of the plan report, the way Infracost shows it (pure).

    cost_section(
        base_state: DesiredState | None,
        head_state: DesiredState,
        base_results: Results | None,
        head_results: Results | None,
        changed: Sequence[str],            # agent names, in the order the rows should have
        *,
        prices_version: str | None = None, # default: the installed genai-prices version
    ) -> reconciler.plan.model.Cost

One row per changed agent (an agent in neither state is skipped):

- model base / head: "provider/name" from each side's spec (None where the agent is absent);
- cost per task: the eval results' cost_per_task_usd of that side (the mean cost of a graded
  trial, reconciler.evals.metrics); None when the side's results do not hold the agent;
- tasks_per_month: contract.volume.tasks_per_month of the head spec (the base's for a
  removed agent); each side's monthly figure uses its own side's volume;
- monthly = cost per task x volume, None when either is unknown;
- delta = head - base; an absent side counts as 0 (a new agent adds its whole monthly
  cost, a removed one takes it away); None when a present side's monthly is unknown.

Totals add up the rows whose delta is known, so the total delta is the sum of the rows'.
eval_run_cost_usd is what running these evals costs at model prices: every trial with a
trajectory in both results files, whether it ran now, came from the cache or was replayed
from a cassette (the cost of running them all live once; the results record no more).

A breach is an agent whose monthly cost rises by more than the `cost:` limit of a head
policy whose match.labels select it (as `alm policy check` uses the head's policies; a
change to a policy file is reviewed by its code owners). The percentage limit applies only
where the base monthly cost is above zero; a new agent is held to the USD limit alone.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from reconciler.evals.results import Results
from reconciler.plan.model import Cost, CostBreach, CostRow
from reconciler.spec.catalog import CostLimit, Policy
from reconciler.spec.state import AgentSpec, DesiredState, Loaded

PRICES_PACKAGE = "genai-prices"
_DIGITS = 6  # monthly figures in micro-dollars: no float dust in deltas and comparisons


@dataclass(frozen=True)
class _Side:
    """One agent on one side of the change."""

    spec: AgentSpec | None
    per_task: float | None

    @property
    def model(self) -> str | None:
        return None if self.spec is None else _model_name(self.spec)

    @property
    def volume(self) -> int | None:
        volume = None if self.spec is None else self.spec.agent.contract.volume
        return None if volume is None else volume.tasks_per_month

    @property
    def monthly(self) -> float | None:
        if self.per_task is None or self.volume is None:
            return None
        return round(self.per_task * self.volume, _DIGITS)


def cost_section(
    base_state: DesiredState | None,
    head_state: DesiredState,
    base_results: Results | None,
    head_results: Results | None,
    changed: Sequence[str],
    *,
    prices_version: str | None = None,
) -> Cost:
    """The plan's cost section for the changed agents (see the module docstring)."""
    sides = {
        name: (_side(base_state, base_results, name), _side(head_state, head_results, name))
        for name in dict.fromkeys(changed)
    }
    sides = {n: s for n, s in sides.items() if s[0].spec is not None or s[1].spec is not None}
    rows = [_row(name, base, head) for name, (base, head) in sides.items()]
    known = [r for r in rows if r.delta_monthly is not None]
    version = prices_version or installed_prices_version()
    return Cost(
        rows=rows,
        total_monthly_base=round(sum(r.monthly_base or 0.0 for r in known), _DIGITS),
        total_monthly_head=round(sum(r.monthly_head or 0.0 for r in known), _DIGITS),
        eval_run_cost_usd=_run_cost(base_results) + _run_cost(head_results),
        price_source=_price_source(version, base_state, head_state, rows),
        breaches=[
            breach
            for row in rows
            for breach in _breaches(row, sides[row.agent][1].spec, head_state.policies)
        ],
    )


@cache
def installed_prices_version() -> str:
    return importlib.metadata.version(PRICES_PACKAGE)


def _model_name(spec: AgentSpec) -> str:
    model = spec.agent.model
    return f"{model.provider}/{model.name}"


def _side(state: DesiredState | None, results: Results | None, name: str) -> _Side:
    spec = None if state is None else state.agent(name)
    scored = None if results is None else results.agent(name)
    per_task = None if scored is None else scored.metrics.overall.cost_per_task_usd
    return _Side(spec, per_task if spec is not None else None)


def _row(name: str, base: _Side, head: _Side) -> CostRow:
    return CostRow(
        agent=name,
        model_base=base.model,
        model_head=head.model,
        per_task_base=base.per_task,
        per_task_head=head.per_task,
        tasks_per_month=head.volume if head.spec is not None else base.volume,
        monthly_base=base.monthly,
        monthly_head=head.monthly,
        delta_monthly=_delta(base, head),
    )


def _delta(base: _Side, head: _Side) -> float | None:
    before = 0.0 if base.spec is None else base.monthly
    after = 0.0 if head.spec is None else head.monthly
    if before is None or after is None:
        return None
    return round(after - before, _DIGITS)


def _run_cost(results: Results | None) -> float:
    if results is None:
        return 0.0
    return sum(c.trajectory.cost_usd for c in results.cases if c.trajectory is not None)


# --- the price source ------------------------------------------------------------------


def _price_source(
    version: str, base: DesiredState | None, head: DesiredState, rows: Iterable[CostRow]
) -> str:
    rows = list(rows)
    files = _override_files(base, [r.model_base for r in rows])
    files += _override_files(head, [r.model_head for r in rows])
    source = f"{PRICES_PACKAGE} {version}"
    if files:
        source += " + overrides in " + ", ".join(sorted(set(files)))
    return source


def _override_files(state: DesiredState | None, models: Iterable[str | None]) -> list[str]:
    """The files of the Pricing documents that price any of these models."""
    if state is None:
        return []
    wanted = {m for m in models if m is not None}
    return [
        doc.file
        for doc in state.pricing
        if any(f"{p.provider}/{p.name}" in wanted for p in doc.model.models)
    ]


# --- breaches of a policy's limit ------------------------------------------------------


def _breaches(
    row: CostRow, head: AgentSpec | None, policies: Iterable[Loaded[Policy]]
) -> list[CostBreach]:
    if head is None or row.delta_monthly is None or row.delta_monthly <= 0:
        return []
    labels = head.agent.metadata.labels
    found = []
    for policy in (p.model for p in policies):
        if policy.cost is None or not policy.match.selects(labels):
            continue
        if beyond := _beyond(row, policy.cost):
            text = _text(row, policy.metadata.name, beyond)
            found.append(CostBreach(agent=row.agent, policy=policy.metadata.name, text=text))
    return found


def _pct(row: CostRow) -> float | None:
    """The rise as a percentage of the base monthly cost; None without a base above zero."""
    if row.monthly_base is None or row.monthly_base <= 0 or row.delta_monthly is None:
        return None
    return row.delta_monthly / row.monthly_base * 100


def _beyond(row: CostRow, limit: CostLimit) -> list[str]:
    """The limits this row's rise is beyond, as the breach text names them."""
    assert row.delta_monthly is not None
    beyond = []
    usd, pct = limit.max_monthly_increase_usd, limit.max_monthly_increase_pct
    if usd is not None and row.delta_monthly > usd:
        beyond.append(f"+{_usd(usd)}/month")
    rise = _pct(row)
    if pct is not None and rise is not None and rise > pct:
        beyond.append(f"+{pct:g}%")
    return beyond


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _text(row: CostRow, policy: str, beyond: list[str]) -> str:
    assert row.delta_monthly is not None
    rise = _pct(row)
    share = f" ({rise:+.1f}%)" if rise is not None else ""
    if row.model_base is None:
        share = " (new agent)"
    return (
        f"{row.agent}: monthly cost +{_usd(row.delta_monthly)}{share} is beyond the {policy} "
        f"policy's limit of {' and '.join(beyond)}"
    )
