"""The plan alm apply acts on: remembered when nothing changed since an apply that had
nothing to do (reconciler.deploy.memo), else made in full from the desired state, the
live state and, when the gates want it, the previous environment's live state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reconciler.cli.deploy_context import EnvContext
from reconciler.deploy import memo
from reconciler.deploy import plan as planner
from reconciler.deploy.model import Bundle, DeployPlan, Live, Unreadable
from reconciler.deploy.targets import BatchTarget
from reconciler.errors import AlmError
from reconciler.tracked import foreign


@dataclass
class Planned:
    plan: DeployPlan
    live: dict[str, Live | Unreadable] = field(default_factory=dict)  # as read: Scan.entries
    desired: dict[str, Bundle] = field(default_factory=dict)
    previous: planner.Previous | None = None
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
    previous = ctx.promotion()
    found = target.scan()  # an entry that is not a bundle is planned (repair), not raised
    made = planner.plan(
        ctx.name, desired, found.lives, prune=prune, previous=previous, unreadable=found.unreadable
    )
    return Planned(made, found.entries(), desired, previous), prints


def fingerprints(ctx: EnvContext, target: BatchTarget, prune: bool) -> Fingerprints | None:
    path = memo.memo_path(ctx.app.root, ctx.name)
    if not isinstance(target, memo.Versioned) or foreign(ctx.app.root, path):  # not alm's
        return None
    previous = _earlier_versions(ctx)
    if previous is None:
        return None
    settings = {
        "environment": ctx.name,
        "environments": [e.model_dump(mode="json") for e in ctx.environments],
    }
    key = memo.key({"files": ctx.fingerprint()}, settings, prune)
    return Fingerprints(path, key, target.versions(), previous)


def _earlier_versions(ctx: EnvContext) -> dict[str, str] | None:
    """The versions of every environment an agent's promotion gate may read (each agent's
    is the nearest earlier one it lists: known only once the fleet is loaded), keyed
    `env/agent`; {} without the gate; None when one cannot list them without reading."""
    try:
        earlier = ctx.earlier_targets()
    except AlmError:  # e.g. a token not set: the plan in full says so
        return None
    found: dict[str, str] = {}
    for name, before in earlier:
        if not isinstance(before, memo.Versioned):
            return None
        found.update({f"{name}/{agent}": v for agent, v in before.versions().items()})
    return found


def remember(
    prints: Fingerprints | None,
    planned: Planned,
    evals_held: bool = False,
    written: memo.Recording | None = None,
) -> None:
    """After an apply that had nothing to do: the plan, for the next one. After changes
    all written (`written`): the plan that leaves, as the next apply would find it
    (memo.after_apply). Else, or when the evals gate held an agent (its outcome depends
    on evals/, which the fingerprints leave out): forget (the next apply plans in full)."""
    if prints is None:
        return
    if planned.plan.empty and not planned.remembered and not evals_held:
        memo.remember(prints.path, prints.key, planned.plan, prints.versions, prints.previous)
    elif not planned.plan.empty or evals_held:
        settled = None
        if written is not None and not evals_held:
            settled = memo.after_apply(
                planned.plan, planned.desired, prints.versions, written, previous=planned.previous
            )
        if settled is None:
            prints.path.unlink(missing_ok=True)
        else:
            memo.remember(prints.path, prints.key, settled[0], settled[1], prints.previous)
