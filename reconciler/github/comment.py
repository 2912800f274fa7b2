"""Writing a sticky comment (the edge of sticky.py), for both of alm's comments."""

from __future__ import annotations

from github import GithubException

from reconciler.errors import AlmError
from reconciler.github import sticky
from reconciler.github.api import Api
from reconciler.github.retry import describe

DONE = {"create": "created", "edit": "edited", "none": "unchanged"}


def upsert(api: Api, number: int, text: str, marker: str, first: sticky.Write | None = None) -> str:
    """Create or edit the sticky comment; `first` is what the caller already decided from
    its own listing. A retry lists the comments again first, so a create that reached
    GitHub before failing is edited, never posted twice."""
    pending = [first] if first is not None else []

    def attempt() -> str:
        write = (
            pending.pop()
            if pending
            else sticky.decide(sticky.find(api.comments(number), marker), text)
        )
        if write.action == "create":
            api.create_comment(number, text)
        elif write.action == "edit" and write.comment_id is not None:
            api.edit_comment(write.comment_id, text)
        return DONE[write.action]

    try:
        return api.retry.call("post the comment", attempt)
    except GithubException as exc:
        raise AlmError(f"could not post the comment on PR #{number}: {describe(exc)}") from None
