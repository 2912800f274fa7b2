"""Writing a sticky comment (the edge of sticky.py), for both of alm's comments.

Whatever happened since the comments were listed is met here: a comment deleted meanwhile
(by a person, or by a concurrent run) is looked for again and, when gone, created anew;
a duplicate a concurrent run created is deleted, the first marked comment kept and edited.
"""

from __future__ import annotations

from collections.abc import Sequence

from github import GithubException

from reconciler.errors import AlmError
from reconciler.github import sticky
from reconciler.github.api import Api, Comment, is_gone
from reconciler.github.retry import describe

DONE = {"create": "created", "edit": "edited", "none": "unchanged"}
LOOKS = 3  # listings of one attempt: each further one after the comment it chose vanished


def upsert(
    api: Api, number: int, text: str, marker: str, listed: Sequence[Comment] | None = None
) -> str:
    """Create or edit the sticky comment; `listed` is the caller's own listing of the
    comments. A retry lists the comments again first, so a create that reached GitHub
    before failing is edited, never posted twice."""
    pending = [list(listed)] if listed is not None else []

    def attempt() -> str:
        comments = pending.pop() if pending else api.comments(number)
        return _write(api, number, text, marker, comments)

    try:
        return api.retry.call("post the comment", attempt)
    except GithubException as exc:
        raise AlmError(f"could not post the comment on PR #{number}: {describe(exc)}") from None


def _write(api: Api, number: int, text: str, marker: str, comments: list[Comment]) -> str:
    for look in range(1, LOOKS + 1):
        for extra in sticky.duplicates(comments, marker):
            api.delete_comment(extra.id)
        write = sticky.decide(sticky.find(comments, marker), text)
        try:
            if write.action == "edit" and write.comment_id is not None:
                api.edit_comment(write.comment_id, text)
            elif write.action == "create":
                api.create_comment(number, text)
                _converge(api, number, text, marker)
            return DONE[write.action]
        except GithubException as exc:
            if not is_gone(exc) or look == LOOKS:
                raise
        comments = api.comments(number)  # deleted since it was listed: look again
    raise AssertionError("unreachable: the last look returns or raises")


def _converge(api: Api, number: int, text: str, marker: str) -> None:
    """After a create: a run at the same time may have created one too (both listed
    before either created). Every run keeps the first and deletes the later ones, so
    they end with one comment, whichever finishes last."""
    comments = api.comments(number)
    for extra in sticky.duplicates(comments, marker):
        api.delete_comment(extra.id)
    first = sticky.find(comments, marker)
    if first is not None and first.body != text:
        api.edit_comment(first.id, text)
