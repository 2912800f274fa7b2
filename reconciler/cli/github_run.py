"""What alm github pr and alm github deployed do, behind their click commands: imported
only when one of them runs, so that PyGithub (about 0.7 s to import) costs the other
commands nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
import requests
from github import GithubException

from reconciler.cli import deploy_audit
from reconciler.cli.app import App
from reconciler.cli.output import printable
from reconciler.deploy import audit
from reconciler.deploy.audit_git import GitAuditStore
from reconciler.errors import AlmError, UnknownRefError, UsageError
from reconciler.fsutil import read_limited
from reconciler.github import api as gh
from reconciler.github import context, deployed, pr
from reconciler.github.retry import RetryPolicy, describe
from reconciler.plan import model, render_md
from reconciler.spec.state import DesiredState

T = TypeVar("T")
NO_COMMIT = "0" * 40
SHA = re.compile(r"[0-9a-f]{40}")
MAX_AUDIT_BYTES = 256 << 20


def _session(retry: RetryPolicy) -> tuple[context.Context, gh.Api]:
    ctx = context.from_env(os.environ)
    return ctx, gh.Api(gh.connect(ctx), ctx.repository, retry)


def _echo_log(lines: list[str]) -> None:
    for line in lines:
        click.echo(printable(f"alm: {line}"), err=True)


def _logged(retry: RetryPolicy, work: Callable[[], T]) -> T:
    """Run work; print the retries and notes it logged, on failure too. A GitHub answer
    no step expected (401, a 404, retries exhausted) is a failure with its reason (exit 1),
    not an unexpected error."""
    try:
        return work()
    except (GithubException, requests.RequestException) as exc:
        raise AlmError(f"GitHub API: {describe(exc)}") from None
    finally:
        _echo_log(retry.log)


def post_plan(report: Path | None) -> None:
    if report is None:
        raise UsageError("--report is required: the plan.json that `alm plan --json` wrote")
    retry = RetryPolicy()
    ctx, api = _session(retry)
    plan = model.read(report)
    result = _logged(retry, lambda: pr.run(ctx, api, plan, render_md.budgeted))
    _echo_log(result.log)
    click.echo(printable(result.summary))


def comment_deployed(app: App, report: Path | None, audit_dirs: tuple[Path, ...] = ()) -> None:
    retry = RetryPolicy()
    ctx, api = _session(retry)
    if ctx.event_name != "push":
        raise UsageError(f"GITHUB_EVENT_NAME={ctx.event_name or '(unset)'}: expected push")
    sha = ctx.event.get("after")
    if not isinstance(sha, str) or not SHA.fullmatch(sha):
        raise AlmError("the push event names no pushed commit (after: 40 hex digits)")
    if sha == NO_COMMIT:  # GitHub's `after` when a push deletes the branch
        click.echo("the push deleted the branch: nothing deploys, no comment")
        return
    plan = model.read(report) if report is not None else None
    found = _logged(retry, lambda: deployed.merged_pull(api.pulls_of_commit(sha), sha))
    if found.pull is None:
        click.echo(printable(found.why))
        return
    steps = plan.deploy if plan is not None else _steps_from_repo(app, ctx.event, sha)
    rows, blobs = (applied_rows(audit_dirs, sha), {}) if audit_dirs else stored_rows(app, ctx, sha)
    run_url = ctx.run_url
    text = (
        deployed.applied_message(
            sha, rows, steps, lambda env, line: f"{blobs[env]}#L{line}" if env in blobs else run_url
        )
        if rows
        else deployed.message(sha, steps)
    )
    done = _logged(retry, lambda: deployed.post(api, found.pull, text) if found.pull else "")
    click.echo(printable(f"PR #{found.pull.number}: deploy comment {done}"))


def _steps_from_repo(app: App, event: dict[str, object], sha: str) -> list[model.EnvironmentStep]:
    before = event.get("before")
    base: DesiredState | None = None
    if isinstance(before, str) and SHA.fullmatch(before) and before != NO_COMMIT:
        base = _base_state(app, before, sha)
    return deployed.steps_from_state(base, app.load(sha))


def _base_state(app: App, before: str, sha: str) -> DesiredState | None:
    """The state before the push; when a force push left `before` out of this clone, the
    pushed commit's first parent's (what the push changed last), said on stderr."""
    missing = {
        before: f"the push's before commit {before[:12]} is not in this clone (a force "
        f"push?): what {sha[:12]} changed is read against its first parent",
        f"{sha}^": f"{sha[:12]} has no parent here: every agent counts as changed",
    }
    for ref, why in missing.items():
        try:
            return app.load(ref)
        except UnknownRefError:
            _echo_log([why])
    return None


def stored_rows(
    app: App, ctx: context.Context, sha: str
) -> tuple[list[deployed.Applied], dict[str, str]]:
    """What each environment's audit log, where its settings keep it, recorded for the
    pushed commit; and, for a log on a branch of this repository's origin, the URL of the
    log at the commit read (a permanent link: the log only grows)."""
    rows: list[deployed.Applied] = []
    blobs: dict[str, str] = {}
    for log in deploy_audit.logs(app):
        try:
            rows += deployed.rows_from_audit(audit.entries(log.store.read()), log.environment, sha)
        except AlmError as exc:
            raise AlmError(f"{log.where}: {exc}") from None
        store = log.store
        if isinstance(store, GitAuditStore) and store.place.remote == "origin" and store.tip:
            base = f"{ctx.server_url}/{ctx.repository}"
            blobs[log.environment] = f"{base}/blob/{store.tip}/{store.log_path}"
    return rows, blobs


def applied_rows(folders: tuple[Path, ...], sha: str) -> list[deployed.Applied]:
    """What the audit logs in `folders` recorded for the pushed commit (a folder that
    does not exist holds nothing: no apply has run in this job)."""
    rows: list[deployed.Applied] = []
    seen: set[str] = set()  # an environment's log in two folders is read once (the first)
    for folder in folders:
        for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            if path.stem in seen:
                continue
            seen.add(path.stem)
            data = read_limited(path, MAX_AUDIT_BYTES, "an audit log (JSON lines)")
            try:
                records = audit.entries(data)
            except AlmError as exc:
                raise AlmError(f"{path}: {exc}") from None
            rows += deployed.rows_from_audit(records, path.stem, sha)
    return rows
