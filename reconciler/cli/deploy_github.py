"""The GitHub side of alm drift --open-issue and alm rollback --open-pr, imported only
when one of those flags is given (PyGithub costs the other commands nothing)."""

from __future__ import annotations

import requests
from github import GithubException

from reconciler.deploy.drift import DriftReport
from reconciler.errors import AlmError
from reconciler.github import api_deploy, issues
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


def revert_pr(ctx: object, agent: str) -> str:
    """The revert pull request of the change that introduced the bad revision."""
    raise AlmError(f"--open-pr for {agent}: not wired to reconciler.github.revert yet")
