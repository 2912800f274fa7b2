"""alm eval, alm eval merge, alm eval compare."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reconciler.cli.app import App
from reconciler.errors import ExitCode
from reconciler.evals.bundle import affected_agents
from reconciler.evals.engine import EngineConfig, RateLimit
from reconciler.evals.metrics import Metrics, Rate
from reconciler.evals.providers import MODES, Mode
from reconciler.evals.results import Results, Selection, Shard, merge, read, to_json
from reconciler.evals.run import RunProgress, plan_jobs, run_evals
from reconciler.fsutil import write_atomic
from reconciler.spec import source

CACHE_FILE = Path(".alm") / "cache" / "evals.sqlite"
_SHARD = re.compile(r"^(\d+)/(\d+)$")
_OUT = click.Path(dir_okay=False, path_type=Path)
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


# --- output ----------------------------------------------------------------------------


def _rate(rate: Rate) -> str:
    return "—" if rate.value is None else f"{rate.value:.0%}"


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _row(metrics: Metrics) -> list[str]:
    return [
        _rate(metrics.task_success_rate),
        _rate(metrics.tool_call_success_rate),
        f"{_rate(metrics.escalation_precision)} / {_rate(metrics.escalation_recall)}",
        _rate(metrics.policy_compliance),
        _number(metrics.cost_per_task_usd, ".4f"),
        _number(metrics.latency_p95_s, ".2f"),
        _rate(metrics.pass_hat_k),
    ]


def metrics_table(results: Results) -> Table:
    table = Table(title="eval results")
    for header in ("agent", "model", "trials", "task success", "tool calls", "escalation P / R"):
        table.add_column(header)
    for header in ("policy", "cost/task $", "p95 s", "pass^k", "gate", "not run"):
        table.add_column(header)
    for agent in results.agents:
        m = agent.metrics.overall
        failed = ", ".join(c.metric for c in agent.gate.failed)
        gate = f"{agent.gate.status}: {failed}" if failed else str(agent.gate.status)
        table.add_row(
            agent.agent, agent.model, str(m.trials), *_row(m), gate, str(m.not_run_trials)
        )
    return table


def not_run_lines(results: Results) -> list[str]:
    """Per agent, how many trials did not run and why ("not recorded", "timed out", ...),
    with the first full reason of each kind."""
    lines = []
    for agent in results.agents:
        reasons = [c.reason for c in results.cases_of(agent.agent) if not c.graded]
        kinds = Counter(reason.split(":")[0] for reason in reasons)
        if kinds:
            why = ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items()))
            lines.append(f"{agent.agent}: {len(reasons)} trials not run: {why}")
            examples = {reason.split(":")[0]: reason for reason in reversed(reasons)}
            lines += [f"  e.g. {examples[kind]}" for kind in sorted(kinds)]
    return lines


def report(results: Results) -> int:
    """Print the table and the verdict; the exit code of an eval. A shard or a selection
    of cases does not judge gates: a part of a suite says nothing about the whole."""
    judge_gates = results.run.whole
    part = (
        "a shard: run alm eval merge over every shard"
        if results.run.shard
        else "a selection of cases (--case, --tag)"
    )
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(metrics_table(results))
    problems = not_run_lines(results)
    if not judge_gates:
        click.echo(f"gates not judged on {part}")
    for agent in results.agents if judge_gates else ():
        for check in agent.gate.checks:
            if check.status != "passed":
                problems.append(f"{agent.agent}: {check.metric} {check.status}: {check.reason}")
    for line in problems:
        click.echo(line)
    if not results.agents:
        click.echo("no agents to evaluate")
    if problems:
        click.echo("eval: FAILED (a gate did not pass or a case could not run)")
        return ExitCode.INVALID
    verdict = "passed" if judge_gates else "every selected trial ran"
    click.echo(f"eval: {verdict} ({len(results.agents)} agents)")
    return ExitCode.OK


@contextmanager
def progress_bar() -> Iterator[RunProgress]:
    console = Console(stderr=True)
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("eval", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


# --- commands --------------------------------------------------------------------------


def _select(
    app: App, ref: str | None, agents: tuple[str, ...], since: str | None
) -> list[str] | None:
    selected = list(agents) or None
    if since is None:
        return selected
    changed = affected_agents(app.load(since), app.load(ref))
    click.echo(f"affected since {since}: {', '.join(changed) or 'none'}", err=True)
    return [a for a in changed if selected is None or a in selected]


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
    no_cache: bool,
) -> int:
    """Run eval suites, print metrics, write results JSON; merge shards; compare runs."""
    if ctx.invoked_subcommand is not None:
        return ExitCode.OK
    app = ctx.find_object(App)
    assert app is not None
    state = app.load(ref)
    names = _select(app, ref, agents, since)
    unknown = sorted(set(names or ()) - {spec.name for spec in state.agents})
    if unknown:
        raise click.BadParameter(f"no agent named {', '.join(unknown)}", param_hint="--agent")
    selection = Selection(cases, tags) if cases or tags else None
    jobs = plan_jobs(state, names, shard, selection)
    commit = source.resolve_ref(app.root, ref) if ref else None
    cache_path = None if no_cache else app.root / CACHE_FILE
    with progress_bar() as advance, _files_at(app, ref, mode) as files:
        run = run_evals(
            files, state, jobs, mode, EngineConfig(concurrency, rate_limits), cache_path, advance,
            ref=ref, commit=commit, shard=shard, selection=selection,
        )  # fmt: skip
    click.echo(
        f"{len(jobs)} trials: {run.ran} run, {run.cached} from the cache, "
        f"{run.model_calls} model calls",
        err=True,
    )
    if out is not None:
        write_atomic(out, to_json(run.results))
    return report(run.results)


@contextmanager
def _files_at(app: App, ref: str | None, mode: Mode) -> Iterator[Path]:
    """Where cassettes and command agents are read: the working tree, or the ref itself."""
    if ref is None:
        yield app.root
        return
    if mode == "record":
        raise click.BadParameter("record into the working tree, not a git ref", param_hint="--ref")
    with tempfile.TemporaryDirectory(prefix="alm-ref-") as tmp:
        source.export_tree(app.root, ref, ("agents", "evals"), Path(tmp))
        yield Path(tmp)


@eval_group.command("merge")
@click.argument("files", nargs=-1, required=True, type=_IN)
@click.option("--out", type=_OUT, required=True, help="Write the merged results JSON here.")
def merge_cmd(files: tuple[Path, ...], out: Path) -> int:
    """Merge the results JSON of a run's shards into one."""
    shards = [read(f) for f in files]
    merged = merge(*shards)
    write_atomic(out, to_json(merged))
    return report(merged)
