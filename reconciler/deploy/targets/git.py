"""The git target: bundles committed to a branch (default alm/deployments) as
`<env>/<agent>.json`, with the git CLI and no work tree.

Where: `repository` unset is this repository; its branch is pushed to `origin` when it
has one (a GitHub-hosted runner's disk does not last), else only the local branch
moves. `repository` set (a path or URL) is a remote: a bare cache under
`.alm/cache/git-targets/` fetches it, commits there and pushes.

A batch of writes is ONE commit and one push. A write's version is the blob id of its
file; a write whose expected blob is no longer the branch's is a Conflict for that agent
(the rest still commit). A push rejected because someone pushed first is retried from
a fresh fetch, re-checking every expectation, so nothing is lost; alm never
force-pushes. Without a remote the branch moves by `update-ref <new> <old>`, which fails
the same way when another process moved it first.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.deploy.model import Bundle, Conflict, HistoryEntry, Live
from reconciler.deploy.targets import BatchResult, Write
from reconciler.deploy.targets.common import bundle_bytes, checked_name, parse_bundle, valid_name
from reconciler.deploy.targets.directory import resolve
from reconciler.deploy.targets.gitcli import FALLBACK_IDENTITY, Git, git_env, message_of
from reconciler.errors import AlmError
from reconciler.gcpause import gc_paused
from reconciler.spec.catalog import Environment

ATTEMPTS = 8
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


class GitTarget:
    def __init__(self, place: Place, environment: str) -> None:
        self.place = place
        self.environment = environment
        where = place.remote or str(place.git.git_dir)
        self.name = f"git {where} branch {place.branch}"

    # --- reading -----------------------------------------------------------------------
    def refresh(self) -> str | None:
        return fetch_tip(self.place)

    def _path(self, agent: str) -> str:
        return f"{self.environment}/{checked_name(agent)}.json"

    def _blobs(self, tip: str | None) -> dict[str, str]:
        """agent -> blob id of `<env>/<agent>.json` at the tip."""
        if tip is None:
            return {}
        out = self.place.git.out("ls-tree", "-z", tip, f"{self.environment}/")
        blobs: dict[str, str] = {}
        for row in out.split(b"\0"):
            if not row:
                continue
            meta, _, path = row.decode().partition("\t")
            _mode, kind, oid = meta.split()
            name = path.rsplit("/", 1)[-1]
            if kind == "blob" and name.endswith(".json") and valid_name(name[:-5]):
                blobs[name[:-5]] = oid
        return blobs

    def _lives(self, blobs: Mapping[str, str]) -> dict[str, Live]:
        data = self.place.git.cat(sorted(set(blobs.values())))
        lives: dict[str, Live] = {}
        for agent, oid in sorted(blobs.items()):
            where = f"{self.name}: {self._path(agent)}"
            bundle = parse_bundle(data[oid] or b"", where)
            if bundle.agent != agent:
                raise AlmError(f"{where}: holds agent {bundle.agent!r}; expected {agent!r}")
            lives[agent] = Live(bundle=bundle, version=oid)
        return lives

    def read_all(self) -> dict[str, Live]:
        with gc_paused():  # every bundle's parse allocates; see reconciler.gcpause
            return self._lives(self._blobs(self.refresh()))

    def versions(self) -> dict[str, str]:
        """Each agent's blob id, as read_all gives it, without reading a bundle (the
        no-op apply's fingerprint: reconciler.deploy.memo)."""
        return self._blobs(self.refresh())

    def read(self, agent: str) -> Live | None:
        checked_name(agent)
        blobs = self._blobs(self.refresh())
        return self._lives({agent: blobs[agent]}).get(agent) if agent in blobs else None

    def history(self, agent: str) -> list[HistoryEntry]:
        tip = self.refresh()
        if tip is None:
            return []
        path = self._path(agent)
        log = self.place.git.text("log", "--reverse", "--format=%H %aI", tip, "--", path)
        commits = [line.split(" ", 1) for line in log.splitlines() if line]
        data = self.place.git.cat([f"{sha}:{path}" for sha, _ in commits])
        entries: list[HistoryEntry] = []
        for sha, at in commits:
            raw = data[f"{sha}:{path}"]
            if raw is None:  # deleted in this commit
                last = entries[-1].revision if entries else ""
                entries.append(HistoryEntry(revision=last, at=at, deleted=True))
                continue
            bundle = parse_bundle(raw, f"{self.name}: {path} at {sha[:12]}")
            by = bundle.deployment.by if bundle.deployment else None
            entries.append(HistoryEntry(revision=bundle.revision, at=at, by=by, bundle=bundle))
        return entries

    # --- writing -----------------------------------------------------------------------
    def put(self, bundle: Bundle, expected: Live | None) -> Live:
        result = self.write_many([Write(bundle.agent, bundle, expected)])
        if bundle.agent in result.failed:
            raise result.failed[bundle.agent]
        live = result.done[bundle.agent]
        assert live is not None
        return live

    def delete(self, agent: str, expected: Live) -> None:
        result = self.write_many([Write(agent, None, expected)])
        if agent in result.failed:
            raise result.failed[agent]

    def write_many(self, writes: Sequence[Write]) -> BatchResult:
        result = BatchResult()
        for write in writes:
            if write.bundle is not None and write.bundle.environment != self.environment:
                result.failed[write.agent] = AlmError(
                    f"{write.agent}: a bundle for {write.bundle.environment!r} cannot go to "
                    f"the {self.environment!r} target"
                )
        todo = [w for w in writes if w.agent not in result.failed]
        blobs = self._hash([w.bundle for w in todo if w.bundle is not None])
        for attempt in range(ATTEMPTS):
            try:
                self._commit(todo, blobs, result)
                return result
            except Rejected:
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AlmError(f"{self.name}: the branch kept moving; gave up after {ATTEMPTS} tries")

    def _hash(self, bundles: Sequence[Bundle]) -> dict[str, str]:
        """Write every bundle's blob in one process: revision -> blob id."""
        if not bundles:
            return {}
        with tempfile.TemporaryDirectory(prefix="alm-git-") as tmp:
            paths = []
            for i, bundle in enumerate(bundles):
                path = Path(tmp) / str(i)
                path.write_bytes(bundle_bytes(bundle))
                paths.append(str(path))
            out = self.place.git.text(
                "hash-object", "-w", "--stdin-paths", stdin="\n".join(paths).encode()
            )
        return {b.agent: oid for b, oid in zip(bundles, out.split(), strict=True)}

    def _commit(self, todo: Sequence[Write], blobs: Mapping[str, str], result: BatchResult) -> None:
        tip = self.refresh()
        current = self._blobs(tip)
        result.done.clear()
        ready: list[Write] = []
        for write in todo:
            want = write.expected.version if write.expected else None
            if current.get(write.agent) != want:
                result.failed[write.agent] = Conflict(write.agent, f" (on {self.name})")
            else:
                result.failed.pop(write.agent, None)
                ready.append(write)
        if not ready:
            return
        commit = self._make_commit(tip, ready, blobs)
        self._publish(tip, commit)
        for write in ready:
            bundle = write.bundle
            result.done[write.agent] = None if bundle is None else Live(bundle, blobs[write.agent])

    def _make_commit(
        self, tip: str | None, ready: Sequence[Write], blobs: Mapping[str, str]
    ) -> str:
        lines = [
            f"100644 {blobs[w.agent]}\t{self._path(w.agent)}\n"
            if w.bundle is not None
            else f"0 {NO_OID}\t{self._path(w.agent)}\n"
            for w in ready
        ]
        message = commit_message(self.environment, ready)
        return commit_files(self.place.git, tip, "".join(lines), message)

    def _publish(self, tip: str | None, commit: str) -> None:
        publish(self.place, tip, commit)


