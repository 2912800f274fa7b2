"""The GitHub side of alm drift --open-issue and alm rollback --open-pr, imported only
when one of those flags is given (PyGithub costs the other commands nothing)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests
from github import GithubException

from reconciler.deploy.drift import DriftReport
from reconciler.deploy.rollback import Restored
from reconciler.errors import AlmError, GitError
from reconciler.github import api_deploy, issues, revert
from reconciler.github.retry import describe


def findings(report: DriftReport) -> list[str]:
    """One line per drifted agent, as the issue lists them."""
    lines = []
    for item in report.items:
        shown = "; ".join(d.words() for d in item.differences[:5])
        more = len(item.differences) - 5 + item.more
        extra = f" (and {more} more)" if more > 0 else ""
        lines.append(f"{item.agent}: {item.summary()}" + (f": {shown}{extra}" if shown else ""))
    return lines


def drift_issue(environment: str, report: DriftReport) -> str:
    """Open, update or close the environment's drift issue; what was done."""
    try:
        ctx, api = api_deploy.session()
        return issues.sync(api, environment, findings(report), ctx.run_url)
    except (GithubException, requests.RequestException) as exc:
        raise AlmError(f"GitHub API: {describe(exc)}") from None


def revert_pr(root: Path, done: Restored) -> str:
    """The revert pull request of the change that introduced the rolled-back revision:
    the newest first-parent commit, up to the one it was deployed from, that touched the
    agent's folder or the policies (what a bundle is built from)."""
    if done.bad_commit is None:
        raise AlmError(
            f"--open-pr: the bundle rolled back from ({done.before}) does not say which "
            "commit it was deployed from; open the revert by hand"
        )
    paths = [f"agents/{done.agent}", "policies"]
    commit = _git(root, "log", "-1", "--first-parent", "--format=%H", done.bad_commit, "--", *paths)
    req = revert.Request(
        done.agent, done.environment, commit or done.bad_commit, done.before, done.revision
    )
    try:
        opened, _log = revert.open_from_env(root, req)
    except (GithubException, requests.RequestException) as exc:
        raise AlmError(f"GitHub API: {describe(exc)}") from None
    verb = "opened" if opened.created else "already open"
    return f"revert pull request #{opened.number} {verb}: {opened.url}"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GitError(f"git {args[0]} failed: {done.stderr.strip()[-200:]}")
    return done.stdout.strip()
