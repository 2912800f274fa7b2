"""One GitHub issue per subject, found by a hidden marker: the logic the drift issue
(reconciler.github.issues) and the breach issue (reconciler.github.ops_issues) share.

The issue is looked for among the open issues with alm's label, by the marker on its
first line, and only when a bot opened it (a person pasting the marker into an issue of
their own cannot make alm edit or close theirs). A finding opens it, a changed finding
edits it, the same finding writes nothing, and no finding closes it with a comment. A
whole read-decide-write attempt is retried (a retried create alone could post twice), and
a refusal becomes one AlmError naming what could not be written. An issue deleted between
the listing and the write (GitHub answers 410, or 404) is looked for again: a finding
still to report opens a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from github import GithubException

from reconciler.errors import AlmError
from reconciler.github import api_deploy
from reconciler.github.api import Api, is_gone
from reconciler.github.api_deploy import Issue
from reconciler.github.retry import describe
from reconciler.github.sticky import LIMIT, utf16_length


def find(issues: Sequence[Issue], marker: str) -> Issue | None:
    """The first issue a bot opened whose first line is the marker."""
    return next(
        (i for i in issues if i.by_bot and i.body.split("\n", 1)[0].strip() == marker), None
    )


@dataclass(frozen=True)
class Write:
    action: Literal["open", "edit", "none", "close", "nothing"]
    number: int | None = None


def decide(existing: Issue | None, new_body: str | None) -> Write:
    """new_body None: nothing to report (close the issue if one is open)."""
    if new_body is None:
        return Write("close", existing.number) if existing else Write("nothing")
    if existing is None:
        return Write("open")
    return Write("none" if existing.body == new_body else "edit", existing.number)


DONE = {"open": "opened", "edit": "updated", "none": "unchanged", "close": "closed"}


def fit(head: str, items: Sequence[str], more: Callable[[int], str], limit: int = LIMIT) -> str:
    """head + items, in order, within GitHub's limit on an issue body (less what the
    caller appends): the items that do not fit are counted by more(n), never split over
    several issues."""
    text = head
    for shown, item in enumerate(items):
        rest = len(items) - shown
        tail = more(rest - 1) if rest > 1 else ""
        if utf16_length(text + item + tail) > limit:
            return text + more(rest)
        text += item
    return text


@dataclass(frozen=True)
class Subject:
    """Which issue: its label, marker and title, and the words of the messages."""

    label: str
    marker: str
    title: str
    name: str  # "prod", "prod/support-triage": what the messages start with
    noun: str  # "drift issue", "breach issue"
    quiet: str  # said when there is nothing to report and no issue open


LOOKS = 3  # listings of one attempt: each further one after the issue it chose vanished


def _write(api: Api, subject: Subject, new_body: str | None, close_note: str) -> str:
    found = find(api_deploy.open_issues(api, subject.label), subject.marker)
    write = decide(found, new_body)
    if write.action == "nothing":
        return f"{subject.name}: {subject.quiet}"
    number = write.number
    if write.action == "open" and new_body is not None:
        made = api_deploy.create_issue(api, subject.title, new_body, subject.label)
        number = made.number
    elif write.action == "edit" and number is not None and new_body is not None:
        api_deploy.edit_issue(api, number, new_body)
    elif write.action == "close" and number is not None:
        api_deploy.close_issue(api, number, close_note)
    return f"{subject.name}: {subject.noun} #{number} {DONE[write.action]}"


def sync(api: Api, subject: Subject, new_body: str | None, close_note: str) -> str:
    """Open, update or close the subject's issue; says what it did."""

    def attempt() -> str:
        for look in range(1, LOOKS + 1):
            try:
                return _write(api, subject, new_body, close_note)
            except GithubException as exc:  # deleted since it was listed: look again
                if not is_gone(exc) or look == LOOKS:
                    raise
        raise AssertionError("unreachable: the last look returns or raises")

    try:
        return api.retry.call(f"write the {subject.noun}", attempt)
    except GithubException as exc:
        raise AlmError(
            f"could not write the {subject.noun} of {subject.name}: {describe(exc)}"
        ) from None
