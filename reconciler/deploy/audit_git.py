"""Audit logs on a git branch, so a GitHub-hosted runner (whose disk does not last between
jobs) keeps one chain per environment; and the choice of store per environment.

The git store keeps `<env>.jsonl` and `<env>.jsonl.head` (the same formats as the file
store) at the top of a branch, `alm/audit` by default, of this repository (pushed to
`origin` when it has one) or of `audit.repository`. It commits with the git CLI and no
work tree, through the helpers it shares with the git target
(reconciler.deploy.targets.gitbranch).

An append is one commit: fetch the branch, read the last line, let the caller seal its
lines onto it, commit the log and its head, push. A push rejected because another writer
pushed first (another job, another clone) is retried from a fresh fetch, sealing again
onto the new last line, so the chain stays linear. Nothing is ever force-pushed: a
history rewritten by someone else would be rejected, not overwritten.

The log in a commit is always whole (a commit cannot be torn), so a log on the branch
without a final newline was put there by hand: appending to it is refused.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.deploy import audit
from reconciler.deploy.audit import AuditStore, Head, Sealer
from reconciler.deploy.targets.gitbranch import (
    Place,
    Rejected,
    commit_files,
    fetch_tip,
    place_of,
    publish,
)
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment, Target

ATTEMPTS = 30  # writers of one branch contend only for the length of an append
BACKOFF_S = 0.05
BACKOFF_CAP_S = 1.0


class GitAuditStore:
    """One environment's log on a branch; `tip` is the commit the last read saw."""

    def __init__(self, place: Place, environment: str) -> None:
        self.place = place
        self.log_path = f"{environment}.jsonl"
        self.head_path = f"{environment}.jsonl.head"
        where = place.remote or str(place.git.git_dir)
        self.where = f"git {where} branch {place.branch}: {self.log_path}"
        self.tip: str | None = None
        self._fetched = False

    def _fetch(self) -> str | None:
        self.tip, self._fetched = fetch_tip(self.place), True
        return self.tip

    def _files(self, tip: str | None) -> tuple[bytes, bytes | None]:
        if tip is None:
            return b"", None
        names = [f"{tip}:{self.log_path}", f"{tip}:{self.head_path}"]
        found = self.place.git.cat(names)
        return found[names[0]] or b"", found[names[1]]

    def read(self) -> bytes:
        return self._files(self._fetch())[0]

    def head(self) -> Head | None:
        """The head at the commit the last read() saw (so a log and its head always come
        from one commit, even while others append)."""
        tip = self.tip if self._fetched else self._fetch()
        raw = self._files(tip)[1]
        return None if raw is None else Head.parse(raw)

    def append(self, lines_after: Sealer) -> None:
        for attempt in range(ATTEMPTS):
            tip = self._fetch()
            commit = self._commit(tip, lines_after)
            try:
                publish(self.place, tip, commit)
            except Rejected:
                time.sleep(random.uniform(0, min(BACKOFF_S * 2**attempt, BACKOFF_CAP_S)))
                continue
            self.tip = commit
            return
        raise AlmError(f"{self.where}: the branch kept moving; gave up after {ATTEMPTS} tries")

    def _commit(self, tip: str | None, lines_after: Sealer) -> str:
        log = self._files(tip)[0]
        if log and not log.endswith(b"\n"):
            torn = log.count(b"\n") + 1
            raise AlmError(
                f"{self.where}: line {torn} has no newline at its end, which "
                "alm never commits: the log was edited on the branch; not appending "
                "(alm audit verify)"
            )
        complete = log[:-1].rsplit(b"\n", 1)[-1] if log else None
        lines = lines_after(complete)
        if not lines.endswith(b"\n"):
            raise ValueError("audit lines end with a newline")
        new_log = log + lines
        last = lines[:-1].rsplit(b"\n", 1)[-1]
        head = Head(new_log.count(b"\n"), audit.line_hash(last), len(new_log))
        git = self.place.git
        blobs = [git.text("hash-object", "-w", "--stdin", stdin=data) for data in
                 (new_log, head.render())]  # fmt: skip
        info = f"100644 {blobs[0]}\t{self.log_path}\n100644 {blobs[1]}\t{self.head_path}\n"
        count = lines.count(b"\n")
        message = f"alm audit: {self.log_path}: {count} record(s), {head.lines} in all\n"
        return commit_files(git, tip, info, message)


@dataclass(frozen=True)
class AuditLog:
    """An environment's audit store and where it is, in words."""

    environment: str
    store: AuditStore
    where: str


def local_log(root: Path, environment: str) -> AuditLog:
    path = audit.audit_path(root, environment)
    return AuditLog(environment, audit.FileAuditStore(path), str(path))


def git_log(env: Environment, root: Path, env_vars: Mapping[str, str]) -> AuditLog:
    settings = env.audit
    target = Target(type="git", branch=settings.branch, repository=settings.repository)
    place = place_of(env.model_copy(update={"target": target}), root, env_vars)
    store = GitAuditStore(place, env.name)
    return AuditLog(env.name, store, store.where)


STORES: dict[str, Callable[[Environment, Path, Mapping[str, str]], AuditLog]] = {
    "local": lambda env, root, _vars: local_log(root, env.name),
    "git": git_log,
}


def open_log(env: Environment, root: Path, env_vars: Mapping[str, str]) -> AuditLog:
    """The audit store `env.audit.store` names (docs/deploy.md)."""
    return STORES[env.audit.store](env, root, env_vars)
