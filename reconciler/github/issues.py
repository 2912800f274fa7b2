"""`alm drift --open-issue`: one GitHub issue per environment while it drifts.

The issue is found among the open issues with the label `alm:drift` by the hidden marker
`<!-- alm:drift env=NAME -->` on its first line, and only when a bot opened it (a person
pasting the marker into an issue of their own cannot make alm edit or close theirs). Drift
opens it, changed drift edits it, the same drift writes nothing (the body holds no time or
run link, so an unchanged finding is an unchanged body), and no drift closes it with a
comment. What the drift lines say comes from the repository and the targets: untrusted,
made inert by reconciler.plan.markdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from github import GithubException

from reconciler.errors import AlmError
from reconciler.github import api_deploy
from reconciler.github.api import Api
from reconciler.github.api_deploy import Issue
from reconciler.github.retry import describe
from reconciler.github.sticky import LIMIT, utf16_length
from reconciler.plan.markdown import md_text
from reconciler.spec.base import NAME_PATTERN

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
    text = "\n".join(head)
    for shown, finding in enumerate(findings):
        line = f"\n- {md_text(finding)}"
        rest = len(findings) - shown
        tail = MORE.format(n=rest, env=environment) if rest > 1 else ""
        if utf16_length(text + line + tail) > LIMIT:
            return text + MORE.format(n=rest, env=environment)
        text += line
    return text


def find(issues: Sequence[Issue], environment: str) -> Issue | None:
    mark = marker(environment)
    return next((i for i in issues if i.by_bot and i.body.split("\n", 1)[0].strip() == mark), None)


@dataclass(frozen=True)
class Write:
    action: Literal["open", "edit", "none", "close", "nothing"]
    number: int | None = None


def decide(existing: Issue | None, new_body: str | None) -> Write:
    """new_body None: no drift."""
    if new_body is None:
        return Write("close", existing.number) if existing else Write("nothing")
    if existing is None:
        return Write("open")
    return Write("none" if existing.body == new_body else "edit", existing.number)


DONE = {"open": "opened", "edit": "updated", "none": "unchanged", "close": "closed"}


def sync(api: Api, environment: str, findings: Sequence[str], run_url: str | None) -> str:
    """Open, update or close the environment's drift issue; says what it did."""
    new_body = body(environment, findings) if findings else None
    checked = f" ([run]({run_url}))" if run_url else ""
    note = f"No drift in {md_text(environment)} any more: closing.{checked}"

    def attempt() -> str:
        write = decide(find(api_deploy.open_issues(api, LABEL), environment), new_body)
        if write.action == "nothing":
            return f"{environment}: no drift, no issue open"
        number = write.number
        if write.action == "open" and new_body is not None:
            number = api_deploy.create_issue(api, title(environment), new_body, LABEL).number
        elif write.action == "edit" and number is not None and new_body is not None:
            api_deploy.edit_issue(api, number, new_body)
        elif write.action == "close" and number is not None:
            api_deploy.close_issue(api, number, note)
        return f"{environment}: drift issue #{number} {DONE[write.action]}"

    try:
        return api.retry.call("write the drift issue", attempt)
    except GithubException as exc:
        why = describe(exc)
        raise AlmError(f"could not write the drift issue of {environment}: {why}") from None
