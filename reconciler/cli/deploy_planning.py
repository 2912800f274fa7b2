"""The plan alm apply acts on: remembered when nothing changed since an apply that had
nothing to do (reconciler.deploy.memo), else made in full from the desired state, the
live state and, when the gates want it, the previous environment's live state."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.cli.deploy_context import EnvContext
from reconciler.deploy import memo
from reconciler.deploy import plan as planner
from reconciler.deploy.model import Bundle, DeployPlan, Live
from reconciler.deploy.targets import BatchTarget


@dataclass
class Planned:
    plan: DeployPlan
    live: dict[str, Live] = field(default_factory=dict)
    desired: dict[str, Bundle] = field(default_factory=dict)
    previous: dict[str, Live] | None = None
    remembered: bool = False  # from the memo: nothing was loaded or parsed


@dataclass(frozen=True)
class Fingerprints:
    path: Path
    key: str
    versions: dict[str, str]
    previous: dict[str, str] | None


def make_plan(
    ctx: EnvContext, target: BatchTarget, prune: bool
) -> tuple[Planned, Fingerprints | None]:
    """Under the environment's lock: the plan, and the fingerprints to remember it by
    (None when the targets cannot list versions or the memo file is not alm's own)."""
    prints = fingerprints(ctx, target, prune)
    if prints is not None:
        hit = memo.recall(prints.path, ctx.name, prints.key, prints.versions, prints.previous)
        if hit is not None:
            return Planned(hit, remembered=True), prints
    desired = ctx.desired()
    found = ctx.previous()
    previous = found[1] if found else None
    live = target.read_all()
    made = planner.plan(ctx.name, desired, live, prune=prune, previous=previous)
    return Planned(made, live, desired, previous), prints


def fingerprints(ctx: EnvContext, target: BatchTarget, prune: bool) -> Fingerprints | None:
    path = memo.memo_path(ctx.app.root, ctx.name)
    if not isinstance(target, memo.Versioned) or _tracked(ctx.app.root, path):
        return None
    before = ctx.previous_target()
    previous: dict[str, str] | None = None
    if before is not None:
        if not isinstance(before[1], memo.Versioned):
            return None
        previous = before[1].versions()
    settings = {
        "environment": ctx.name,
        "environments": [e.model_dump(mode="json") for e in ctx.environments],
    }
    key = memo.key({"files": ctx.fingerprint()}, settings, prune)
    return Fingerprints(path, key, target.versions(), previous)


def remember(prints: Fingerprints | None, planned: Planned) -> None:
    """After an apply that had nothing to do: the plan, for the next one. After changes:
    forget (the next apply plans in full, and remembers if it finds nothing to do)."""
    if prints is None:
        return
    if planned.plan.empty and not planned.remembered:
        memo.remember(prints.path, prints.key, planned.plan, prints.versions, prints.previous)
    elif not planned.plan.empty:
        prints.path.unlink(missing_ok=True)


def _tracked(root: Path, path: Path) -> bool:
    """A memo file committed to the repository is not alm's own: never trusted."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--", str(path.relative_to(root))],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode != 0 or bool(done.stdout.strip())
