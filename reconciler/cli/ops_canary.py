"""`alm ops promote-canary AGENT --env ENV`: compare the live canary revision with the
stable one on the same window (reconciler.ops.canary) and act on the verdict.

The canary is the live bundle whose rollout strategy is `canary`; the stable revision is
the newest other revision in the target's history (what a rollback restores). promote
records, in the live bundle and outside its hash, that the canary gets all traffic;
rollback restores the stable revision and pins it (the deploy stage's rollback); hold
changes nothing. Both writes are conditional on the bundle analysed and audited. Exit 0
promoted, held or nothing to do; 3 when the verdict is rollback (also under --dry-run), so
a scheduled workflow fails visibly (docs/ops.md, "Canary").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cli.app import App, pass_app
from reconciler.cli.deploy_context import EnvContext, deployment, load
from reconciler.cli.ops_options import source_options, window_of, window_options
from reconciler.cli.output import printable
from reconciler.deploy import lock, rollback
from reconciler.deploy.journal import Recorder, settle, utc_now
from reconciler.deploy.model import Bundle, CanaryPromotion, Deployment, Live, short_revision
from reconciler.deploy.targets import Write
from reconciler.errors import AlmError, ExitCode
from reconciler.ops import canary
from reconciler.ops.canary import CanaryVerdict
from reconciler.ops.model import NS_PER_S, Window
from reconciler.ops.online import Grader
from reconciler.pricing import PriceBook

LOCK_TIMEOUT_S = 60.0
MAX_ROWS = 48  # buckets listed in the text output (the JSON has them all)
# the JSON lists empty buckets too up to this many (a year of hours); past it (--since
# 1970 is ~500,000 hours) only the buckets with tasks, and "intervals" counts them all
MAX_JSON_BUCKETS = 10_000


@dataclass(frozen=True)
class Pair:
    """What is compared: the live canary and the stable revision before it."""

    agent: str
    live: Live
    stable: str

    @property
    def canary(self) -> str:
        return self.live.bundle.revision

    @property
    def percent(self) -> int | None:
        rollout = self.live.bundle.content.get("rollout")
        value = rollout.get("canary_percent") if isinstance(rollout, dict) else None
        return value if isinstance(value, int) else None


@click.command("promote-canary")
@click.argument("agent")
@click.option("--env", "environment", required=True, help="the environment the canary runs in")
@source_options
@window_options
@click.option(
    "--bucket-minutes", type=click.IntRange(min=1), default=60, show_default=True,
    help="the intervals canary and stable are paired in",
)  # fmt: skip
@click.option(
    "--min-samples", type=click.IntRange(min=1),
    help="canary tasks needed to promote (default: the environment's operate.canary_min_samples)",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="say the verdict, change nothing")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--ref", help="the desired state to read the contract from (default HEAD)")
@pass_app
def promote_canary(
    app: App,
    agent: str,
    environment: str,
    db: Path | None,
    source: str | None,
    since: str | None,
    until: str | None,
    hours: float | None,
    bucket_minutes: int,
    min_samples: int | None,
    dry_run: bool,
    fmt: str,
    ref: str | None,
) -> int:
    """Promote, hold or roll back AGENT's canary by comparing it with the stable revision
    on the same traffic; exit 3 when it is (or, with --dry-run, would be) rolled back."""
    ctx = load(app, environment, ref)
    operate = ctx.environment.operate
    if since is None and hours is None:
        hours = operate.window_hours
    window = window_of(since, until, hours)
    pair, why_not = canary_pair(ctx, agent)
    if pair is None:
        click.echo(printable(f"{agent} in {ctx.name}: {why_not}: nothing to do"))
        return ExitCode.OK
    settings = canary.Settings(
        min_samples=min_samples or operate.canary_min_samples,
        bucket_ns=bucket_minutes * 60 * NS_PER_S,
    )
    verdict = analyse(ctx, pair, window, settings, (db, source))
    done = "dry run: nothing changed" if dry_run else act(ctx, pair, verdict)
    show = to_json if fmt == "json" else text
    click.echo(printable(show(ctx.name, pair, window, verdict, done)))
    return ExitCode.DRIFT if verdict.decision == "rollback" else ExitCode.OK


def canary_pair(ctx: EnvContext, agent: str) -> tuple[Pair | None, str]:
    """The canary and its stable revision, or None and why there is nothing to analyse.
    An agent that is not deployed or not rolled out as a canary is an error."""
    live = ctx.target().read(agent)
    if live is None:
        raise AlmError(f"{agent} is not deployed in {ctx.name}")
    bundle = live.bundle
    rollout = bundle.content.get("rollout")
    if not isinstance(rollout, dict) or rollout.get("strategy") != "canary":
        raise AlmError(
            f"{agent} in {ctx.name}: the live revision {short_revision(bundle.revision)} is "
            "not rolled out as a canary (deploy.rollout.strategy: canary)"
        )
    if bundle.pin is not None:
        return None, f"pinned to {short_revision(bundle.pin.revision)} by a rollback"
    if bundle.promotion is not None:
        promoted = bundle.promotion
        return None, f"already promoted by {promoted.by} at {promoted.at}"
    earlier = [e.revision for e in ctx.target().history(agent) if not e.deleted]
    stable = next((r for r in reversed(earlier) if r != bundle.revision), None)
    if stable is None:
        raise AlmError(
            f"{agent} in {ctx.name}: the target's history has no revision before the canary "
            f"{short_revision(bundle.revision)} to compare it with"
        )
    return Pair(agent, live, stable), ""


def analyse(
    ctx: EnvContext,
    pair: Pair,
    window: Window,
    settings: canary.Settings,
    where: tuple[Path | None, str | None],
) -> CanaryVerdict:
    """The two revisions' tasks of the window, graded as alm ops check grades them."""
    from reconciler.ops.sources import open_source  # the store or ClickHouse, when run

    spec = ctx.state.agent(pair.agent)
    if spec is None:
        raise AlmError(f"{pair.agent}: not in the desired state at {ctx.ref}: no contract")
    state = ctx.state
    prices = PriceBook(p for doc in state.pricing for p in doc.model.models)
    grader = Grader(spec.agent, prices, state.tools)
    tasks = open_source(ctx.app.root, *where).tasks(window, ctx.name, pair.agent)
    samples = canary.split(((t, grader.result(t)) for t in tasks), pair.canary, pair.stable)
    return canary.analyse(samples.canary, samples.stable, window, settings, samples.violations)


