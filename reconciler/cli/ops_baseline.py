"""The eval baseline `alm ops check` compares each live revision with: an `alm eval --out`
results file (--baseline), or, when the environment gates on evals, the evals replayed at
the commit the live revision was deployed from, as the deploy gate ran them
(reconciler.cli.plan_evals.run_side: replay, the result cache first, so a revision that
passed the gate is a cache hit). An agent without a usable baseline is said in a note and
compared with its contract only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.cli.deploy_context import EnvContext
from reconciler.deploy.model import Bundle
from reconciler.errors import AlmError
from reconciler.spec.agent import Agent

if TYPE_CHECKING:  # the eval machinery loads only when a baseline is read or run
    from reconciler.evals.metrics import Metrics
    from reconciler.evals.results import Results

Baselines = tuple[dict[str, "Metrics"], list[str]]


def baselines(
    ctx: EnvContext, live: Mapping[str, Bundle], agents: Mapping[str, Agent], path: Path | None
) -> Baselines:
    """Per live agent of the fleet, the overall eval metrics of its revision; and notes."""
    wanted = {name: bundle for name, bundle in live.items() if name in agents}
    if path is not None:
        return from_file(path, wanted)
    if not ctx.environment.gates.evals_pass:
        return {}, [
            f"no eval baseline: {ctx.name} does not gate on evals (gates.evals_pass: false); "
            "give one with --baseline results.json"
        ]
    return replayed(ctx, wanted)


def _metrics_of(results: Results, agent: str) -> tuple[Metrics | None, str]:
    found = results.agent(agent)
    if found is None:
        return None, f"no eval baseline for {agent}: the results hold none"
    if any(not c.graded for c in results.cases_of(agent)):
        return None, f"no eval baseline for {agent}: some of its trials did not run"
    return found.metrics.overall, ""


def from_file(path: Path, live: Mapping[str, Bundle]) -> Baselines:
    from reconciler.evals.results import read

    results = read(path)
    found: dict[str, Metrics] = {}
    notes = []
    if not results.run.whole:
        notes.append(f"--baseline {path}: part of a run (a shard or a selection)")
    for name, bundle in sorted(live.items()):
        metrics, why = _metrics_of(results, name)
        if metrics is None:
            notes.append(why)
            continue
        found[name] = metrics
        deployed = bundle.deployment.commit if bundle.deployment else None
        if results.run.commit and deployed and results.run.commit != deployed:
            notes.append(
                f"--baseline: {name}'s results are of commit {results.run.commit[:12]}; its "
                f"live revision was deployed from {deployed[:12]}"
            )
    return found, notes


def replayed(ctx: EnvContext, live: Mapping[str, Bundle]) -> Baselines:
    """The evals at each live revision's commit, replayed (grouped: one run a commit)."""
    by_commit: defaultdict[str, list[str]] = defaultdict(list)
    notes = []
    for name, bundle in sorted(live.items()):
        commit = bundle.deployment.commit if bundle.deployment else None
        if commit is None:
            notes.append(f"no eval baseline for {name}: its bundle names no commit")
        else:
            by_commit[commit].append(name)
    found: dict[str, Metrics] = {}
    for commit, names in by_commit.items():
        try:
            results = _run_at(ctx, commit, names)
        except AlmError as exc:
            notes.append(f"no eval baseline at {commit[:12]} ({', '.join(names)}): {exc}")
            continue
        for name in names:
            metrics, why = _metrics_of(results, name)
            if metrics is None:
                notes.append(why)
            else:
                found[name] = metrics
    return found, notes


def _run_at(ctx: EnvContext, commit: str, agents: list[str]) -> Results:
    from reconciler.cli.plan_evals import Side, run_side

    state = ctx.app.load(commit)
    results, _ = run_side(ctx.app, Side(state, commit, commit, "baseline"), agents)
    return results
