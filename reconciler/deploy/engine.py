"""Apply a deploy plan to a target: the one place in alm that changes what runs.

Every change is audited twice: a `started` record before the write and its result after
(`ok`, `failed`, `conflict`), so an apply killed between the two leaves a dangling
`started` that the next apply settles by reading the target (`settle`). One agent
failing never undoes the others: each write is conditional on what the plan read, a
failed agent keeps its previous revision, the rest go on. A Conflict (someone changed
the agent since it was read) re-reads and re-plans that agent once; a second Conflict
is reported, never overwritten. With `rollback_on_failure`, a failed agent is put back
on its previous revision and pinned there (a rollback that sticks: the next apply does
not retry the failed revision until the pin is lifted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from reconciler.deploy import audit
from reconciler.deploy import plan as planner
from reconciler.deploy.journal import Recorder, settle, stamped, utc_now
from reconciler.deploy.model import (
    Action,
    Bundle,
    Conflict,
    Deployment,
    DeployPlan,
    Live,
    Pin,
    Unreadable,
    revision_held,
)
from reconciler.deploy.targets import BatchResult, BatchTarget, Write
from reconciler.errors import AlmError

State = Literal[
    "created", "updated", "repaired", "deleted", "unchanged", "pinned", "held", "failed"
]
DONE: dict[str, State] = {
    "create": "created",
    "update": "updated",
    "repair": "repaired",
    "delete": "deleted",
    "unchanged": "unchanged",
    "pinned": "pinned",
    "held": "held",
}
CHANGES = ("create", "update", "repair", "delete")
# given an agent and what the target holds now, the action the planner picks for it
Replan = Callable[[str, Live | Unreadable | None], Action]


def replanner(
    environment: str,
    desired: Mapping[str, Bundle],
    *,
    prune: bool = False,
    previous: planner.Previous | None = None,
) -> Replan:
    """Plans one agent again against a fresh read, with the apply's own inputs."""

    def again(agent: str, fresh: Live | Unreadable | None) -> Action:
        want = {agent: desired[agent]} if agent in desired else {}
        have = {agent: fresh} if isinstance(fresh, Live) else {}
        bad = {agent: fresh} if isinstance(fresh, Unreadable) else {}
        actions = planner.plan(
            environment, want, have, prune=prune, previous=previous, unreadable=bad
        ).actions
        return actions[0] if actions else Action("unchanged", agent, None, None, "gone")

    return again


@dataclass(frozen=True)
class Outcome:
    """What became of one agent: `live` is its revision on the target afterwards."""

    agent: str
    action: Action
    state: State
    live: str | None
    detail: str = ""
    rolled_back: bool = False
    unread: bool = False  # a failed write the target could not be read back after: `live`
    # is what the plan read, and whether the write landed is unknown


@dataclass(frozen=True)
class ApplyResult:
    environment: str
    outcomes: tuple[Outcome, ...]
    settled: tuple[str, ...] = ()  # interrupted applies found in the audit log, now recorded

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.state == "failed")

    @property
    def ok(self) -> bool:
        return not self.failed


Entries = Mapping[str, Live | Unreadable | None]  # what the plan read, readable or not


def _write_of(action: Action, live: Entries, d: Deployment) -> Write:
    expected = live.get(action.agent)
    if action.kind == "delete":
        return Write(action.agent, None, expected)
    if action.bundle is None:
        raise AlmError(f"{action.agent}: the plan's {action.kind} carries no bundle")
    return Write(action.agent, stamped(action.bundle, d), expected)


def _written(
    target: BatchTarget, rec: Recorder, actions: Sequence[Action], live: Entries
) -> tuple[dict[str, Live | None], dict[str, Exception]]:
    """Audit each change as started, write them as one batch, audit each result."""
    writes = [_write_of(a, live, rec.deployment) for a in actions]
    started = [rec.fields(a.kind, a.agent, a.before, a.after, "started", a.reason) for a in actions]
    audit.record_many(rec.store, started)
    try:
        result = target.write_many(writes)
    except (AlmError, OSError) as exc:  # the batch as a whole (a git branch that kept moving)
        result = BatchResult(failed={a.agent: exc for a in actions})
    ended = []
    for a in actions:
        error = result.failed.get(a.agent)
        if a.agent not in result.done and error is None:
            error = AlmError(f"{a.agent}: the target reported no outcome for this write")
            result.failed[a.agent] = error
        outcome = "ok" if error is None else "conflict" if isinstance(error, Conflict) else "failed"
        ended.append(rec.fields(a.kind, a.agent, a.before, a.after, outcome, str(error or "")))
    audit.record_many(rec.store, ended)
    return result.done, result.failed


