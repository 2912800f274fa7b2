"""alm apply, status, rollback, unpin, drift and audit: reconcile and inspect deployments.
The work is in reconciler.cli.deploy_run; the audit commands read logs alone."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click

from reconciler.cli import deploy_audit, deploy_context, deploy_evals, deploy_run
from reconciler.cli.app import App, pass_app
from reconciler.cli.deploy_show import audit_lines
from reconciler.cli.output import printable
from reconciler.deploy import audit
from reconciler.deploy.lock import DEFAULT_TIMEOUT_S
from reconciler.errors import AlmError, ExitCode, UsageError
from reconciler.wording import plural

ENV = click.option(
    "--env", "environment", required=True, help="The environment (environments.yaml)."
)
REF = click.option("--ref", default=None, help="The git ref of the desired state (default HEAD).")
WAIT = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for another apply of this environment to finish.",
)


@click.command("apply")
@ENV
@REF
@click.option("--prune", is_flag=True, help="Delete live agents the desired state no longer has.")
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
@click.option(
    "--evals",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Eval results already computed (alm eval --out); used for the agents whose "
    "bundle they match, the others are evaluated here (gates.evals_pass).",
)
@WAIT
@pass_app
def apply(
    app: App,
    environment: str,
    ref: str | None,
    prune: bool,
    dry_run: bool,
    evals: Path | None,
    lock_timeout: float,
) -> int:
    """Plan the environment's desired bundles against its target, print the plan, apply it.

    With gates.evals_pass, an agent whose revision would change is evaluated first (replay,
    the result cache first) and held when its evals fail or cannot run.
    Exit 0 when every agent is applied (pinned and held agents are left alone and listed);
    1 when an agent failed (it keeps its previous revision; the others are applied), the
    lock is held by someone else past --lock-timeout, or the desired state is invalid.
    """
    # a malformed --evals file is a usage error whatever the plan (even one with nothing to do)
    given = deploy_evals.read_given(evals) if evals is not None else None
    ctx = deploy_context.load(app, environment, ref)
    return deploy_run.apply(
        ctx, prune=prune, dry_run=dry_run, lock_timeout=lock_timeout, given=given
    )


@click.command("status")
@ENV
@REF
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_app
def status(app: App, environment: str, ref: str | None, fmt: str) -> int:
    """Per agent: live and desired revision, Synced / OutOfSync / Missing / Pinned, and when
    and by whom it was deployed."""
    return deploy_run.status(deploy_context.load(app, environment, ref), fmt)


@click.command("rollback")
@click.argument("agent")
@ENV
@click.option("--to", "to", default=None, help="The revision to restore (default: the previous).")
@click.option("--open-pr", is_flag=True, help="Also open a revert pull request (on GitHub).")
@WAIT
@pass_app
def rollback(
    app: App, agent: str, environment: str, to: str | None, open_pr: bool, lock_timeout: float
) -> int:
    """Restore an earlier revision of AGENT at once, and pin it there until the revert is
    merged or `alm unpin` lifts the pin."""
    if open_pr and importlib.util.find_spec("reconciler.github.revert") is None:
        raise UsageError("--open-pr: this alm cannot open revert pull requests yet")
    ctx = deploy_context.load(app, environment, None)
    return deploy_run.do_rollback(ctx, agent, to, lock_timeout, open_pr)


@click.command("unpin")
@click.argument("agent")
@ENV
@WAIT
@pass_app
def unpin(app: App, agent: str, environment: str, lock_timeout: float) -> int:
    """Lift a rollback's pin: the next alm apply deploys the desired revision again."""
    return deploy_run.do_unpin(deploy_context.load(app, environment, None), agent, lock_timeout)


@click.command("drift")
@ENV
@REF
@click.option("--open-issue", is_flag=True, help="Open, update or close the GitHub drift issue.")
@pass_app
def drift(app: App, environment: str, ref: str | None, open_issue: bool) -> int:
    """What the target holds that git does not say. Exit 3 on drift (0 in drift.mode: warn)."""
    return deploy_run.drift_check(deploy_context.load(app, environment, ref), open_issue)


@click.group("audit")
def audit_group() -> None:
    """The audit trail: one hash-chained JSON-lines log per environment."""


@audit_group.command("verify")
@click.option("--env", "environment", default=None, help="One environment (default: all).")
@pass_app
def verify(app: App, environment: str | None) -> int:
    """Check each log's hash chain; names the first bad line ("line N") and exits 1."""
    logs = [(log, data) for log in deploy_audit.logs(app, environment)
            if (data := deploy_audit.recorded(log)) is not None]  # fmt: skip
    if not logs:
        click.echo("no audit log: nothing recorded")
        return ExitCode.OK
    bad = []
    for log, data in logs:
        found = audit.verify(data, log.store.head())  # the head of the commit read (git)
        if found is None:
            count = data.count(b"\n")
            click.echo(printable(f"ok: {log.where}: {plural(count, 'record')}, the chain holds"))
        else:
            click.echo(printable(f"FAILED: {log.where}: {found}"))
            bad.append(f"{log.where}: {found}")
    if bad:
        raise AlmError(f"the audit log does not verify: {bad[0]}")
    return ExitCode.OK


@audit_group.command("log")
@click.option("--env", "environment", default=None, help="One environment (default: all).")
@click.option("--agent", default=None, help="One agent's records.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_app
def log(app: App, environment: str | None, agent: str | None, fmt: str) -> int:
    """The audit records, oldest first."""
    records = []
    for found in deploy_audit.logs(app, environment):
        records += audit.entries(found.store.read(), agent, found.where)
    if fmt == "json":
        click.echo(json.dumps(records, indent=2, sort_keys=True))
    elif records:
        click.echo(audit_lines(records))
    else:
        click.echo("no audit records")
    return ExitCode.OK
