"""The edge: every GitHub call alm makes, through PyGithub, each retried when transient.

Built with base_url = GITHUB_API_URL, no pacing (`seconds_between_*=None`) and
PyGithub's own retries off: reconciler.github.retry decides. The client is lazy, so
naming the repository costs no request; lists are read 100 a page. Functions return
plain values (the pure modules never see a PyGithub object).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from github import Auth, Github, GithubException, UnknownObjectException
from github.CheckRun import CheckRun
from github.IssueComment import IssueComment
from github.PullRequest import PullRequest

from reconciler.errors import AlmError
from reconciler.github.context import Context
from reconciler.github.retry import RetryPolicy
from reconciler.policy.approvals import Review

PER_PAGE = 100  # GitHub's maximum: fewest requests for a list
MAX_FILE_BYTES = 3 << 20  # GitHub ignores a CODEOWNERS file over 3 MB
MAX_TEAM_PAGES = 10
MAX_PULL_FILES = 3_000  # GitHub lists at most this many files of a pull request


@dataclass(frozen=True)
class Pull:
    number: int
    head_sha: str
    head_repo: str | None  # owner/name; None when the fork was deleted
    head_ref: str  # the branch
    base_ref: str
    author: str
    state: str  # open | closed
    merged: bool
    merge_commit_sha: str | None
    changed_files: int | None = None  # GitHub's count, which its file list may fall short of


@dataclass(frozen=True)
class Changes:
    paths: list[str]  # sorted, a rename's both paths
    listed: int  # entries GitHub listed: at most MAX_PULL_FILES


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    by_bot: bool
    author: str = ""  # login


GONE = frozenset({404, 410})  # a comment deleted answers 404, an issue deleted 410


def is_gone(exc: Exception) -> bool:
    """Whether GitHub says the thing is not there (any more): deleted since it was listed."""
    return isinstance(exc, GithubException) and exc.status in GONE


def connect(ctx: Context, per_page: int = PER_PAGE, timeout: int = 30) -> Github:
    return Github(
        auth=Auth.Token(ctx.token),
        base_url=ctx.api_url,
        per_page=per_page,
        timeout=timeout,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,
    )


def not_the_api(what: str) -> AlmError:
    """An answer without the fields GitHub's REST API sends (such as a web page with 200
    from github.com itself or a proxy): said plainly, not an AttributeError (exit 4)."""
    return AlmError(
        f"the GitHub API answered {what} without its fields: is GITHUB_API_URL the REST "
        "API (https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise Server)?"
    )


def _pull(p: PullRequest) -> Pull:
    if p.head is None or p.base is None or not isinstance(p.number, int):
        raise not_the_api("a pull request")
    head_repo = p.head.repo.full_name if p.head.repo is not None else None
    return Pull(
        number=p.number,
        head_sha=p.head.sha,
        head_repo=head_repo,
        head_ref=p.head.ref,
        base_ref=p.base.ref,
        author=p.user.login if p.user is not None else "",
        state=p.state,
        merged=p.merged_at is not None,  # in every shape, unlike `merged`
        merge_commit_sha=p.merge_commit_sha,
        changed_files=p.changed_files if isinstance(p.changed_files, int) else None,
    )


class Api:
    def __init__(self, gh: Github, repository: str, retry: RetryPolicy) -> None:
        self.gh = gh
        self.retry = retry
        self.repo = gh.get_repo(repository)
        self._comments: dict[int, IssueComment] = {}

    def pull(self, number: int) -> Pull | None:
        """The pull request, or None when it does not exist in this repository."""
        try:
            return self.retry.call("read the pull request", lambda: _pull(self._raw(number)))
        except UnknownObjectException:
            return None

    def _raw(self, number: int) -> PullRequest:
        pull = self.repo.get_pull(number)
        pull.head  # noqa: B018 - completes the lazy object: one GET, here where it is retried
        return pull

    def changed_files(self, number: int) -> Changes:
        """Every path GitHub lists as touched (a rename counts both of its paths), and how
        many entries it listed (it lists MAX_PULL_FILES at most)."""

        def read() -> Changes:
            paths: list[str] = []
            listed = 0
            for f in self.repo.get_pull(number).get_files():
                listed += 1
                paths.append(f.filename)
                if f.previous_filename:
                    paths.append(f.previous_filename)
            return Changes(sorted(set(paths)), listed)

        return self.retry.call("list the changed files", read)

    def text_at(self, path: str, ref: str) -> str | None:
        """A file's text at a ref; None when it is absent there (or too large to be used)."""

        def read() -> str | None:
            try:
                found = self.repo.get_contents(path, ref=ref)
            except UnknownObjectException:
                return None
            if isinstance(found, list) or found.size > MAX_FILE_BYTES:
                return None
            return base64.b64decode(found.content or "").decode("utf-8", "replace")

        return self.retry.call(f"read {path} at {ref}", read)

    def reviews(self, number: int) -> list[Review]:
        def read() -> list[Review]:
            return [
                Review(r.user.login, r.state, r.commit_id, r.submitted_at)
                for r in self.repo.get_pull(number).get_reviews()
                if r.user is not None and r.submitted_at is not None and r.commit_id
            ]

        return self.retry.call("list the reviews", read)

    def team_members(self, org: str, slug: str) -> list[str] | None:
        """Member logins, or None when the token may not read the team (403/404)."""

        def read() -> list[str]:
            team = self.gh.get_organization(org).get_team_by_slug(slug)
            members = team.get_members()
            logins: list[str] = []
            for i, user in enumerate(members):
                if i >= MAX_TEAM_PAGES * PER_PAGE:
                    break
                logins.append(user.login)
            return logins

        try:
            return self.retry.call(f"list the members of @{org}/{slug}", read)
        except GithubException as exc:
            if exc.status in (403, 404):
                return None
            raise

    def comments(self, number: int) -> list[Comment]:
        def read() -> list[Comment]:
            listed = list(self.repo.get_issue(number).get_comments())
            self._comments = {c.id: c for c in listed}
            return [_comment(c) for c in listed]

        return self.retry.call("list the comments", read)

    def create_comment(self, number: int, body: str) -> Comment:
        return _comment(self.repo.get_issue(number).create_comment(body))

    def edit_comment(self, comment_id: int, body: str) -> None:
        """Edits a comment of the last listing (404 when it was deleted since)."""
        self._comments[comment_id].edit(body)

    def delete_comment(self, comment_id: int) -> None:
        """Deletes a comment of the last listing; one deleted already is no error."""
        try:
            self._comments[comment_id].delete()
        except GithubException as exc:
            if not is_gone(exc):
                raise

    def status(self, sha: str, state: str, description: str, target_url: str | None) -> None:
        commit = self.repo.get_commit(sha)
        extra: dict[str, Any] = {"target_url": target_url} if target_url else {}
        self.retry.call(
            "set the commit status",
            lambda: commit.create_status(
                state, description=description, context="alm/gate", **extra
            ),
        )

    def check_run(
        self,
        sha: str,
        conclusion: str,
        output: dict[str, Any],
        url: str | None,
        more: Iterable[list[dict[str, Any]]],
    ) -> None:
        """A completed check run `alm` (its first 50 annotations in `output`), then each
        further batch of annotations in an update. 403 is raised for the caller."""
        extra: dict[str, Any] = {"details_url": url} if url else {}
        run: CheckRun = self.retry.call(
            "create the check run",
            lambda: self.repo.create_check_run(
                "alm", sha, status="completed", conclusion=conclusion, output=output, **extra
            ),
        )
        for batch in more:
            update = {"title": output["title"], "summary": output["summary"], "annotations": batch}
            self.retry.call("add check run annotations", partial(run.edit, output=update))

    def pulls_of_commit(self, sha: str) -> list[Pull]:
        def read() -> list[Pull]:
            try:
                return [_pull(p) for p in self.repo.get_commit(sha).get_pulls()]
            except (TypeError, AttributeError):  # PyGithub paging through a non-list answer
                raise not_the_api("the pull requests of a commit") from None

        return self.retry.call("list the pull requests of the commit", read)


def _comment(c: IssueComment) -> Comment:
    author = c.user.login if c.user is not None else ""
    return Comment(c.id, c.body or "", _is_bot(c), author or "")


def _is_bot(comment: IssueComment) -> bool:
    return comment.user is not None and comment.user.type == "Bot"
