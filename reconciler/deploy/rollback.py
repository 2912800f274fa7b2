"""A rollback that sticks: restore an earlier revision of one agent and pin it there.

The revision restored is `--to` (a full revision, or an unambiguous prefix of one in the
target's history) or, without it, the newest revision in the target's history that is
not the live one nor one a rollback replaced; for an agent deleted from the target
(`apply --prune`), the revision deleted. Its bundle comes from that history entry when
the target kept it, else from `find_bundle` (the caller rebuilds it from the
repository's history); either way it must hash to the revision. The write is
conditional on the live entry just read (or on there being none), and audited like an
apply (`started`, then its result). `alm apply` leaves a pinned agent alone until
`unpin` (or a desired revision equal to the pinned one) lifts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.deploy import audit
from reconciler.deploy.journal import Recorder, settle, utc_now
from reconciler.deploy.model import (
    Bundle,
    Conflict,
    Deployment,
    HistoryEntry,
    Live,
    Pin,
    Unreadable,
    revision_held,
    short_revision,
)
from reconciler.deploy.targets import BatchTarget, Write
from reconciler.errors import AlmError

FindBundle = Callable[[str], Bundle | None]


@dataclass(frozen=True)
class Restored:
    agent: str
    environment: str
    before: str  # the live revision it replaced; "" when none was live (deleted: --prune)
    revision: str  # the revision now live, pinned
    pin: Pin
    source: str  # where its bundle came from: "the target's history" or the finder's word
    bad_commit: str | None = None  # the commit the rolled-back bundle was deployed from


def choose(live: Live, history: Sequence[HistoryEntry], to: str | None) -> str:
    """The revision to restore: `to` resolved against history, or the previous one. The
    previous one is never a revision a rollback replaced: a second rollback (a retried
    job, an hourly breach check) goes further back, never forward to the bad revision."""
    kept = [e for e in history if not e.deleted]
    if to is not None:
        return _named(live.bundle.agent, to, [*(e.revision for e in kept), live.bundle.revision])
    current = live.bundle.revision
    skip = {current}
    for i in reversed(range(len(kept))):  # newest first
        if kept[i].revision not in skip:
            return kept[i].revision
        if i > 0 and _rolled_back_to(kept[i], kept[i - 1].revision):
            skip.add(kept[i - 1].revision)
    undone = sorted(skip - {current})
    besides = f" other than {', '.join(undone)} (rolled back from)" if undone else ""
    raise AlmError(
        f"{live.bundle.agent}: the target's history has no revision before {current}"
        f"{besides}; name one with --to"
    )


def choose_removed(agent: str, history: Sequence[HistoryEntry], to: str | None) -> str:
    """For an agent deleted from the target (an apply --prune): `to`, or the revision
    deleted last. An agent the target never held has nothing to restore."""
    if not history:
        raise AlmError("nothing to roll back")
    if to is not None:
        return _named(agent, to, [e.revision for e in history])
    return history[-1].revision


def _rolled_back_to(entry: HistoryEntry, before: str) -> bool:
    """Whether `entry` is a rollback's write: its bundle pinned to itself, replacing
    `before` (the entry written just before it in the target's history)."""
    pin = entry.bundle.pin if entry.bundle is not None else None
    return pin is not None and pin.revision == entry.revision != before


def _named(agent: str, to: str, known: Sequence[str]) -> str:
    digits = to.removeprefix("sha256:").lower()
    if len(digits) == 64:
        return f"sha256:{digits}"
    matches = sorted({r for r in known if r.removeprefix("sha256:").startswith(digits)})
    if len(digits) >= 7 and len(matches) == 1:
        return matches[0]
    if not matches or len(digits) < 7:
        raise AlmError(
            f"{agent}: --to {to} names no revision in the target's history; expected a "
            "revision (sha256:...) or at least 7 of its hex digits"
        )
    raise AlmError(f"{agent}: --to {to} matches {len(matches)} revisions; give more digits")


def bundle_for(
    revision: str, history: Sequence[HistoryEntry], find_bundle: FindBundle
) -> tuple[Bundle, str]:
    for entry in reversed(history):
        kept = entry.bundle
        if entry.revision == revision and kept is not None and kept.intact:
            return kept, "the target's history"
    found = find_bundle(revision)
    if found is None or found.revision != revision or not found.intact:
        raise AlmError(
            f"{revision}: its bundle is neither in the target's history nor rebuilt from "
            "the repository's history; nothing was changed"
        )
    return found, "the repository's history"


def rollback(
    target: BatchTarget,
    audit_store: audit.AuditStore,
    agent: str,
    deployment: Deployment,
    *,
    to: str | None,
    find_bundle: FindBundle,
    environment: str,
    now: Callable[[], str] = utc_now,
) -> Restored:
    rec = Recorder(audit_store, environment, deployment, now)
    settle(target, rec)  # what an interrupted run left unsettled, before adding records
    found = target.entry(agent)  # an unreadable entry is restored like a deleted one
    live = found if isinstance(found, Live) else None
    history = target.history(agent)
    try:
        revision = choose(live, history, to) if live else choose_removed(agent, history, to)
    except AlmError as exc:
        if live is None:  # the message users know, with why
            raise AlmError(f"{agent} is not deployed in {environment}: {exc}") from None
        raise
    bundle, source = bundle_for(revision, history, find_bundle)
    before = live.bundle.revision if live else ""
    reason = f"rolled back from {short_revision(before) if live else _nothing(found)}"
    origin = bundle.deployment  # the restored revision keeps the commit it was built from
    if origin is not None:
        deployment = deployment.model_copy(
            update={"commit": origin.commit, "ref": origin.ref, "pull_request": origin.pull_request}
        )
        rec = Recorder(audit_store, environment, deployment, now)
    pin = Pin(revision=revision, at=now(), by=deployment.by, reason=reason)
    pinned = bundle.model_copy(
        update={"environment": environment, "deployment": deployment, "pin": pin}
    )
    audited_write(target, rec, "rollback", Write(agent, pinned, found), reason)
    deployed = live.bundle.deployment if live else None
    bad = deployed.commit if deployed else None
    return Restored(agent, environment, before, revision, pin, source, bad)


def _nothing(found: Unreadable | Live | None) -> str:
    if isinstance(found, Unreadable):
        return f"an unreadable entry ({found.words()})"
    return "nothing live (deleted)"


def unpin(
    target: BatchTarget,
    audit_store: audit.AuditStore,
    agent: str,
    deployment: Deployment,
    *,
    environment: str,
    now: Callable[[], str] = utc_now,
) -> Pin | None:
    """Lift the pin (the bundle stays as it is); None when the agent was not pinned."""
    rec = Recorder(audit_store, environment, deployment, now)
    settle(target, rec)
    live = target.read(agent)
    if live is None:
        raise AlmError(f"{agent} is not deployed in {environment}: nothing to unpin")
    pin = live.bundle.pin
    if pin is None:
        return None
    lifted = live.bundle.model_copy(update={"pin": None})
    audited_write(target, rec, "unpin", Write(agent, lifted, live), f"pin to {pin.revision} lifted")
    return pin


def audited_write(
    target: BatchTarget, rec: Recorder, action: str, write: Write, detail: str
) -> None:
    """One conditional write, recorded `started` before and with its result after."""
    assert write.bundle is not None
    before = revision_held(write.expected)
    after = write.bundle.revision
    rec.write(action, write.agent, before, after, "started", detail)
    error = target.write_many([write]).failed.get(write.agent)
    result = "ok" if error is None else "conflict" if isinstance(error, Conflict) else "failed"
    rec.write(action, write.agent, before, after, result, str(error or detail))
    if isinstance(error, Conflict):
        raise AlmError(
            f"{write.agent} changed on the target while running {action}; nothing was "
            f"overwritten: run alm {action} again"
        )
    if error is not None:
        raise AlmError(f"{write.agent}: {action} failed: {error}")
