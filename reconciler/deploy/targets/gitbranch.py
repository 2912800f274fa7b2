"""A branch of a git repository written with the git CLI and no work tree: where it is
(`Place`: this repository, or a bare cache of a remote one), fetching its tip, committing
files onto it through a temporary index, and moving it (push, never forced, or
update-ref against the old value). The git target and the git audit store share these.

A move that lost a race to another writer raises `Rejected`: the caller fetches again
and retries, re-checking what it expected.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.deploy.targets.directory import resolve
from reconciler.deploy.targets.gitcli import FALLBACK_IDENTITY, Git, git_env, message_of
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment
from reconciler.tracked import refuse_foreign

NO_OID = "0" * 40
# Another push came first: not a fast-forward any more, or it held the remote's ref lock
# at the same moment (`[remote rejected] (failed to update ref)`, "cannot lock ref").
_LOST_RACE = (b"[rejected]", b"(failed to update ref)", b"cannot lock ref")
_URL = re.compile(r"^(https?|ssh|git|file)://[^\s]+$")
_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")  # git@github.com:org/repo.git


@dataclass(frozen=True)
class Place:
    git: Git
    remote: str | None  # a remote name or URL to fetch and push; None: local only
    branch: str
    tracking: str  # the ref holding the branch's last known tip in git_dir


class Rejected(Exception):
    """The branch moved since we read it: fetch again and retry."""


def fetch_tip(p: Place) -> str | None:
    """Fetch the branch when there is a remote; the tip commit, None if no branch yet."""
    if p.remote is not None:
        spec = f"+refs/heads/{p.branch}:{p.tracking}"
        done = p.git.run("fetch", "--no-tags", "--quiet", p.remote, spec)
        if done.returncode != 0:
            if b"couldn't find remote ref" not in done.stderr:
                why = message_of(done.stderr)
                if b"Read-only file system" in done.stderr:  # a read-only checkout
                    why += (
                        f"; alm reads branch {p.branch} by fetching it into {p.git.git_dir}, "
                        "which must be writable (also for a dry run, status, drift and audit)"
                    )
                raise AlmError(f"git fetch {p.remote}: {why}")
            p.git.run("update-ref", "-d", p.tracking)  # the branch is gone there
    return p.git.oid(p.tracking)


def commit_files(git: Git, tip: str | None, index_info: str, message: str) -> str:
    """A commit of `tip`'s tree (or an empty one) changed by `git update-index --index-info`
    lines, with `tip` as its parent; no work tree, and a temporary index."""
    with tempfile.TemporaryDirectory(prefix="alm-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git.out("read-tree", *([tip] if tip else ["--empty"]), env=index)
        git.out("update-index", "--index-info", stdin=index_info.encode(), env=index)
        tree = git.text("write-tree", env=index)
    parents = ["-p", tip] if tip else []
    identity = {} if git.has_identity() else FALLBACK_IDENTITY
    return (
        git.out("commit-tree", tree, *parents, stdin=message.encode(), env=identity)
        .decode()
        .strip()
    )


def publish(p: Place, tip: str | None, commit: str) -> None:
    """Move the branch from `tip` to `commit`: push (never forced) when there is a remote,
    else update-ref with the old value. Rejected when the branch moved since `tip`."""
    if p.remote is None:
        done = p.git.run("update-ref", p.tracking, commit, tip or NO_OID)
        if done.returncode != 0:
            raise Rejected
        return
    done = p.git.run("push", "--porcelain", "--quiet", p.remote, f"{commit}:refs/heads/{p.branch}")
    if done.returncode != 0:
        said = done.stdout + done.stderr
        if any(sign in said for sign in _LOST_RACE):
            raise Rejected
        raise AlmError(f"git push {p.remote}: {message_of(done.stderr or done.stdout)}")
    p.git.out("update-ref", p.tracking, commit)


def remote_of(repository: str, root: Path) -> str:
    """A URL as given (https, ssh, git, file, or user@host:path), else a local path."""
    if repository.startswith("-") or "::" in repository:  # an option, or a transport helper
        raise AlmError(f"git target repository {repository!r} expected a path or URL")
    if _URL.match(repository) or _SCP.match(repository):
        return repository
    if "://" in repository:
        raise AlmError(f"git target repository {repository!r}: expected https, ssh, git or file")
    return str(resolve(repository, root))


def _cache(root: Path, remote: str, env: dict[str, str]) -> Git:
    """The bare clone of `remote` under .alm/cache/git-targets/, made on first use; never
    one behind a symlink out of the repository, nor one committed to it."""
    key = hashlib.sha256(remote.encode()).hexdigest()[:16]
    folder = root / ".alm" / "cache" / "git-targets" / key
    # a committed clone is the pull request's git config (an upload-pack command, a URL
    # rewrite, a credential helper): git would run or follow it
    refuse_foreign(root, folder, what="the git target's cache")
    git = Git(folder, env)
    if not (git.git_dir / "HEAD").exists():
        git.git_dir.mkdir(parents=True, exist_ok=True)
        git.out("init", "--bare", "--quiet")
    return git


def place_of(env: Environment, root: Path, env_vars: Mapping[str, str]) -> Place:
    environ = git_env(env_vars)
    branch = env.target.branch
    if env.target.repository:
        remote = remote_of(env.target.repository, root)
        return Place(_cache(root, remote, environ), remote, branch, f"refs/heads/{branch}")
    probe = Git(root / ".git", environ)  # only to ask git where the git directory is
    done = probe.run("-C", str(root), "rev-parse", "--absolute-git-dir")
    if done.returncode != 0:
        raise AlmError(f"git target: {root} is not a git repository; set target.repository")
    git = Git(Path(done.stdout.decode().strip()), environ)
    if git.run("config", "remote.origin.url").returncode == 0:
        return Place(git, "origin", branch, f"refs/remotes/origin/{branch}")
    return Place(git, None, branch, f"refs/heads/{branch}")