def apply(
    plan: DeployPlan,
    target: BatchTarget,
    audit_store: audit.AuditStore,
    deployment: Deployment,
    *,
    live: Entries,
    replan: Replan | None = None,
    rollback_on_failure: bool = False,
    now: Callable[[], str] = utc_now,
) -> ApplyResult:
    """Carry out `plan` (made from `live`, what the target held: Scan.entries()) on
    `target`; a write over an Unreadable entry is conditional on its version too."""
    rec = Recorder(audit_store, plan.environment, deployment, now)
    settled = settle(target, rec)
    changes = [a for a in plan.actions if a.kind in CHANGES]
    done, failed = _written(target, rec, changes, live) if changes else ({}, {})
    outcomes: list[Outcome] = []
    for action in plan.actions:
        agent, before = action.agent, live.get(action.agent)
        if action.kind not in CHANGES:
            outcomes.append(Outcome(agent, action, DONE[action.kind], action.before, action.reason))
        elif agent in done:
            outcomes.append(Outcome(agent, action, DONE[action.kind], _revision(done[agent])))
        else:
            error = failed[agent]
            if isinstance(error, Conflict) and replan is not None:
                outcome = _replanned(target, rec, action, replan)
            else:
                outcome = _as_found(target, _failure(action, before, error), before)
            if outcome.state == "failed" and rollback_on_failure:
                outcome = _rolled_back(target, rec, outcome, before)
            outcomes.append(outcome)
    return ApplyResult(plan.environment, tuple(outcomes), settled)


_revision = revision_held


def _failure(action: Action, before: Live | Unreadable | None, error: Exception) -> Outcome:
    kept = f"keeps {before.bundle.revision}" if isinstance(before, Live) else "is not deployed"
    if isinstance(before, Unreadable):
        kept = "keeps the unreadable entry"
    why = "changed on the target while applying" if isinstance(error, Conflict) else str(error)
    return Outcome(action.agent, action, "failed", _revision(before), f"{why}; it {kept}")


def _as_found(target: BatchTarget, failed: Outcome, before: Live | Unreadable | None) -> Outcome:
    """A failed write's outcome with what the target holds now: a write can land and still
    report a failure (a lost answer, a step after the write failing)."""
    try:
        found = target.entry(failed.agent)
        if isinstance(found, Unreadable) and found != before:
            raise AlmError(found.words())
    except (AlmError, OSError) as exc:
        detail = failed.detail.rsplit("; it ", 1)[0]
        unknown = f"whether it landed is unknown: cannot read it back: {exc}"
        return replace(failed, detail=f"{detail}; {unknown}", unread=True)
    now = _revision(found)
    if now == failed.live:
        return failed
    detail = failed.detail.rsplit("; it ", 1)[0]
    return replace(failed, live=now, detail=f"{detail}; the target now holds {now or 'nothing'}")


def _replanned(target: BatchTarget, rec: Recorder, action: Action, replan: Replan) -> Outcome:
    """After a Conflict: read the agent again, plan it again, write once more."""
    agent = action.agent
    try:
        fresh = target.entry(agent)
    except (AlmError, OSError) as exc:
        why = f"changed on the target, then unreadable: {exc}"
        return Outcome(agent, action, "failed", action.before, why)
    again = replan(agent, fresh)
    note = "re-planned after a conflict (changed on the target since it was read)"
    if again.kind not in CHANGES:
        return Outcome(agent, again, DONE[again.kind], _revision(fresh), note)
    done, failed = _written(target, rec, [again], {agent: fresh})
    if agent in done:
        return Outcome(agent, again, DONE[again.kind], _revision(done[agent]), note)
    error = failed[agent]
    if isinstance(error, Conflict):
        error = AlmError("changed on the target again while re-applying; not overwritten")
    return _failure(again, fresh, error)


def _rolled_back(
    target: BatchTarget, rec: Recorder, failed: Outcome, before: Live | Unreadable | None
) -> Outcome:
    """rollback_on_failure: put the previous revision back (pinned), or remove a failed
    create, conditional on what the target holds now."""
    agent, action = failed.agent, failed.action
    if action.kind == "delete":
        return failed  # a failed delete leaves the agent as it was
    if isinstance(before, Unreadable):  # no earlier bundle to go back to
        return replace(failed, detail=f"{failed.detail}; no rollback: it was unreadable before")
    try:
        fresh = target.entry(agent)
    except (AlmError, OSError) as exc:
        return replace(failed, detail=f"{failed.detail}; no rollback: cannot read it: {exc}")
    reason = f"automatic rollback: {action.kind} to {action.after} failed ({failed.detail})"
    if before is None:
        if fresh is None:
            return failed  # nothing was created: nothing to undo
        write = Write(agent, None, fresh)
    else:
        pin = Pin(
            revision=before.bundle.revision, at=rec.now(), by=rec.deployment.by, reason=reason
        )
        write = Write(agent, before.bundle.model_copy(update={"pin": pin}), fresh)
    rec.write("rollback", agent, _revision(fresh), _revision(before), "started", reason)
    result = target.write_many([write])
    error = result.failed.get(agent)
    rec.write(
        "rollback",
        agent,
        _revision(fresh),
        _revision(before),
        "ok" if error is None else "failed",
        str(error or reason),
    )
    if error is not None:
        return replace(failed, detail=f"{failed.detail}; the rollback failed too: {error}")
    restored = f"rolled back to {before.bundle.revision} and pinned" if before else "removed"
    return replace(
        failed, live=_revision(before), detail=f"{failed.detail}; {restored}", rolled_back=True
    )
