"""What alm apply, status, rollback, unpin and drift do, behind their click commands."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from reconciler.cli import deploy_evals
from reconciler.cli.deploy_context import EnvContext, deployment
from reconciler.cli.deploy_planning import Fingerprints, Planned, make_plan, remember
from reconciler.cli.deploy_show import (
    drift_text,
    failure_message,
    plan_text,
    result_text,
    short,
    status_json,
    status_rows,
    status_text,
)
from reconciler.cli.output import printable
from reconciler.deploy import audit, drift, engine, gates, journal, lock, memo, rollback
from reconciler.deploy.bundle import build_bundle
from reconciler.deploy.journal import utc_now
from reconciler.deploy.model import Bundle, Deployment, DeployPlan
from reconciler.deploy.targets import BatchTarget
from reconciler.errors import AlmError, ExitCode, GitError

if TYPE_CHECKING:  # the results module loads only when --evals is given
    from reconciler.evals.results import Results

MAX_COMMITS = 200  # how far back rollback looks in git for a revision's bundle
NOBODY = Deployment(at="-", by="-")  # for an apply that records and writes nothing


def _note(text: str) -> None:
    click.echo(printable(f"alm: {text}"), err=True)


def apply(
    ctx: EnvContext,
    *,
    prune: bool,
    dry_run: bool,
    lock_timeout: float,
    given: Results | None = None,
) -> int:
    """Plan, gate (promotion order in the plan; evals here: deploy_evals), print, apply.
    `given`: results already computed (--evals, read up front: deploy_evals.read_given),
    used for the agents they match."""
    target = ctx.target()
    if dry_run:
        return _dry_run(ctx, target, prune, lock_timeout, given)
    with lock.environment_lock(ctx.lock_path(), ctx.name, timeout=lock_timeout) as held:
        if held.stale is not None:
            _note(f"took over the lock a dead process left: {held.stale.describe()}")
        planned, prints, gated = _shown_plan(ctx, target, prune, given)
        if not planned.remembered:  # a remembered plan holds what the recorded one held
            deploy_evals.record_holds(ctx.app.root, planned.plan, utc_now())
        written = memo.Recording(target)  # what the writes left: the next apply's memo
        result = _applied(ctx, written, planned, gated, prune)
        if result.ok:
            held_by_evals = bool(gates.held_by_evals(planned.plan, gated.outcomes))
            remember(prints, planned, held_by_evals, written)
    text = result_text(result)
    if text:
        click.echo(text)
    if not result.ok:
        raise AlmError(failure_message(result))
    return ExitCode.OK


def _dry_run(
    ctx: EnvContext, target: BatchTarget, prune: bool, lock_timeout: float, given: Results | None
) -> int:
    """The plan alone. It writes nothing, so it needs no writable lock file (a read-only
    checkout can plan): it waits out an apply in progress through a shared lock, or,
    without one, says an apply meanwhile may make the plan stale."""
    with lock.reading_lock(ctx.lock_path(), ctx.name, timeout=lock_timeout) as reading:
        if reading.unlocked is not None:
            _note(
                f"dry run without the lock of {ctx.name}: {reading.unlocked}; an apply "
                "running meanwhile may make this plan stale"
            )
        _shown_plan(ctx, target, prune, given)
    click.echo("dry run: nothing applied")
    return ExitCode.OK


def _shown_plan(
    ctx: EnvContext, target: BatchTarget, prune: bool, given: Results | None
) -> tuple[Planned, Fingerprints | None, deploy_evals.Gated]:
    """The plan made and gated (evals), printed."""
    planned, prints = make_plan(ctx, target, prune)
    gated = deploy_evals.gate_plan(ctx, planned.plan, given)
    planned.plan = gated.plan
    source = f"{ctx.ref} ({(ctx.commit or '')[:12]})"
    click.echo(plan_text(planned.plan, target.name, source))
    if planned.remembered:
        click.echo("(nothing changed since the last apply left nothing to do: not re-read)")
    return planned, prints, gated


def _applied(
    ctx: EnvContext, target: BatchTarget, planned: Planned, gated: deploy_evals.Gated, prune: bool
) -> engine.ApplyResult:
    store = ctx.audit_store()
    who = _deployer(ctx) if _will_record(planned.plan, store) else NOBODY
    replan = engine.replanner(ctx.name, planned.desired, prune=prune, previous=planned.previous)
    return engine.apply(
        planned.plan,
        target,
        store,
        who,
        live=planned.live,
        replan=deploy_evals.replanner(ctx, replan, gated.outcomes),
        rollback_on_failure=ctx.environment.rollback_on_failure,
    )


def _will_record(plan: DeployPlan, store: audit.AuditStore) -> bool:
    """Whether the apply writes audit records: changes, or writes an interrupted run left
    unsettled. Only then is the deployer looked up (on GitHub: API calls)."""
    return not plan.empty or bool(journal.trailing(store.read()))


def _deployer(ctx: EnvContext) -> Deployment:
    who, notes = deployment(ctx.app.root, ctx.commit, ctx.ref)
    for note in notes:
        _note(note)
    return who


def status(ctx: EnvContext, fmt: str) -> int:
    target = ctx.target()
    found = target.scan()
    rows = status_rows(ctx.desired(), found.lives, found.unreadable)
    rows = deploy_evals.why_rows(rows, deploy_evals.read_holds(ctx.app.root, ctx.name))
    render = status_json if fmt == "json" else status_text
    click.echo(render(ctx.name, target.name, rows))
    return ExitCode.OK


def drift_check(ctx: EnvContext, open_issue: bool) -> int:
    target = ctx.target()
    settings = ctx.environment.drift
    found = target.scan()
    report = drift.detect(
        ctx.name, ctx.desired(), found.lives, settings.ignore, unreadable=found.unreadable
    )
    text = drift_text(report, target.name, settings.mode)
    click.echo(text)
    if open_issue:
        _drift_issue(ctx, report)
    if report.drifted and settings.mode == "fail":
        return ExitCode.DRIFT
    return ExitCode.OK


def _drift_issue(ctx: EnvContext, report: drift.DriftReport) -> None:
    from reconciler.cli import deploy_github  # PyGithub only when the flag is given

    click.echo(printable(deploy_github.drift_issue(ctx.name, report)))


def do_rollback(
    ctx: EnvContext, agent: str, to: str | None, lock_timeout: float, open_pr: bool = False
) -> int:
    target = ctx.target()
    who, notes = deployment(ctx.app.root, None, None)
    for note in notes:
        _note(note)
    with lock.environment_lock(ctx.lock_path(), ctx.name, timeout=lock_timeout):
        done = rollback.rollback(
            target,
            ctx.audit_store(),
            agent,
            who,
            to=to,
            find_bundle=lambda revision: find_in_git(ctx, agent, revision),
            environment=ctx.name,
        )
    was = f"rolled back from {short(done.before)}" if done.before else "restored (it was deleted)"
    click.echo(
        printable(
            f"{agent} in {ctx.name}: {was} to {short(done.revision)} (bundle from "
            f"{done.source}) and pinned; alm apply leaves it alone until the revert is merged "
            "or `alm unpin` lifts the pin"
        )
    )
    if open_pr:
        from reconciler.cli import deploy_github  # PyGithub only when the flag is given

        click.echo(printable(deploy_github.revert_pr(ctx.app.root, done)))
    return ExitCode.OK


def do_unpin(ctx: EnvContext, agent: str, lock_timeout: float) -> int:
    who, _ = deployment(ctx.app.root, None, None)
    with lock.environment_lock(ctx.lock_path(), ctx.name, timeout=lock_timeout):
        pin = rollback.unpin(ctx.target(), ctx.audit_store(), agent, who, environment=ctx.name)
    if pin is None:
        click.echo(printable(f"{agent} is not pinned in {ctx.name}: nothing to do"))
    else:
        click.echo(
            printable(
                f"{agent} in {ctx.name}: pin to {short(pin.revision)} lifted; the next "
                "alm apply deploys the desired revision"
            )
        )
    return ExitCode.OK


def find_in_git(ctx: EnvContext, agent: str, revision: str) -> Bundle | None:
    """Rebuild `revision` of `agent` from the repository: the commits the audit log says
    it came from first, then the agent's and the catalog's recent history."""
    for commit in _candidates(ctx, agent, revision):
        try:
            state = ctx.app.load(commit)
        except AlmError:
            continue
        spec = state.agent(agent)
        if spec is None or state.errors:
            continue
        bundle = build_bundle(spec, state, ctx.name)
        if bundle.revision == revision:
            return bundle
    return None


def _candidates(ctx: EnvContext, agent: str, revision: str) -> Iterator[str]:
    seen: set[str] = set()
    records = audit.entries(ctx.audit_store().read(), agent)
    audited = [str(r["commit"]) for r in reversed(records) if r.get("to") == revision]
    for commit in [*audited, *_log(ctx, agent)]:
        if commit and commit not in seen:
            seen.add(commit)
            yield commit


def _log(ctx: EnvContext, agent: str) -> list[str]:
    args = ["git", "-C", str(ctx.app.root), "rev-list", f"--max-count={MAX_COMMITS}", "HEAD"]
    done = subprocess.run(
        [*args, "--", f"agents/{agent}", "policies"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GitError(f"git rev-list failed: {done.stderr.strip()[-200:]}")
    return done.stdout.split()