# --- acting ----------------------------------------------------------------------------


def act(ctx: EnvContext, pair: Pair, verdict: CanaryVerdict) -> str:
    """What was done about the verdict, in a sentence."""
    if verdict.decision == "hold":
        return "held: nothing changed"
    who, _ = deployment(ctx.app.root, None, None)
    with lock.environment_lock(ctx.lock_path(), ctx.name, timeout=LOCK_TIMEOUT_S):
        if verdict.decision == "promote":
            return _promote(ctx, pair, verdict, who)
        done = rollback.rollback(
            ctx.target(), ctx.audit_store(), pair.agent, who, to=pair.stable,
            find_bundle=lambda revision: _rebuilt(ctx, pair.agent, revision),
            environment=ctx.name,
        )  # fmt: skip
    return (
        f"rolled back from {short_revision(done.before)} to {short_revision(done.revision)} "
        f"and pinned (audited; bundle from {done.source}); "
        f"`alm unpin {pair.agent} --env {ctx.name}` lifts the pin"
    )


def _promote(ctx: EnvContext, pair: Pair, verdict: CanaryVerdict, who: Deployment) -> str:
    target = ctx.target()
    rec = Recorder(ctx.audit_store(), ctx.name, who)
    settle(target, rec)
    live = target.read(pair.agent)
    if live is None or live.bundle != pair.live.bundle:
        raise AlmError(
            f"{pair.agent} changed in {ctx.name} while its canary was analysed; nothing was "
            "promoted: run alm ops promote-canary again"
        )
    record = CanaryPromotion(traffic_percent=100, at=utc_now(), by=who.by, reason=verdict.reason)
    promoted = live.bundle.model_copy(update={"promotion": record})
    detail = f"canary promoted to 100% of traffic: {verdict.reason}"
    rollback.audited_write(target, rec, "promote-canary", Write(pair.agent, promoted, live), detail)
    return "promoted to 100% of traffic: recorded in the live bundle (audited)"


def _rebuilt(ctx: EnvContext, agent: str, revision: str) -> Bundle | None:
    from reconciler.cli.deploy_run import find_in_git

    return find_in_git(ctx, agent, revision)


# --- output ----------------------------------------------------------------------------


def text(environment: str, pair: Pair, window: Window, v: CanaryVerdict, done: str) -> str:
    share = f" ({pair.percent}% of traffic)" if pair.percent else ""
    lines = [
        f"{pair.agent} in {environment}: canary {short_revision(pair.canary)}{share} vs "
        f"stable {short_revision(pair.stable)}, {window.describe()}",
        f"  {'interval (UTC)':<20}  {'canary':>12}  {'stable':>12}",
    ]
    active = v.buckets.active
    for b in active[-MAX_ROWS:]:
        lines.append(
            f"  {_iso(b.start_ns):<20}  {_share(b.canary_passed, b.canary_tasks):>12}  "
            f"{_share(b.stable_passed, b.stable_tasks):>12}{'' if b.paired else '  (unpaired)'}"
        )
    if len(active) > MAX_ROWS:
        lines.append(f"  ({len(active) - MAX_ROWS} earlier interval(s) not shown; --format json)")
    lines += [f"verdict: {v.decision}: {v.reason}", done]
    return "\n".join(lines)


def to_json(environment: str, pair: Pair, window: Window, v: CanaryVerdict, done: str) -> str:
    data = {
        "agent": pair.agent,
        "environment": environment,
        "canary": pair.canary,
        "stable": pair.stable,
        "canary_percent": pair.percent,
        "window": {"start": _iso(window.start_ns), "end": _iso(window.end_ns)},
        "decision": v.decision,
        "reason": v.reason,
        "done": done,
        "canary_tasks": v.canary_tasks,
        "canary_passed": v.canary_passed,
        "stable_tasks": v.stable_tasks,
        "stable_passed": v.stable_passed,
        "paired_intervals": v.paired,
        "drop": v.drop,
        "p_value": v.p_value,
        "violations": list(v.violations),
        "intervals": len(v.buckets),
        "buckets": [
            {
                "start": _iso(b.start_ns),
                "canary": [b.canary_passed, b.canary_tasks],
                "stable": [b.stable_passed, b.stable_tasks],
            }
            for b in (v.buckets if len(v.buckets) <= MAX_JSON_BUCKETS else v.buckets.active)
        ],
    }
    return json.dumps(data, indent=2)


def _share(passed: int, tasks: int) -> str:
    return f"{passed}/{tasks}" if tasks else "-"


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
