"""Desired against live: what apply must do in one environment. Pure: no target, no clock.

Per agent, in name order (the first rule that holds decides):

- desired, not live: `create` (or `held`, below).
- live, not desired: `pinned` when pinned; `delete` with prune; else `unchanged`, saying
  that --prune deletes it.
- unreadable on the target (not a bundle for its name: `Unreadable`): `repair` when
  desired (the desired bundle written over it; `held` when promotion order holds the
  agent); not desired: `delete` with prune, else `unchanged`, saying --prune deletes it.
- live with a pin to another revision than desired: `pinned`, left alone.
- a revision change into an environment whose gates want the previous one: `held` unless
  the desired revision is live (and intact) in the agent's previous environment: the
  nearest earlier one in promotion order that the agent itself lists in
  deploy.environments (`Promotion`). An agent that lists none before this one is not held
  by that gate, and its reason says so.
- live content no longer hashing to its revision (edited in place): `repair`.
- a pin whose revision is now desired (the revert was merged): `update` that writes the
  bundle without the pin, which lifts it.
- another revision: `update`; the same: `unchanged` (who deployed it is outside the hash).

After the changes are applied the same inputs plan nothing (idempotent).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from reconciler.deploy.model import Action, Bundle, DeployPlan, Live, Unreadable, short_revision

UNMANAGED = "not in the desired state; --prune deletes it"
UNGATED = (
    "it lists no environment before this one in deploy.environments: "
    "the previous-environment gate does not apply to it"
)


@dataclass(frozen=True)
class Promotion:
    """The previous-environment gate, per agent. `gate[agent]`: the environment whose live
    state must hold the agent's desired revision first (`gate_environment`), or None when
    the agent lists no environment before this one (no such gate for it; a desired agent
    missing from `gate` is None too); `live[environment]`: what that environment holds."""

    gate: Mapping[str, str | None]
    live: Mapping[str, Mapping[str, Live]]


# a Promotion, or one previous environment's live state for every agent
Previous = Promotion | Mapping[str, Live]


def gate_environment(order: Sequence[str], environment: str, listed: Collection[str]) -> str | None:
    """The nearest environment before `environment` in promotion `order` that the agent
    lists (`listed`: its deploy.environments), or None when it lists none before it."""
    earlier = order[: order.index(environment)] if environment in order else []
    return next((name for name in reversed(earlier) if name in listed), None)


def plan(
    environment: str,
    desired: Mapping[str, Bundle],
    live: Mapping[str, Live],
    *,
    prune: bool = False,
    previous: Previous | None = None,
    unreadable: Mapping[str, Unreadable] | None = None,
) -> DeployPlan:
    """The plan for one environment. `previous`, when this environment's gates want the
    previous environment: per agent (`Promotion`), or one environment's live state for
    every agent (a mapping); None: no such gate. `unreadable`: what the target holds
    that is not a bundle (Scan.unreadable)."""
    actions: list[Action] = []
    warnings: list[str] = []
    broken = unreadable or {}
    for agent in sorted(set(desired) | set(live) | set(broken)):
        want, have = desired.get(agent), live.get(agent)
        if have is None and agent in broken:
            action = _unreadable(agent, want, broken[agent], prune, previous)
            actions.append(action)
            if action.kind == "held":
                warnings.append(f"{agent}: {_words(broken[agent])}; it is held, so not repaired")
            continue
        if want is None:
            assert have is not None  # in the union
            actions.append(_unwanted(agent, have, prune))
            continue
        action = _wanted(agent, want, have, previous)
        actions.append(action)
        if action.kind == "held" and have is not None and not have.bundle.intact:
            warnings.append(
                f"{agent}: the live bundle was edited in place (its content no longer matches "
                f"{have.bundle.revision}); it is held, so not repaired"
            )
    return DeployPlan(environment, tuple(actions), tuple(warnings))


def _unwanted(agent: str, have: Live, prune: bool) -> Action:
    revision = have.bundle.revision
    if have.bundle.pin is not None:
        return Action("pinned", agent, revision, None, _pin_reason(have) + "; " + UNMANAGED)
    if prune:
        return Action("delete", agent, revision, None, "not in the desired state (--prune)")
    return Action("unchanged", agent, revision, None, UNMANAGED)


def _words(bad: Unreadable) -> str:
    return f"unreadable on the target: {bad.words()}"


def _unreadable(
    agent: str, want: Bundle | None, bad: Unreadable, prune: bool, previous: Previous | None
) -> Action:
    """An entry that is not a bundle: the desired bundle is written over it (a repair),
    unless promotion order holds the agent; one the fleet does not name is deleted only
    with --prune (conditional on the bytes read, audited; a target keeps no history of it)."""
    what = _words(bad)
    if want is None:
        if prune:
            return Action(
                "delete", agent, None, None, f"{what}; not in the desired state (--prune)"
            )
        return Action("unchanged", agent, None, None, f"{what}; {UNMANAGED}")
    held = _held(agent, want.revision, previous)
    if held:
        return Action("held", agent, None, want.revision, held)
    reason = f"{what}; the desired bundle is written over it"
    return Action("repair", agent, None, want.revision, reason, want)


def _wanted(agent: str, want: Bundle, have: Live | None, previous: Previous | None) -> Action:
    after = want.revision
    if have is None:
        held = _held(agent, after, previous)
        if held:
            return Action("held", agent, None, after, held)
        why = "new in this environment" + _ungated(agent, previous)
        return Action("create", agent, None, after, why, want)
    before, pin = have.bundle.revision, have.bundle.pin
    if pin is not None and pin.revision != after:
        return Action("pinned", agent, before, after, _pin_reason(have))
    held = _held(agent, after, previous) if before != after else ""
    if held:
        return Action("held", agent, before, after, held)
    if not have.bundle.intact:
        reason = "the live bundle was edited in place: its content no longer matches its revision"
        return Action("repair", agent, before, after, reason, want)
    if pin is not None:
        reason = f"pin lifted: the desired revision is now the pinned one ({pin.revision})"
        return Action("update", agent, before, after, reason, want)
    if before != after:
        why = "the desired revision changed" + _ungated(agent, previous)
        return Action("update", agent, before, after, why, want)
    return Action("unchanged", agent, before, after, "")


def _held(agent: str, revision: str, previous: Previous | None) -> str:
    """Why `revision` may not come here yet, or "" when it may."""
    if previous is None:
        return ""
    if isinstance(previous, Promotion):
        before = previous.gate.get(agent)
        if before is None:
            return ""
        there = previous.live.get(before, {}).get(agent)
        where = before
    else:
        there = previous.get(agent)
        where = there.bundle.environment if there is not None else "the previous environment"
    if there is not None and there.bundle.revision == revision and there.bundle.intact:
        return ""
    live_there = "not deployed there"
    if there is not None:
        live_there = f"live there: {short_revision(there.bundle.revision)}"
    return (
        f"{short_revision(revision)} is not live in {where} yet ({live_there}); "
        "promotion order holds it"
    )


def _ungated(agent: str, previous: Previous | None) -> str:
    """The note for an agent the previous-environment gate does not apply to."""
    if isinstance(previous, Promotion) and previous.gate.get(agent) is None:
        return f"; {UNGATED}"
    return ""


def _pin_reason(have: Live) -> str:
    pin = have.bundle.pin
    assert pin is not None
    why = f": {pin.reason}" if pin.reason else ""
    return (
        f"pinned to {short_revision(pin.revision)} by {pin.by} at {pin.at}{why}; "
        "alm unpin or merging the revert lifts it"
    )
