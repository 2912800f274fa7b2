"""alm eval, alm eval merge, alm eval compare."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import click

from reconciler.cli.app import App
from reconciler.cli.eval_report import report
from reconciler.cli.eval_support import (
    CACHE_FILE,
    OutFile,
    code_folders,
    files_at,
    progress_bar,
    trial_counts,
    write_out,
)
from reconciler.errors import ExitCode
from reconciler.evals.bundle import affected_agents
from reconciler.evals.engine import EngineConfig, RateLimit
from reconciler.evals.providers import MODES, Mode
from reconciler.evals.results import NotEvaluated, Selection, Shard, read, to_json
from reconciler.evals.results_merge import merge
from reconciler.evals.run import plan_jobs, run_evals
from reconciler.evals.scope import Scope, check_selection, scope
from reconciler.evals.trials import prewarm
from reconciler.spec import source
from reconciler.spec.state import DesiredState

_SHARD = re.compile(r"^(\d+)/(\d+)$")
_OUT = OutFile()
_IN = click.Path(exists=True, dir_okay=False, path_type=Path)


def parse_shard(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Shard | None:
    if value is None:
        return None
    match = _SHARD.match(value)
    index, count = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= index <= count:
        raise click.BadParameter(f"expected i/n with 1 <= i <= n, e.g. 1/4; got {value!r}")
    return Shard(index, count)


_RATE = re.compile(r"^([a-z0-9][a-z0-9_.-]*)=(\d+(?:\.\d+)?)(?:/(s|min))?$")


def parse_rate_limits(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, RateLimit]:
    """``openai=10`` or ``openai=10/s``: requests per second; ``openai=500/min`` per minute."""
    limits: dict[str, RateLimit] = {}
    for value in values:
        match = _RATE.match(value)
        if not match or float(match[2]) <= 0:
            raise click.BadParameter(
                f"expected PROVIDER=N, N/s or N/min with N > 0, e.g. openai=500/min; got {value!r}"
            )
        per_second = float(match[2]) / (60 if match[3] == "min" else 1)
        limits[match[1]] = RateLimit(requests_per_s=per_second)
    return limits


# --- commands --------------------------------------------------------------------------


def _select(app: App, state: DesiredState, agents: tuple[str, ...], since: str | None) -> Scope:
    """The agents asked for (all when none), narrowed to those affected since a ref. An
    agent whose spec does not load cannot be compared, so it counts as affected."""
    selected = scope(state, list(agents) or None)
    if since is None:
        return selected
    changed = affected_agents(app.load(since), state)
    click.echo(f"affected since {since}: {', '.join(changed) or 'none'}", err=True)
    return Scope(
        tuple(a for a in selected.agents if a in changed),
        tuple(u for u in selected.unevaluated if u.agent in changed or not u.runs),
    )


@click.group("eval", invoke_without_command=True)
@click.option("--agent", "agents", multiple=True, help="Evaluate this agent (repeatable).")
@click.option("--ref", help="Evaluate the desired state at a git ref (default: working tree).")
@click.option("--affected-since", "since", help="Only agents affected since this git ref.")
@click.option("--shard", callback=parse_shard, help="Run shard i of n, e.g. 1/4.")
@click.option(
    "--case", "cases", multiple=True, help="Only cases whose id matches this glob (repeatable)."
)
@click.option("--tag", "tags", multiple=True, help="Only cases with this tag (repeatable).")
@click.option("--out", type=_OUT, help="Write the results JSON here.")
@click.option("--mode", type=click.Choice(MODES), default="replay", show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--rate-limit",
    "rate_limits",
    multiple=True,
    callback=parse_rate_limits,
    help="Live calls per provider, e.g. openai=500/min (repeatable).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes to spread the trials over; the concurrency is shared among them. "
    "[default: for a replay run, one per 50 trials up to one per core; else one]",
)
@click.option("--no-cache", is_flag=True, help="Run every trial, ignoring the result cache.")
@click.pass_context
def eval_group(
    ctx: click.Context,
    agents: tuple[str, ...],
    ref: str | None,
    since: str | None,
    shard: Shard | None,
    cases: tuple[str, ...],
    tags: tuple[str, ...],
    out: Path | None,
    mode: Mode,
    concurrency: int,
    rate_limits: dict[str, RateLimit],
    workers: int | None,
    no_cache: bool,
) -> int:
    """Run eval suites, print metrics, write results JSON; merge shards; compare runs."""
    if ctx.invoked_subcommand is not None:
        return ExitCode.OK
    app = ctx.find_object(App)
    assert app is not None
    warm = prewarm(mode) if workers in (None, 1) else None  # importing the client meanwhile
    try:
        state = app.load(ref)
        chosen = _select(app, state, agents, since)
        selection = Selection(cases, tags) if cases or tags else None
        if selection is not None:
            check_selection(state, chosen.agents, selection)
        names = list(chosen.agents)
        jobs = plan_jobs(state, names, shard, selection)
        commit = source.resolve_ref(app.root, ref) if ref else None
        cache_path = None if no_cache else app.root / CACHE_FILE
        folders = ("agents", "evals", *code_folders(state, names))
        with progress_bar() as advance, files_at(app, ref, mode, folders) as files:
            run = run_evals(
                files, state, jobs, mode, EngineConfig(concurrency, rate_limits), cache_path,
                advance, ref=ref, commit=commit, shard=shard, selection=selection, agents=names,
                workers=workers, warm=warm,
            )  # fmt: skip
    finally:
        if warm is not None:
            warm.discard()  # not needed after all (nothing to run, a usage error): let go
    click.echo(trial_counts(len(jobs), run), err=True)
    missing = tuple(NotEvaluated(u.agent, u.reason) for u in chosen.unevaluated)
    results = replace(run.results, run=replace(run.results.run, not_evaluated=missing))
    if out is not None:  # written whatever the verdict: the failures are in it
        write_out(out, to_json(results), "--out")
    return report(results)


@eval_group.command("merge")
@click.argument("files", nargs=-1, required=True, type=_IN)
@click.option("--out", type=_OUT, required=True, help="Write the merged results JSON here.")
def merge_cmd(files: tuple[Path, ...], out: Path) -> int:
    """Merge the results JSON of a run's shards into one."""
    shards = [read(f) for f in files]
    merged = merge(*shards)
    write_out(out, to_json(merged), "--out")
    return report(merged)
