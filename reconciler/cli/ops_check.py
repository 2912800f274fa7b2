"""`alm ops check --env ENV`: each agent's production window against its contract and the
eval baseline of its live revision (reconciler.ops.check); exit 3 on a breach, so a
scheduled workflow fails visibly. On a breach: the environment's `on_breach: rollback`
rolls the agent back (audited, pinned: the deploy stage's rollback), `--open-issues`
opens, updates or closes one GitHub issue per agent (reconciler.github.ops_issues).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.cli.app import App, pass_app
from reconciler.cli.deploy_context import EnvContext, load, unreadable_notes
from reconciler.cli.ops_baseline import baselines
from reconciler.cli.ops_options import source_options, window_of, window_options
from reconciler.cli.output import printable
from reconciler.errors import AlmError, ExitCode, UsageError
from reconciler.evals.records import CaseResult
from reconciler.ops.check import AgentCheck, Settings, breached, check_fleet, rows
from reconciler.ops.check_render import Action, Report, text, to_json
from reconciler.ops.model import Window
from reconciler.ops.online import GroupKey
from reconciler.ops.online_fast import source_results
from reconciler.ops.rates import RatedPriceBook
from reconciler.spec.agent import Agent

LOCK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Options:
    dry_run: bool
    open_issues: bool
    fmt: str


@click.command("check")
@click.option("--env", "environment", required=True, help="the environment to check")
@source_options
@window_options
@click.option(
    "--min-samples", type=click.IntRange(min=1), help="tasks needed to judge an agent "
    "(default: the environment's operate.min_samples, 30)",
)  # fmt: skip
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="an `alm eval --out` results file: the eval baseline of the live revisions "
    "(default: replayed at the commit each live revision was deployed from, when the "
    "environment gates on evals; cache first)",
)
@click.option("--no-baseline", is_flag=True, help="compare with the contract only")
@click.option("--open-issues", is_flag=True, help="open, update or close each agent's GitHub issue")
@click.option("--dry-run", is_flag=True, help="roll nothing back, write no issue (print its body)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--ref", help="the desired state to read the contracts from (default HEAD)")
@pass_app
def check(
    app: App,
    environment: str,
    db: Path | None,
    source: str | None,
    since: str | None,
    until: str | None,
    hours: float | None,
    min_samples: int | None,
    baseline: Path | None,
    no_baseline: bool,
    open_issues: bool,
    dry_run: bool,
    fmt: str,
    ref: str | None,
) -> int:
    """Check production traces against each agent's contract; exit 3 on a breach."""
    if baseline is not None and no_baseline:
        raise UsageError("--baseline and --no-baseline: expected one")
    ctx = load(app, environment, ref)
    operate = ctx.environment.operate
    if since is None and hours is None:
        hours = operate.window_hours
    window = window_of(since, until, hours)
    settings = Settings(min_samples=min_samples or operate.min_samples)
    report = run_check(ctx, window, settings, db, source, baseline, no_baseline)
    actions = act(ctx, report.checks, Options(dry_run, open_issues, fmt))
    report = Report(report.environment, window, settings.min_samples, report.checks,
                    actions, report.notes)  # fmt: skip
    click.echo(printable(to_json(report) if fmt == "json" else text(report)))
    return ExitCode.DRIFT if breached(report.checks) else ExitCode.OK


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a window is graded: its ~10^5 results are alive
    till the end and each collection would walk them all (~half the check's time);
    reference counting still frees everything else."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def fleet(ctx: EnvContext) -> dict[str, Agent]:
    """The agents the desired state deploys to this environment."""
    return {s.name: s.agent for s in ctx.state.agents if ctx.name in s.agent.deploy.environments}


def read_results(
    ctx: EnvContext, window: Window, agents: dict[str, Agent], db: Path | None, source: str | None
) -> dict[GroupKey, list[CaseResult]]:
    """The window's tasks graded, streamed from the source (lean rows from the store)."""
    from reconciler.ops.sources import open_source

    state = ctx.state
    prices = RatedPriceBook(p for doc in state.pricing for p in doc.model.models)  # fast
    opened = open_source(ctx.app.root, db, source)
    return source_results(opened, window, ctx.name, agents, prices, state.tools)


def run_check(
    ctx: EnvContext,
    window: Window,
    settings: Settings,
    db: Path | None,
    source: str | None,
    baseline: Path | None,
    no_baseline: bool,
) -> Report:
    agents = fleet(ctx)
    scan = ctx.target().scan()
    live = {name: entry.bundle for name, entry in scan.lives.items()}
    bases, notes = ({}, []) if no_baseline else baselines(ctx, live, agents, baseline)
    notes = [*unreadable_notes(scan, ctx.name), *notes]
    revisions = {name: bundle.revision for name, bundle in live.items()}
    with gc_paused():  # not over a baseline's eval replay: that may make cyclic garbage
        groups = read_results(ctx, window, agents, db, source)
        checks = check_fleet(rows(groups, agents, revisions, bases), ctx.name, window, settings)
    return Report(ctx.name, window, settings.min_samples, checks, (), notes)


# --- on a breach -----------------------------------------------------------------------


def act(ctx: EnvContext, checks: Sequence[AgentCheck], options: Options) -> list[Action]:
    """Roll back (on_breach: rollback, not under --dry-run), then the issues."""
    actions: list[Action] = []
    bad = breached(checks)
    if ctx.environment.on_breach == "rollback":
        for name in dict.fromkeys(c.agent for c in bad):
            actions.append(_rollback(ctx, name, options.dry_run))
    if options.open_issues:
        done = {a.agent: a.detail for a in actions}
        current = {c.agent: c for c in checks if c.current}
        for name, row in current.items():
            actions.append(_issue(ctx, row, done.get(name), options))
    return actions


def _rollback(ctx: EnvContext, agent: str, dry_run: bool) -> Action:
    if dry_run:
        return Action(agent, "none", "on_breach: rollback; not rolled back (--dry-run)")
    from reconciler.cli.deploy_context import deployment
    from reconciler.cli.deploy_run import find_in_git
    from reconciler.deploy import lock, rollback

    who, _ = deployment(ctx.app.root, None, None)
    try:
        with lock.environment_lock(ctx.lock_path(), ctx.name, timeout=LOCK_TIMEOUT_S):
            done = rollback.rollback(
                ctx.target(), ctx.audit_store(), agent, who, to=None,
                find_bundle=lambda revision: find_in_git(ctx, agent, revision),
                environment=ctx.name,
            )  # fmt: skip
    except AlmError as exc:
        return Action(agent, "none", f"on_breach: rollback failed: {exc}")
    detail = (
        f"rolled back in {ctx.name} from {done.before[:19]} to {done.revision[:19]} and pinned "
        f"(audited; bundle from {done.source}); `alm unpin {agent} --env {ctx.name}` lifts it"
    )
    return Action(agent, "rollback", detail, done.before, done.revision)


def _issue(ctx: EnvContext, row: AgentCheck, rolled: str | None, options: Options) -> Action:
    from reconciler.github import ops_issues

    breaches = row.breaches if row.status == "breach" else ()
    if options.dry_run:
        if not breaches:
            return Action(row.agent, "none", "no breach: its issue would be closed (--dry-run)")
        body = ops_issues.breach_body(ctx.name, row.agent, breaches, None, rolled)
        return Action(row.agent, "issue", f"the breach issue it would write:\n{body}")
    said = ops_issues.sync_from_env(ctx.name, row.agent, breaches, rolled)
    return Action(row.agent, "issue", said)
