"""`alm drift --open-issue`: one GitHub issue per environment while it drifts.

The issue is found among the open issues with the label `alm:drift` by the hidden marker
`<!-- alm:drift env=NAME -->` on its first line, and only when a bot opened it
(reconciler.github.marked_issue: the logic shared with the breach issue). Drift opens it,
changed drift edits it, the same drift writes nothing (the body holds no time or run link,
so an unchanged finding is an unchanged body), and no drift closes it with a comment.
What the drift lines say comes from the repository and the targets: untrusted, made inert
by reconciler.plan.markdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.errors import AlmError
from reconciler.github import marked_issue
from reconciler.github.api import Api
from reconciler.github.api_deploy import Issue
from reconciler.github.marked_issue import DONE, Write, decide
from reconciler.plan.markdown import md_text
from reconciler.spec.base import NAME_PATTERN

__all__ = ["DONE", "LABEL", "MORE", "Write", "body", "decide", "find", "marker", "sync", "title"]

LABEL = "alm:drift"
_NAME = re.compile(NAME_PATTERN)
MORE = (
    "\n\n_…and {n} more finding(s), not shown (GitHub's limit on an issue): "
    "`alm drift --env {env}` lists them all._"
)


def marker(environment: str) -> str:
    if not _NAME.fullmatch(environment):
        raise AlmError(f"environment {environment!r}: expected lowercase letters, digits, -")
    return f"<!-- alm:drift env={environment} -->"


def title(environment: str) -> str:
    return f"alm: {environment} drifts from the repository"


def body(environment: str, findings: Sequence[str]) -> str:
    """The marker, a heading and one list item per finding, within GitHub's limit: what
    does not fit is counted, never split over several issues."""
    head = [
        marker(environment),
        f"### alm: **{md_text(environment)}** differs from what the repository deploys",
        "",
        "What runs is not what was merged. `alm apply` puts the merged state back "
        "(it repairs edited bundles); a change made on purpose belongs in a pull request.",
        "",
    ]
    items = [f"\n- {md_text(finding)}" for finding in findings]
    return marked_issue.fit("\n".join(head), items, lambda n: MORE.format(n=n, env=environment))


def find(issues: Sequence[Issue], environment: str) -> Issue | None:
    return marked_issue.find(issues, marker(environment))


def sync(api: Api, environment: str, findings: Sequence[str], run_url: str | None) -> str:
    """Open, update or close the environment's drift issue; says what it did."""
    new_body = body(environment, findings) if findings else None
    checked = f" ([run]({run_url}))" if run_url else ""
    note = f"No drift in {md_text(environment)} any more: closing.{checked}"
    subject = marked_issue.Subject(
        LABEL,
        marker(environment),
        title(environment),
        environment,
        "drift issue",
        "no drift, no issue open",
    )
    return marked_issue.sync(api, subject, new_body, note)
