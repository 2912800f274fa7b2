"""`alm rollback --open-pr`: a pull request reverting the change that introduced the bad
revision, so the repository stays the source of truth (merging it makes the desired
revision the pinned one, which lifts the pin).

The caller names that change (the audit record's or the bundle's `deployment.commit`).
The branch is made with the git CLI in a temporary worktree of the local checkout (the
user's working tree and branch are never touched): `git revert --no-edit` on the tip of
origin's base branch (`-m 1` for a merge commit, the first parent being the base), pushed
to `origin` without force. The pull request is opened with PyGithub. An open pull request
from the same branch is reused: running it twice opens one.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from github import GithubException

from reconciler.errors import AlmError
from reconciler.github import api_deploy
from reconciler.github.api import Api
from reconciler.github.api_deploy import Opened
from reconciler.github.retry import describe
from reconciler.spec.base import NAME_PATTERN

_NAME = re.compile(NAME_PATTERN)
_COMMIT = re.compile(r"[0-9a-f]{7,64}")
_REVISION = re.compile(r"sha256:[0-9a-f]{64}")
BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
GIT_TIMEOUT = 120


@dataclass(frozen=True)
class Request:
    agent: str
    environment: str
    commit: str  # the change that introduced the bad revision
    bad: str  # the revision rolled back from
    restored: str  # the revision rolled back to

    def check(self) -> None:
        for what, value, pattern in (
            ("agent", self.agent, _NAME),
            ("environment", self.environment, _NAME),
            ("commit", self.commit, _COMMIT),
            ("bad revision", self.bad, _REVISION),
            ("restored revision", self.restored, _REVISION),
        ):
            if not pattern.fullmatch(value):
                raise AlmError(f"revert PR: {what} {value!r} is not {pattern.pattern}")

    @property
    def branch(self) -> str:
        return f"alm/revert/{self.environment}/{self.agent}/{self.commit[:12]}"


def title(req: Request) -> str:
    return f"Revert {req.commit[:12]}: {req.agent} rolled back in {req.environment}"


def body(req: Request) -> str:
    return "\n".join(
        [
            f"alm rolled **{req.agent}** back in **{req.environment}**:",
            "",
            f"- from `{req.bad}` (the bad revision)",
            f"- to `{req.restored}`",
            "",
            f"This reverts {req.commit}, the change that introduced the bad revision, so the "
            "repository says again what runs. Until this is merged the agent is pinned in "
            f"{req.environment}: `alm apply` leaves it alone. Merging it lifts the pin (the "
            f"desired revision becomes the pinned one); `alm unpin {req.agent} --env "
            f"{req.environment}` lifts it by hand.",
        ]
    )


def push_env(token: str | None, server_url: str) -> dict[str, str]:
    """git config for the push, through the environment (never the command line, where
    other processes could read the token): the header actions/checkout would set."""
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{server_url.rstrip('/')}/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


class _Git:
    def __init__(self, where: Path, env: Mapping[str, str]) -> None:
        self.where, self.env = where, {**os.environ, **env, "GIT_TERMINAL_PROMPT": "0"}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(self.where), *args],
            capture_output=True, text=True, env=self.env, timeout=GIT_TIMEOUT, check=False,
        )  # fmt: skip

    def out(self, *args: str, what: str) -> str:
        done = self.run(*args)
        if done.returncode != 0:
            raise AlmError(f"revert PR: {what} failed: {_last_line(done.stderr)}")
        return done.stdout.strip()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no message)"


def _identity(git: _Git) -> dict[str, str]:
    """The bot's name for the revert commit when the checkout has no user configured."""
    if git.run("config", "user.email").returncode == 0:
        return {}
    name, email = BOT
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip


def make_branch(checkout: Path, req: Request, base: str, env: Mapping[str, str]) -> str:
    """Push the revert of req.commit on origin's `base` as req.branch; its commit id."""
    git = _Git(checkout, env)
    git.out("fetch", "--no-tags", "origin", f"refs/heads/{base}", what=f"fetching {base}")
    commit = git.out("rev-parse", "--verify", f"{req.commit}^{{commit}}", what="finding the commit")
    parents = git.out("rev-list", "--parents", "-n", "1", commit, what="reading parents").split()
    mainline = ["-m", "1"] if len(parents) > 2 else []
    with tempfile.TemporaryDirectory(prefix="alm-revert-") as tmp:
        tree = Path(tmp) / "worktree"
        git.out("worktree", "add", "--detach", str(tree), "FETCH_HEAD", what="a worktree")
        try:
            work = _Git(tree, {**env, **_identity(git)})
            reverted = work.run("revert", "--no-edit", *mainline, commit)
            if reverted.returncode != 0:
                work.run("revert", "--abort")
                raise AlmError(
                    f"revert PR: {commit[:12]} does not revert cleanly on {base} "
                    f"({_last_line(reverted.stdout + reverted.stderr)}); revert it by hand"
                )
            head = work.out("rev-parse", "HEAD", what="reading the revert")
            work.out("push", "origin", f"HEAD:refs/heads/{req.branch}", what="the push")
            return head
        finally:
            git.run("worktree", "remove", "--force", str(tree))
            git.run("worktree", "prune")


def open_pull(
    api: Api, owner: str, req: Request, checkout: Path, base: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Opened:  # fmt: skip
    """The revert pull request: an open one from req.branch, or a new branch and PR."""
    req.check()
    found = api_deploy.open_pull_from(api, owner, req.branch)
    if found is not None:
        return found
    target = base or api_deploy.default_branch(api)
    make_branch(checkout, req, target, env or {})

    def attempt() -> Opened:  # a create that reached GitHub before failing is found
        again = api_deploy.open_pull_from(api, owner, req.branch)
        return again or api_deploy.create_pull(api, title(req), body(req), req.branch, target)

    try:
        return api.retry.call("open the revert pull request", attempt)
    except GithubException as exc:
        raise AlmError(
            f"revert PR: {req.branch} was pushed but the pull request could not be opened: "
            f"{describe(exc)}"
        ) from None


def open_from_env(
    checkout: Path, req: Request, env: Mapping[str, str] | None = None
) -> tuple[Opened, list[str]]:
    """open_pull with the client and push credentials GitHub Actions' variables give."""
    values = os.environ if env is None else env
    ctx, api = api_deploy.session(values)
    auth = push_env(ctx.token, ctx.server_url)
    opened = open_pull(api, ctx.repository.split("/")[0], req, checkout, env=auth)
    return opened, api.retry.log
