"""How the deploy commands word plans, results, status and drift (text; status also JSON).
Pure: each function returns the text; the commands print it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.cli.output import printable
from reconciler.deploy.drift import DriftReport
from reconciler.deploy.engine import ApplyResult, Outcome
from reconciler.deploy.model import Action, Bundle, DeployPlan, Live, Unreadable, short_revision
from reconciler.wording import plural

KINDS = ("create", "update", "repair", "delete", "unchanged", "pinned", "held")
SYNCS = ("Synced", "OutOfSync", "Missing", "Pinned")
STATES = ("created", "updated", "repaired", "deleted", "failed")


short = short_revision


def _arrow(before: str | None, after: str | None) -> str:
    if before == after or after is None:
        return short(before)
    if before is None:
        return short(after)
    return f"{short(before)} -> {short(after)}"


def _action_line(a: Action) -> str:
    why = f"  ({a.reason})" if a.reason else ""
    return f"  {a.kind:<9} {a.agent}  {_arrow(a.before, a.after)}{why}"


def plan_text(plan: DeployPlan, where: str, source: str) -> str:
    """The plan as apply prints it before acting: every change, pinned and held agent,
    and the unchanged ones only when there is something to say about them."""
    lines = [f"plan for {plan.environment} ({where}), desired state from {source}:"]
    shown = [a for a in plan.actions if a.kind != "unchanged" or a.reason]
    lines += [_action_line(a) for a in shown]
    lines += [f"  warning: {w}" for w in plan.warnings]
    counts: Counter[str] = Counter(a.kind for a in plan.actions)
    lines.append("plan: " + ", ".join(f"{counts[k]} {k}" for k in KINDS))
    if plan.empty:
        lines.append("nothing to apply")
    return printable("\n".join(lines))


def _outcome_line(o: Outcome) -> str:
    detail = f"  ({o.detail})" if o.detail else ""
    return f"  {o.state:<9} {o.agent}  {_arrow(o.action.before, o.live)}{detail}"


def result_text(result: ApplyResult) -> str:
    """What the apply did: each change and failure (the plan already listed the rest)."""
    lines = [f"interrupted earlier: {note}" for note in result.settled]
    changed = [o for o in result.outcomes if o.state in STATES]
    if changed:
        lines += [f"applied to {result.environment}:", *(_outcome_line(o) for o in changed)]
        counts: Counter[str] = Counter(o.state for o in result.outcomes)
        lines.append("result: " + ", ".join(f"{counts[s]} {s}" for s in STATES))
    pinned = [o.agent for o in result.outcomes if o.state == "pinned"]
    if pinned:
        lines.append(f"left alone (pinned): {', '.join(pinned)}")
    return printable("\n".join(lines))


def failure_message(result: ApplyResult) -> str:
    failed = result.failed
    names = ", ".join(f"{o.agent} ({_left(o)})" for o in failed)
    return (
        f"{len(failed)} of {plural(len(result.outcomes), 'agent')} failed in {result.environment}: "
        f"{names}; every other agent was applied"
    )


def _left(failed: Outcome) -> str:
    """What a failed agent was left with: never "kept" when the write landed after all."""
    if failed.rolled_back:
        return f"rolled back to {short(failed.live)}"
    if failed.unread:
        return "unknown: the target could not be read back"
    if failed.live == failed.action.before:
        return f"kept {short(failed.live)}"
    return f"the target holds {short(failed.live)}"


def sync_of(want: Bundle | None, have: Live | Unreadable | None) -> str:
    if isinstance(have, Unreadable):
        return "OutOfSync"
    if have is not None and have.bundle.pin is not None:
        return "Pinned"
    if have is None:
        return "Missing"
    if want is not None and have.bundle.revision == want.revision and have.bundle.intact:
        return "Synced"
    return "OutOfSync"


def status_rows(
    desired: Mapping[str, Bundle],
    live: Mapping[str, Live],
    unreadable: Mapping[str, Unreadable] | None = None,
) -> list[dict[str, Any]]:
    """One row per agent; an unreadable entry is OutOfSync, with what is wrong in
    `unreadable` (None for the others)."""
    broken = unreadable or {}
    rows = []
    for name in sorted(set(desired) | set(live) | set(broken)):
        want, have = desired.get(name), live.get(name)
        bad = broken.get(name) if have is None else None
        bundle = have.bundle if have else None
        deployed = bundle.deployment if bundle else None
        pin = bundle.pin if bundle else None
        rows.append(
            {
                "name": name,
                "desired": want.revision if want else None,
                "live": bundle.revision if bundle else None,
                "sync": sync_of(want, bad or have),
                "unreadable": bad.words() if bad else None,
                "intact": bundle.intact if bundle else None,
                "deployed_at": deployed.at if deployed else None,
                "deployed_by": deployed.by if deployed else None,
                "commit": deployed.commit if deployed else None,
                "pull_request": deployed.pull_request if deployed else None,
                "pin": pin.model_dump(mode="json") if pin else None,
            }
        )
    return rows


def status_json(environment: str, where: str, rows: list[dict[str, Any]]) -> str:
    return json.dumps({"environment": environment, "target": where, "agents": rows}, indent=2)


def status_text(environment: str, where: str, rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [f"{environment} ({where}):"]
    for r in rows:
        when = f"  deployed {r['deployed_at']} by {r['deployed_by']}" if r["deployed_at"] else ""
        pin = r["pin"]
        pinned = f"  pinned to {short(pin['revision'])} by {pin['by']}" if pin else ""
        edited = "  (edited in place)" if r["intact"] is False else ""
        edited += f"  (unreadable: {r['unreadable']})" if r.get("unreadable") else ""
        why = f"  ({r['why']})" if r.get("why") else ""
        lines.append(
            f"  {r['sync']:<9} {r['name']}  live {short(r['live'])}  "
            f"desired {short(r['desired'])}{when}{pinned}{edited}{why}"
        )
    counts = Counter(r["sync"] for r in rows)
    lines.append(
        ", ".join(f"{counts[s]} {s}" for s in ("Synced", "OutOfSync", "Missing", "Pinned"))
    )
    return printable("\n".join(lines))


def drift_text(report: DriftReport, where: str, mode: str) -> str:
    lines = []
    for item in report.items:
        lines.append(f"  {item.agent}: {item.summary()}")
        lines += [f"    {d.words()}" for d in item.differences]
        if item.more:
            lines.append(f"    ... and {item.more} more differences")
    if report.pinned:
        lines.append(f"pinned by a rollback (not drift): {', '.join(report.pinned)}")
    if report.ignored:
        lines.append(f"differ only at ignored paths: {', '.join(report.ignored)}")
    if not report.drifted:
        head = f"no drift in {report.environment} ({where})"
    else:
        warn = " (drift.mode: warn, not failing)" if mode == "warn" else ""
        agents = plural(len(report.items), "agent")
        head = f"drift in {report.environment} ({where}): {agents}{warn}"
    return printable("\n".join([head, *lines]))


def audit_lines(records: Iterable[Mapping[str, Any]]) -> str:
    lines = []
    for r in records:
        where = f"{r.get('environment')}/{r.get('agent')}"
        origin = f" commit {str(r['commit'])[:12]}" if r.get("commit") else ""
        origin += f" PR #{r['pull_request']}" if r.get("pull_request") else ""
        detail = f"  ({r['detail']})" if r.get("detail") else ""
        lines.append(
            f"{r.get('at')}  {r.get('action')} {where}  {_arrow(r.get('from'), r.get('to'))}  "
            f"{r.get('result')}  by {r.get('actor')}{origin}{detail}"
        )
    return printable("\n".join(lines))
