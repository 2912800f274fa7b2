"""`alm ops simulate`: a day of production traffic for the fleet live in an environment,
written as OTLP JSON lines through the real OpenTelemetry SDK (reconciler.ops.simulate)."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cli import deploy_context
from reconciler.cli.app import App, pass_app
from reconciler.cli.output import printable
from reconciler.deploy import rollback
from reconciler.deploy.model import Bundle, Live, short_revision
from reconciler.deploy.targets import BatchTarget
from reconciler.errors import AlmError, ExitCode, UsageError
from reconciler.ops.model import NS_PER_S, Window
from reconciler.ops.simprofile import AgentProfile, Deployed, build
from reconciler.ops.simulate import Report, Settings
from reconciler.ops.simulate import simulate as run_simulation
from reconciler.wording import noun

MAX_HOURS = 366 * 24.0  # a year of traffic is already millions of tasks; more never ends
MAX_TASKS_PER_HOUR = 10_000.0  # an agent's; 60x the example fleet's busiest


def stable_of(target: BatchTarget, live: Live) -> tuple[str | None, Bundle | None]:
    """During a canary, the revision it replaces (as a rollback would choose it) and its
    bundle when the target's history kept it; (None, None) otherwise."""
    rollout = live.bundle.content.get("rollout")
    if not isinstance(rollout, dict) or rollout.get("strategy") != "canary" or live.bundle.pin:
        return None, None
    history = target.history(live.bundle.agent)
    try:
        revision = rollback.choose(live, history, None)
    except AlmError:
        return None, None
    kept = [e.bundle for e in history if e.revision == revision and e.bundle is not None]
    return revision, next((b for b in reversed(kept) if b.intact), None)


def deployed_fleet(ctx: deploy_context.EnvContext) -> tuple[dict[str, Deployed], list[str]]:
    """What runs in the environment, per agent of the repository; the desired revisions
    when nothing is live yet (said in the notes)."""
    target = ctx.target()
    scan = target.scan()
    live = scan.lives
    if not live:
        note = f"nothing is live in {ctx.name} ({target.name}); simulating the desired revisions"
        return {name: Deployed(bundle) for name, bundle in ctx.desired().items()}, [note]
    fleet: dict[str, Deployed] = {}
    notes: list[str] = deploy_context.unreadable_notes(scan, ctx.name)
    for name in sorted(live):
        if ctx.state.agent(name) is None:
            notes.append(f"{name} is live in {ctx.name} but not in the repository; no traffic")
            continue
        revision, bundle = stable_of(target, live[name])
        fleet[name] = Deployed(live[name].bundle, revision, bundle)
    return fleet, notes


def profiles_of(
    ctx: deploy_context.EnvContext, fleet: dict[str, Deployed], seed: int
) -> list[AgentProfile]:
    catalog = ctx.state.tools
    profiles = []
    for name, deployed in fleet.items():
        spec = ctx.state.agent(name)
        if spec is not None:
            rng = random.Random(f"{seed}:arguments:{name}")
            profiles.append(build(spec.agent, catalog, deployed, rng))
    return profiles


def _breachable(profiles: list[AgentProfile], breach: str) -> None:
    """A breach alm ops check would not see is refused: its tasks would say 'breaching'
    while the check says ok."""
    profile = next((p for p in profiles if p.name == breach), None)
    if profile is not None and profile.breach is None:
        raise UsageError(
            f"--breach {breach}: alm ops check would not detect it: {profile.no_breach}; "
            "declare policy_compliance and a must_never rule with forbid_output_patterns, "
            "or a task_success_rate min, in its contract"
        )


def summary(report: Report, settings: Settings, seconds: float) -> str:
    tasks, spans = sum(report.tasks.values()), sum(report.spans.values())
    window = Window(settings.start_ns, settings.end_ns).describe()
    lines = [
        f"wrote {tasks:,} {noun(tasks, 'task')} ({spans:,} {noun(spans, 'span')}) in "
        f"{settings.environment}, {window}, "
        f"to {report.path} in {seconds:.1f} s"
    ]
    for agent, revision in sorted(report.tasks):
        key = (agent, revision)
        role = ""
        if agent in report.canaries:
            role = "  canary" if report.canaries[agent] == revision else "  stable"
        breach = f"  breaching: {report.breaching[key]:,}" if report.breaching[key] else ""
        lines.append(
            f"  {agent:<24} {short_revision(revision)}  {report.tasks[key]:>7,} "
            f"{noun(report.tasks[key], 'task'):<5} {report.spans[key]:>9,} "
            f"{noun(report.spans[key], 'span')}{role}{breach}"
        )
    return printable("\n".join(lines))


def _a_number(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets NaN through (every comparison with it is false)."""
    if value is not None and math.isnan(value):
        raise click.BadParameter(f"{value} is not a number", ctx, param)
    return value


@click.command("simulate")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The OTLP JSON lines file to write (gzip when it ends in .gz, zstd in .zst).",
)
@click.option(
    "--hours",
    type=click.FloatRange(min=0, max=MAX_HOURS, min_open=True),
    callback=_a_number,
    default=24.0,
    show_default=True,
    help=f"How many hours of traffic, ending now (at most {MAX_HOURS:g}: a leap year).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same traffic.")
@click.option(
    "--env",
    "environment",
    default="prod",
    show_default=True,
    help="The environment whose live revisions take the traffic.",
)
@click.option(
    "--breach",
    metavar="AGENT",
    help="This agent breaches its contract late in the window: its last quarter, and at least "
    "the last quarter of the agent's tasks.",
)
@click.option(
    "--tasks-per-hour",
    type=click.FloatRange(min=0, max=MAX_TASKS_PER_HOUR),
    callback=_a_number,
    default=None,
    help=f"Each agent's mean tasks per hour, instead of its contract.volume (at most "
    f"{MAX_TASKS_PER_HOUR:,.0f}).",
)
@pass_app
def simulate(
    app: App,
    out: Path,
    hours: float,
    seed: int,
    environment: str,
    breach: str | None,
    tasks_per_hour: float | None,
) -> int:
    """Write a day of production traffic for the agents live in an environment: tasks at
    each agent's declared volume along a daily curve, plausible tool calls, tokens and
    texts, a healthy rate of failures, canary traffic split between the canary and the
    stable revision, and with --breach one agent failing its contract."""
    if str(out) == "-":  # ingest reads - as stdin; here it would be a file named "-"
        raise UsageError("--out -: simulate writes a file, not stdout; name one (day.jsonl.gz)")
    ctx = deploy_context.load(app, environment, None)
    fleet, notes = deployed_fleet(ctx)
    for note in notes:
        click.echo(printable(f"note: {note}"), err=True)
    if breach is not None and breach not in fleet:
        known = ", ".join(sorted(fleet)) or "none"
        raise UsageError(
            f"--breach {breach}: not an agent live in {environment}; expected one of {known}"
        )
    from reconciler.pricing import PriceBook  # genai-prices only when simulating

    prices = PriceBook(p for doc in ctx.state.pricing for p in doc.model.models)
    now = datetime.now(UTC)
    end_ns = int(now.timestamp()) * NS_PER_S + now.microsecond * 1000
    settings = Settings(end_ns, hours, seed, environment, breach, tasks_per_hour)
    profiles = profiles_of(ctx, fleet, seed)
    if breach is not None:
        _breachable(profiles, breach)
    started = time.perf_counter()
    report = run_simulation(profiles, settings, out, prices)
    click.echo(summary(report, settings, time.perf_counter() - started))
    return ExitCode.OK
