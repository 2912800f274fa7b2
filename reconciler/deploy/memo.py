"""The plan of an apply with nothing to do, remembered so the next one skips the work.

A plan is a function of its inputs: the desired bundles (built from the commit's
`agents/` and `policies/` trees by this version of alm's bundle and plan code), the
environment's settings, --prune, and the bytes of every live bundle here and, when the
gates want it, in the previous environment. When an apply ends with nothing left to do,
alm stores fingerprints of those inputs (git tree ids, a hash of the code and settings,
each live bundle's version) with the plan's actions, all of them non-changes. The next
apply whose fingerprints are all equal has the same plan without loading the fleet or
parsing a bundle; any difference (a commit that changes a bundle, a bundle edited in
place, another alm) misses, and alm plans in full.

Only targets that can list their versions without reading every bundle (`Versioned`)
take part; the file lives under .alm/cache/deploy/<env>.json (a cache: deleting it is
always safe). Reached through a symlink out of the repository (a committed `.alm` link,
say) it is neither read nor written: the apply plans in full.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from reconciler import __version__, spec
from reconciler.deploy import bundle, model, plan
from reconciler.deploy.model import (
    Action,
    Bundle,
    DeployPlan,
    HistoryEntry,
    Live,
    Scan,
    Unreadable,
    canonical_json,
)
from reconciler.deploy.targets import BatchResult, BatchTarget, Write
from reconciler.fsutil import write_atomic

FORMAT = 1
MAX_BYTES = 64 << 20


@runtime_checkable
class Versioned(Protocol):
    def versions(self) -> dict[str, str]:
        """Each live agent's version tag, as read_all would give it, without the bundles."""
        ...


def memo_path(root: Path, environment: str) -> Path:
    """The memo's file. Its caller vouches for it before recall or remember (a symlink out
    of the repository or a committed memo is never used: tracked.foreign)."""
    return root / ".alm" / "cache" / "deploy" / f"{environment}.json"


def code_hash() -> str:
    """alm's version and the code a plan depends on: how specs are read (reconciler.spec),
    how bundles are built and planned."""
    digest = hashlib.sha256(__version__.encode())
    spec_folder = Path(str(spec.__file__)).parent
    files = [
        *sorted(spec_folder.glob("*.py")),
        *(Path(str(m.__file__)) for m in (bundle, model, plan)),
    ]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def key(trees: Mapping[str, str], settings: Mapping[str, Any], prune: bool) -> str:
    """What the desired side of a plan depends on: trees by folder, the settings."""
    data = {
        "format": FORMAT,
        "code": code_hash(),
        "trees": dict(trees),
        "prune": prune,
        "settings": settings,
    }
    return hashlib.sha256(canonical_json(data)).hexdigest()


def remember(
    path: Path,
    desired_key: str,
    done: DeployPlan,
    versions: Mapping[str, str],
    previous: Mapping[str, str] | None,
) -> None:
    """Store a plan with nothing to do and its fingerprints (a plan with changes: none)."""
    if not done.empty:
        path.unlink(missing_ok=True)
        return
    actions = [
        {"kind": a.kind, "agent": a.agent, "before": a.before, "after": a.after, "reason": a.reason}
        for a in done.actions
    ]
    data = {
        "key": desired_key,
        "versions": dict(versions),
        "previous": previous,
        "actions": actions,
        "warnings": list(done.warnings),
    }
    write_atomic(path, json.dumps(data, sort_keys=True))


class Recording:
    """A target that notes what apply's writes left on it: each written agent's new Live
    (None: deleted), and whether any write failed or went around the batch."""

    def __init__(self, inner: BatchTarget) -> None:
        self.inner = inner
        self.name = inner.name
        self.done: dict[str, Live | None] = {}
        self.clean = True  # every write succeeded, all through write_many

    def read_all(self) -> dict[str, Live]:
        return self.inner.read_all()

    def read(self, agent: str) -> Live | None:
        return self.inner.read(agent)

    def scan(self) -> Scan:
        return self.inner.scan()

    def entry(self, agent: str) -> Live | Unreadable | None:
        return self.inner.entry(agent)

    def history(self, agent: str) -> list[HistoryEntry]:
        return self.inner.history(agent)

    def put(self, bundle: Bundle, expected: Live | Unreadable | None) -> Live:
        self.clean = False  # not expected from the engine: never remembered
        return self.inner.put(bundle, expected)

    def delete(self, agent: str, expected: Live | Unreadable) -> None:
        self.clean = False
        self.inner.delete(agent, expected)

    def write_many(self, writes: Sequence[Write]) -> BatchResult:
        result = self.inner.write_many(writes)
        self.clean = self.clean and result.ok and set(result.done) == {w.agent for w in writes}
        self.done.update(result.done)
        return result


def after_apply(
    done: DeployPlan,
    desired: Mapping[str, Bundle],
    versions: Mapping[str, str],
    written: Recording,
    *,
    previous: plan.Previous | None,
) -> tuple[DeployPlan, dict[str, str]] | None:
    """The plan the next apply would make after `done` was applied, and the versions it
    would read, from what the writes returned (never from a read after them: an edit
    made since is a version this memo does not hold, so a miss); None unless every
    change was written once and the next plan has nothing to do. `versions`: the
    fingerprint read before planning `done`."""
    changed = {a.agent for a in done.changes}
    if not written.clean or set(written.done) != changed:
        return None
    after = dict(versions)
    fresh: dict[str, Live] = {}
    for agent, live in written.done.items():
        if live is None:
            after.pop(agent, None)
        else:
            after[agent], fresh[agent] = live.version, live
    if not set(fresh) <= set(desired):  # only rollback_on_failure writes others (failed)
        return None
    want = {agent: desired[agent] for agent in fresh}  # every agent desired: prune is moot
    again = plan.plan(done.environment, want, fresh, previous=previous)
    if any(a.kind != "unchanged" for a in again.actions) or again.warnings:
        return None
    kept = [a for a in done.actions if a.agent not in changed]
    actions = tuple(sorted([*kept, *again.actions], key=lambda a: a.agent))
    return DeployPlan(done.environment, actions, done.warnings), after


def recall(
    path: Path,
    environment: str,
    desired_key: str,
    versions: Mapping[str, str],
    previous: Mapping[str, str] | None,
) -> DeployPlan | None:
    """The remembered plan when every fingerprint is equal, else None."""
    try:
        raw = path.read_bytes() if path.stat().st_size <= MAX_BYTES else b""
        data = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != desired_key:
        return None
    if data.get("versions") != dict(versions) or data.get("previous") != previous:
        return None
    try:
        actions = tuple(
            Action(a["kind"], a["agent"], a["before"], a["after"], a["reason"])
            for a in data["actions"]
        )
        warnings = tuple(str(w) for w in data["warnings"])
    except (KeyError, TypeError):
        return None
    found = DeployPlan(environment, actions, warnings)
    return found if found.empty else None
