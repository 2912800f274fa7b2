"""The edge for the deploy stage's GitHub calls (who merged, drift issues, revert pull
requests), through the same PyGithub client and retry policy as reconciler.github.api.

Reads are retried here. Writes are not: a retried create could post twice, so the
callers (issues.sync, revert.open_pull) retry a whole read-decide-write attempt, which
finds what an earlier attempt created before writing again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from github.Issue import Issue as GhIssue
from github.PullRequest import PullRequest

from reconciler.github import context
from reconciler.github.api import MAX_TEAM_PAGES, PER_PAGE, Api, connect
from reconciler.github.retry import RetryPolicy

MAX_ISSUES = MAX_TEAM_PAGES * PER_PAGE  # open issues with alm's label read at most


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    by_bot: bool
    url: str  # html
    author: str = ""  # login


@dataclass(frozen=True)
class Opened:
    """A pull request alm opened (or found open from the same branch)."""

    number: int
    url: str  # html
    created: bool


def session(env: Mapping[str, str] | None = None) -> tuple[context.Context, Api]:
    """The context and client the environment names (GITHUB_TOKEN, GITHUB_REPOSITORY,
    GITHUB_API_URL...), with a fresh retry policy (its log on `api.retry.log`)."""
    ctx = context.from_env(os.environ if env is None else env)
    return ctx, Api(connect(ctx), ctx.repository, RetryPolicy())


def _issue(found: GhIssue) -> Issue:
    by_bot = found.user is not None and found.user.type == "Bot"
    author = (found.user.login if found.user is not None else "") or ""
    return Issue(found.number, found.title or "", found.body or "", by_bot, found.html_url, author)


def merged_by(api: Api, number: int) -> str | None:
    """Who merged the pull request (only the single-PR answer carries `merged_by`)."""

    def read() -> str | None:
        pull = api.repo.get_pull(number)
        return pull.merged_by.login if pull.merged_by is not None else None

    return api.retry.call("read who merged the pull request", read)


def open_issues(api: Api, label: str) -> list[Issue]:
    """Open issues with the label, newest first; pull requests (which the issues API also
    lists, with /pull/ in their page address) left out."""

    def read() -> list[Issue]:
        found: list[Issue] = []
        for i, item in enumerate(api.repo.get_issues(state="open", labels=[label])):
            if i >= MAX_ISSUES:
                break
            if "/pull/" not in item.html_url:
                found.append(_issue(item))
        return found

    return api.retry.call("list the open issues", read)


def create_issue(api: Api, title: str, body: str, label: str) -> Issue:
    return _issue(api.repo.create_issue(title=title, body=body, labels=[label]))


def edit_issue(api: Api, number: int, body: str) -> str:
    """The body replaced; returns the issue's state GitHub answers with (an issue closed
    since it was listed is edited all the same: the caller decides what then)."""
    issue = api.repo.get_issue(number)
    issue.edit(body=body)
    return issue.state


def close_issue(api: Api, number: int, note: str, reason: str = "completed") -> bool:
    """Closed with the reason, then a comment saying why (in this order: a retry after a
    failed comment finds the issue closed and writes nothing twice). An issue closed
    already (by a person since it was listed, or a concurrent run) is left as it is, its
    reason and comments untouched: False."""
    issue = api.repo.get_issue(number)
    if issue.state != "open":  # one GET: the lazy object completes here
        return False
    issue.edit(state="closed", state_reason=reason)
    issue.create_comment(note)
    return True


def default_branch(api: Api) -> str:
    return api.retry.call("read the default branch", lambda: api.repo.default_branch)


def open_pull_from(api: Api, owner: str, branch: str) -> Opened | None:
    """The open pull request whose head is `owner`'s `branch` (this repository's), if any."""

    def read() -> Opened | None:
        for pull in api.repo.get_pulls(state="open", head=f"{owner}:{branch}"):
            return Opened(pull.number, pull.html_url, created=False)
        return None

    return api.retry.call("list the open pull requests of the branch", read)


def create_pull(api: Api, title: str, body: str, head: str, base: str) -> Opened:
    made: PullRequest = api.repo.create_pull(base=base, head=head, title=title, body=body)
    return Opened(made.number, made.html_url, created=True)
