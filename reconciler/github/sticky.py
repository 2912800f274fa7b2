"""The one sticky comment per pull request (pure): its body, finding it, what to write.

The body is the marker line and the report written to GitHub's budget of 65,536
characters (GitHub counts UTF-16 code units). The comment is ours when it starts with
the marker and a bot wrote it: a person pasting the marker into a comment of their own
cannot make alm edit (or hide behind) theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from reconciler.errors import AlmError
from reconciler.github.api import Comment
from reconciler.plan.model import PlanReport

LIMIT = 65_536
Render = Callable[[PlanReport, int], str]


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def body(marker: str, report: PlanReport, render: Render) -> str:
    """marker + newline + the report in what is left of the budget; refused (never
    posted broken or split) if the renderer overran it."""
    text = f"{marker}\n{render(report, LIMIT - utf16_length(marker) - 1)}"
    if utf16_length(text) > LIMIT:
        raise AlmError(
            f"the rendered comment is {utf16_length(text)} characters; GitHub's limit is "
            f"{LIMIT} (a bug in the budgeted renderer: nothing was posted)"
        )
    return text


def _marked(comment: Comment, marker: str) -> bool:
    return comment.by_bot and comment.body.split("\n", 1)[0].strip() == marker


def find(comments: Sequence[Comment], marker: str) -> Comment | None:
    """The first comment a bot wrote that starts with the marker line."""
    return next((c for c in comments if _marked(c, marker)), None)


def duplicates(comments: Sequence[Comment], marker: str) -> list[Comment]:
    """The marked comments after the first that its author wrote too: what two runs at
    once leave when both listed before either created (GitHub cannot create only if
    absent). The first is the one every run finds, so the later ones go; another bot's
    are left alone."""
    first = find(comments, marker)
    if first is None:
        return []
    return [
        c for c in comments if c.id != first.id and c.author == first.author and _marked(c, marker)
    ]


@dataclass(frozen=True)
class Write:
    action: Literal["create", "edit", "none"]
    comment_id: int | None = None


def decide(existing: Comment | None, new_body: str) -> Write:
    if existing is None:
        return Write("create")
    if existing.body == new_body:
        return Write("none", existing.id)
    return Write("edit", existing.id)
