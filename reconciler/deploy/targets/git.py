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

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.deploy.model import Bundle, Conflict, HistoryEntry, Live, Scan, Unreadable
from reconciler.deploy.targets import BatchResult, Write
from reconciler.deploy.targets.common import (
    bundle_bytes,
    checked_name,
    entry_of,
    scan_of,
    strict,
    strict_all,
    valid_name,
)
from reconciler.deploy.targets.gitbranch import (
    NO_OID,
    Place,
    Rejected,
    commit_files,
    fetch_tip,
    place_of,
    publish,
)
from reconciler.errors import AlmError
from reconciler.gcpause import gc_paused
from reconciler.spec.catalog import Environment

ATTEMPTS = 8


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

    def _scan(self, blobs: Mapping[str, str]) -> Scan:
        data = self.place.git.cat(sorted(set(blobs.values())))
        return scan_of(
            entry_of(
                agent, self.environment, data[oid] or b"", oid, f"{self.name}: {self._path(agent)}"
            )
            for agent, oid in sorted(blobs.items())
        )

    def scan(self) -> Scan:
        with gc_paused():  # every bundle's parse allocates; see reconciler.gcpause
            return self._scan(self._blobs(self.refresh()))

    def read_all(self) -> dict[str, Live]:
        return strict_all(self.scan())

    def versions(self) -> dict[str, str]:
        """Each agent's blob id, as scan gives it, without reading a bundle (the
        no-op apply's fingerprint: reconciler.deploy.memo)."""
        return self._blobs(self.refresh())

    def entry(self, agent: str) -> Live | Unreadable | None:
        checked_name(agent)
        blobs = self._blobs(self.refresh())
        if agent not in blobs:
            return None
        found = self._scan({agent: blobs[agent]})
        return found.lives.get(agent) or found.unreadable.get(agent)

    def read(self, agent: str) -> Live | None:
        return strict(self.entry(agent))

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
            found = entry_of(agent, self.environment, raw, sha, f"{path} at {sha[:12]}")
            if not isinstance(found, Live):  # an unreadable version: nothing to restore
                continue
            bundle = found.bundle
            by = bundle.deployment.by if bundle.deployment else None
            entries.append(HistoryEntry(revision=bundle.revision, at=at, by=by, bundle=bundle))
        return entries

    # --- writing -----------------------------------------------------------------------
    def put(self, bundle: Bundle, expected: Live | Unreadable | None) -> Live:
        result = self.write_many([Write(bundle.agent, bundle, expected)])
        if bundle.agent in result.failed:
            raise result.failed[bundle.agent]
        live = result.done[bundle.agent]
        assert live is not None
        return live

    def delete(self, agent: str, expected: Live | Unreadable) -> None:
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


def commit_message(environment: str, writes: Sequence[Write]) -> str:
    verbs = [f"{'delete' if w.bundle is None else 'deploy'} {w.agent}" for w in writes]
    shown = ", ".join(verbs[:10]) + (f" and {len(verbs) - 10} more" if len(verbs) > 10 else "")
    body = "\n".join(
        f"{w.agent}: {'deleted' if w.bundle is None else w.bundle.revision}" for w in writes
    )
    return f"alm: {environment}: {shown}\n\n{body}\n"


def open_git(env: Environment, root: Path, env_vars: Mapping[str, str]) -> GitTarget:
    return GitTarget(place_of(env, root, env_vars), env.name)
