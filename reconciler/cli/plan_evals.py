"""The evals `alm plan` compares: read from two results files, or run here for the agents
the change affects only, at head and at base, replaying cassettes, the result cache first
(as `alm eval` does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import click

from reconciler.cli.app import App
from reconciler.cli.eval_support import (
    CACHE_FILE,
    code_folders,
    files_at,
    progress_bar,
    trial_counts,
)
from reconciler.evals.engine import EngineConfig
from reconciler.evals.providers import Mode
from reconciler.evals.results import NotEvaluated, Results, read
from reconciler.evals.run import EvalRun, plan_jobs, run_evals
from reconciler.evals.scope import scope
from reconciler.spec.state import DesiredState

MODE: Mode = "replay"  # a pull request's evals never need a secret (DESIGN.md)


@dataclass(frozen=True)
class EvalSides:
    base: Results
    head: Results
    trials: dict[str, int]


def read_both(base: Path, head: Path) -> EvalSides:
    before, after = read(base), read(head)
    not_run = sum(not c.graded for r in (before, after) for c in r.cases)
    trials = {"base_trials": len(before.cases), "head_trials": len(after.cases), "not_run": not_run}
    return EvalSides(before, after, trials)


@dataclass(frozen=True)
class Side:
    state: DesiredState
    ref: str | None  # None: the working tree
    commit: str | None
    label: str  # base | head


def _folders(state: DesiredState, agents: Sequence[str]) -> tuple[str, ...]:
    found = [s.folder for s in state.agents if s.name in agents]
    own = tuple(f"{top}/{folder}" for folder in sorted(found) for top in ("agents", "evals"))
    return own + code_folders(state, agents)


def run_side(app: App, side: Side, agents: Sequence[str]) -> tuple[Results, EvalRun]:
    """The named agents' evals at one side; those that cannot be evaluated are recorded
    in the results (run.not_evaluated) with the reason."""
    chosen = scope(side.state, list(agents))
    names = list(chosen.agents)
    jobs = plan_jobs(side.state, names)
    cache = app.root / CACHE_FILE
    folders = _folders(side.state, names)
    with (
        progress_bar(f"eval {side.label}") as advance,
        files_at(app, side.ref if folders else None, MODE, folders) as files,
    ):
        run = run_evals(
            files, side.state, jobs, MODE, EngineConfig(), cache, advance,
            ref=side.ref, commit=side.commit, agents=names,
        )  # fmt: skip
    click.echo(f"{side.label}: {trial_counts(len(jobs), run)}", err=True)
    missing = tuple(NotEvaluated(u.agent, u.reason) for u in chosen.unevaluated)
    results = replace(run.results, run=replace(run.results.run, not_evaluated=missing))
    return results, run


def _removed(base: DesiredState, head: DesiredState) -> list[str]:
    """Agents of base that head no longer has (not those that fail to load at head)."""
    kept = {s.name for s in head.agents}
    return [
        s.name for s in base.agents if s.name not in kept and s.folder not in head.agent_folders
    ]


def run_both(app: App, base: Side, head: Side, affected: Sequence[str]) -> EvalSides:
    """Head: every affected agent. Base: those of them whose spec loads at base (the others
    have nothing to compare against), and the agents the change removes: what they cost
    goes away, as `alm eval --ref BASE --affected-since HEAD` gives the workflow's plan."""
    after, head_run = run_side(app, head, affected)
    removed = _removed(base.state, head.state)
    loaded = {s.name for s in base.state.agents}
    at_base = sorted({a for a in affected if a in loaded} | set(removed))
    before, base_run = run_side(app, base, at_base)
    runs = (base_run, head_run)
    trials = {
        "base_trials": len(before.cases),
        "head_trials": len(after.cases),
        "run": sum(r.ran for r in runs),
        "cached": sum(r.cached for r in runs),
        "not_run": sum(r.not_run for r in runs),
    }
    return EvalSides(before, after, trials)
