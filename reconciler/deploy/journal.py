"""The audit side of applying: records stamped with who deploys and from what, and how
writes an interrupted run left `started` are settled.

Every write is recorded `started` before it is made and with its result after. A run
killed between the two leaves `started` records at the end of the log: each command that
writes (apply, rollback, unpin) first settles them, under the environment's lock, by
reading what the target holds, and appends all the settling records in one append. So
unsettled records are only ever the trailing run of `started` records, and settling
reads the log's tail, not the whole log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.deploy import audit
from reconciler.deploy.model import Bundle, Deployment, Pin, revision_held
from reconciler.deploy.targets import BatchTarget


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Recorder:
    """Writes audit records for one environment, stamped with who and from what."""

    store: audit.AuditStore
    environment: str
    deployment: Deployment
    now: Callable[[], str] = utc_now

    def write(
        self,
        action: str,
        agent: str,
        before: str | None,
        after: str | None,
        result: str,
        detail: str = "",
    ) -> dict[str, Any]:
        return audit.record(self.store, **self.fields(action, agent, before, after, result, detail))

    def fields(
        self,
        action: str,
        agent: str,
        before: str | None,
        after: str | None,
        result: str,
        detail: str = "",
    ) -> dict[str, Any]:
        d = self.deployment
        return {
            "action": action,
            "agent": agent,
            "environment": self.environment,
            "from": before,
            "to": after,
            "commit": d.commit,
            "pull_request": d.pull_request,
            "merged_by": d.merged_by,
            "approved_by": list(d.approved_by),
            "actor": d.by,
            "at": self.now(),
            "result": result,
            "detail": detail,
        }


def stamped(bundle: Bundle, deployment: Deployment, pin: Pin | None = None) -> Bundle:
    """The bundle as written: who deployed it, and a pin only when one is given."""
    return bundle.model_copy(update={"deployment": deployment, "pin": pin})


def settle(target: BatchTarget, rec: Recorder) -> tuple[str, ...]:
    """Record how each write an earlier, interrupted run started actually ended."""
    notes: list[str] = []
    settled: list[dict[str, Any]] = []
    for entry in dangling(trailing(rec.store.read()), rec.environment):
        agent, after = str(entry["agent"]), entry.get("to")
        now = revision_held(target.entry(agent))  # an unreadable entry holds no revision
        landed = now == after
        word = "was done" if landed else f"was not done (live: {now or 'absent'})"
        detail = f"settled after an interrupted run: the write {word}"
        result = "ok" if landed else "interrupted"
        action = str(entry["action"])
        settled.append(rec.fields(action, agent, entry.get("from"), after, result, detail))
        notes.append(f"{agent}: {action} to {after or 'nothing'} {word}")
    if settled:
        audit.record_many(rec.store, settled)  # one append: all settled, or none
    return tuple(notes)


def trailing(data: bytes) -> list[dict[str, Any]]:
    """The `started` records at the end of a log (a torn last line skipped), oldest first."""
    found: list[dict[str, Any]] = []
    for line in reversed(data.split(b"\n")[:-1]):
        try:
            entry = json.loads(line)
        except ValueError:
            break  # not a record: `alm audit verify` names it
        if not isinstance(entry, dict) or entry.get("result") != "started":
            break
        found.append(entry)
    return found[::-1]


def dangling(entries: Iterable[Mapping[str, Any]], environment: str) -> list[Mapping[str, Any]]:
    """`started` records with no later record for the same agent in this environment."""
    open_: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        if entry.get("environment") != environment:
            continue
        agent = str(entry.get("agent"))
        if entry.get("result") == "started":
            open_[agent] = entry
        else:
            open_.pop(agent, None)
    return list(open_.values())