def fetch_tip(p: Place) -> str | None:
    """Fetch the branch when there is a remote; the tip commit, None if no branch yet."""
    if p.remote is not None:
        spec = f"+refs/heads/{p.branch}:{p.tracking}"
        done = p.git.run("fetch", "--no-tags", "--quiet", p.remote, spec)
        if done.returncode != 0:
            if b"couldn't find remote ref" not in done.stderr:
                raise AlmError(f"git fetch {p.remote}: {message_of(done.stderr)}")
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


def commit_message(environment: str, writes: Sequence[Write]) -> str:
    verbs = [f"{'delete' if w.bundle is None else 'deploy'} {w.agent}" for w in writes]
    shown = ", ".join(verbs[:10]) + (f" and {len(verbs) - 10} more" if len(verbs) > 10 else "")
    body = "\n".join(
        f"{w.agent}: {'deleted' if w.bundle is None else w.bundle.revision}" for w in writes
    )
    return f"alm: {environment}: {shown}\n\n{body}\n"


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
    key = hashlib.sha256(remote.encode()).hexdigest()[:16]
    git = Git(root / ".alm" / "cache" / "git-targets" / key, env)
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


def open_git(env: Environment, root: Path, env_vars: Mapping[str, str]) -> GitTarget:
    return GitTarget(place_of(env, root, env_vars), env.name)
