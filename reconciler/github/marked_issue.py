"""One GitHub issue per subject, found by a hidden marker: the logic the drift issue
(reconciler.github.issues) and the breach issue (reconciler.github.ops_issues) share.

The issue is looked for among the open issues with alm's label, by the marker on its
first line, and only when a bot opened it (a person pasting the marker into an issue of
their own cannot make alm edit or close theirs). A finding opens it, a changed finding
edits it, the same finding writes nothing, and no finding closes it with a comment. A
whole read-decide-write attempt is retried (a retried create alone could post twice), and
a refusal becomes one AlmError naming what could not be written. An issue deleted between
the listing and the write (GitHub answers 410, or 404), or closed by a person meanwhile,
is looked for again: a finding still to report opens a new one (a closed issue is never
reopened nor written to). Two runs at once converge: after opening, each lists again and
keeps the oldest, closing the later ones alm opened with a comment naming the one kept.
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


def _marked(issue: Issue, marker: str) -> bool:
    return issue.by_bot and issue.body.split("\n", 1)[0].strip() == marker


def find(issues: Sequence[Issue], marker: str) -> Issue | None:
    """The oldest issue a bot opened whose first line is the marker: the one every run
    finds, whatever order the listing is in (GitHub numbers issues in creation order)."""
    return min((i for i in issues if _marked(i, marker)), key=lambda i: i.number, default=None)


def duplicates(issues: Sequence[Issue], marker: str) -> list[Issue]:
    """The marked issues after the oldest that its author opened too: what two runs at
    once leave when both listed before either opened (GitHub cannot create only if
    absent). Another bot's are left alone."""
    kept = find(issues, marker)
    if kept is None:
        return []
    return [
        i
        for i in issues
        if i.number != kept.number and i.author == kept.author and _marked(i, marker)
    ]


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
DUPLICATE = (
    "Duplicate of #{kept}: two alm runs at once opened both (each looked before the "
    "other opened). Closing this one; #{kept} carries the finding."
)


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


class _LookAgain(Exception):
    """The issue chosen was closed by someone since it was listed."""


def _write(api: Api, subject: Subject, new_body: str | None, close_note: str) -> str:
    listed = api_deploy.open_issues(api, subject.label)
    _close_duplicates(api, listed, subject.marker)
    found = find(listed, subject.marker)
    write = decide(found, new_body)
    if write.action == "nothing":
        return f"{subject.name}: {subject.quiet}"
    number, done = write.number, DONE[write.action]
    if write.action == "open" and new_body is not None:
        number = _open(api, subject, new_body)
    elif write.action == "edit" and found is not None and new_body is not None:
        _edit_open(api, found, new_body)
    elif write.action == "close" and number is not None:
        done = done if api_deploy.close_issue(api, number, close_note) else "closed already"
    return f"{subject.name}: {subject.noun} #{number} {done}"


def _open(api: Api, subject: Subject, new_body: str) -> int:
    """Opens the issue, then lists again: a run at the same time may have opened one too.
    Every run keeps the oldest and closes its own when it is a later one (only its own:
    each duplicate gets one closing comment), so they end with one open issue, whichever
    finishes last. Returns the number of the one kept."""
    made = api_deploy.create_issue(api, subject.title, new_body, subject.label)
    listed = api_deploy.open_issues(api, subject.label)
    if all(i.number != made.number for i in listed):  # a listing that lags the create
        listed.append(made)
    kept = find(listed, subject.marker) or made
    if kept.number == made.number:
        return made.number
    api_deploy.close_issue(api, made.number, DUPLICATE.format(kept=kept.number), "not_planned")
    if kept.body != new_body:
        _edit_open(api, kept, new_body)
    return kept.number


def _close_duplicates(api: Api, listed: Sequence[Issue], marker: str) -> None:
    """Closes what a run stopped before it converged left open."""
    kept = find(listed, marker)
    if kept is None:
        return
    for extra in duplicates(listed, marker):
        api_deploy.close_issue(api, extra.number, DUPLICATE.format(kept=kept.number), "not_planned")


def _edit_open(api: Api, issue: Issue, new_body: str) -> None:
    """Edits the issue while it is open. One a person closed since the listing is not
    written to (GitHub edits a closed issue all the same): its body is put back to what it
    said when closed, and the finding looked for again, so it goes to a new issue, as when
    the issue was closed before the listing. A closed issue is never reopened silently."""
    if api_deploy.edit_issue(api, issue.number, new_body) != "open":
        api_deploy.edit_issue(api, issue.number, issue.body)
        raise _LookAgain


def sync(api: Api, subject: Subject, new_body: str | None, close_note: str) -> str:
    """Open, update or close the subject's issue; says what it did."""

    def attempt() -> str:
        for look in range(1, LOOKS + 1):
            try:
                return _write(api, subject, new_body, close_note)
            except _LookAgain:  # closed since it was listed: look again
                if look == LOOKS:
                    raise AlmError(
                        f"could not write the {subject.noun} of {subject.name}: each issue "
                        f"it chose was closed before the edit ({LOOKS} times)"
                    ) from None
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
