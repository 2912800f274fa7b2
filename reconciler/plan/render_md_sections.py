"""The plan report's markdown sections but evals and cost: verdict, changed agents,
findings, approvals, on merge, provenance. Each adds its blocks to a Builder."""

from __future__ import annotations

from reconciler.plan.markdown import md_code, md_details
from reconciler.plan.model import AgentChange, Approval, Approvals, PlanReport, Reason
from reconciler.plan.render_common import (
    ALL_CLEAR,
    CHANGE_STATUS,
    PROBLEM_AGENT_STATUSES,
    REVIEWS_NOT_READ,
    SECTION_TITLES,
    approval_for,
    cost_change,
    finding_place,
    findings_in_order,
    newness,
    plural,
    short_sha,
    side,
    stays,
    title,
)
from reconciler.plan.render_fit import Builder
from reconciler.plan.render_md_parts import (
    P_APPROVALS,
    P_CHANGES,
    P_DEPLOY,
    P_FINDINGS,
    P_OLD_FINDINGS,
    P_PROVENANCE,
    P_VERDICT,
    bullets,
    inline,
    names,
    table,
)

REASON_ICONS = {"approval": "⏳", "changes_requested": "✋"}


def heading(key: str) -> str:
    return f"### {SECTION_TITLES[key]}"


def _reason(reason: Reason) -> str:
    icon = REASON_ICONS.get(reason.kind, "❌")
    text = inline(reason.text)
    if reason.agent and not reason.text.startswith(reason.agent):
        text = f"**{inline(reason.agent)}**: {text}"
    return f"{icon} {text}"


def overview(report: PlanReport) -> str:
    """One line of counts: what the reviewer is looking at."""
    changes, evals, cost = report.changes, report.evals, report.cost
    parts = [
        f"{plural(len(changes.agents), 'agent', 'agents')} changed, "
        f"{changes.unchanged_agents} unchanged",
        plural(len(report.findings), "finding", "findings")
        + f" ({sum(1 for f in report.findings if f.new)} new)",
    ]
    problems = sum(1 for a in evals.agents if a.status in PROBLEM_AGENT_STATUSES)
    if evals.ran:
        parts.append(
            f"evals: {problems} of {plural(len(evals.agents), 'agent')} failed, regressed or "
            "not run"
        )
    parts.append(f"cost {cost_change(cost)}")
    return " · ".join(parts)


def verdict(b: Builder, report: PlanReport) -> None:
    b.section("verdict", P_VERDICT, f"## {title(report)}")
    b.add(overview(report), P_VERDICT, "note")
    reasons = report.verdict.reasons
    if not reasons:
        b.add(ALL_CLEAR, P_VERDICT, "note")
    bullets(b, [(_reason(r), P_VERDICT) for r in reasons], "reason", None, b.new_group())


def _agent_change(b: Builder, agent: AgentChange) -> None:
    head = b.add(f"**{inline(agent.agent)}** ({CHANGE_STATUS[agent.status]})", P_CHANGES, "agent")
    group = b.new_group()
    for line in agent.changes:
        b.add(f"- {inline(line.text)}", P_CHANGES, "change", head, group)
        if line.detail:
            details = md_details("details", md_code(line.detail))
            b.add(details, P_CHANGES, "change", head)
            group = b.new_group()  # a list after a <details> is a new list
    for grant in agent.new_grants:
        approvers = f"; approved by {names(grant.approvers)}" if grant.approvers else ""
        b.add(
            f"- 🔑 new grant **{inline(grant.tool)}**: access {inline(grant.access or 'unknown')}"
            f", risk {inline(grant.risk or 'unknown')}{approvers}",
            P_CHANGES,
            "change",
            head,
            group,
        )


def changes(b: Builder, report: PlanReport) -> None:
    b.section("changes", P_CHANGES, heading("changes"))
    for agent in report.changes.agents:
        _agent_change(b, agent)
    for name, lines in report.changes.sections.items():
        head = b.add(f"**{inline(name)}**", P_CHANGES, None)
        bullets(b, [(inline(x.text), P_CHANGES) for x in lines], "change", head, b.new_group())
    unchanged = report.changes.unchanged_agents
    if not report.changes.agents and not report.changes.sections:
        b.add("No change to the desired state.", P_CHANGES, "note")
    if unchanged:
        b.add(f"{plural(unchanged, 'agent', 'agents')} unchanged.", P_CHANGES, "note")


def findings(b: Builder, report: PlanReport) -> None:
    b.section("findings", P_FINDINGS, heading("findings"))
    if not report.findings:
        b.add("No findings.", P_FINDINGS, "note")
    items = []
    for f in findings_in_order(report.findings):
        icon = "❌" if f.severity == "error" else "⚠️"
        new = f" · **{newness(f)}**" if newness(f) else ""
        text = (
            f"{icon} {inline(finding_place(f))}: {inline(f.message)} "
            f"({inline(f.code)}, {f.source}{new})"
        )
        items.append((text, P_FINDINGS if f.new is not False else P_OLD_FINDINGS))
    bullets(b, items, "finding", None, b.new_group())


def approval_status(approval: Approval, approvals: Approvals) -> str:
    if not approvals.reviews_read:
        return "waiting for review"
    if approval.approved_by:
        return f"✅ approved by {names(approval.approved_by)}"
    return "⏳ missing"


def _approval_for(approval: Approval) -> str:
    return inline(approval_for(approval))


def approvals(b: Builder, report: PlanReport) -> None:
    a = report.approvals
    b.section("approvals", P_APPROVALS, heading("approvals"))
    if not a.reviews_read:
        note = REVIEWS_NOT_READ
    else:
        note = f"Reviews counted on the head commit {inline(short_sha(a.head_sha))}."
    if not a.required:
        note = "No approval required beyond the repository's own rules. " + note
    b.add(note, P_APPROVALS, "note")
    rows = [
        (
            [" or ".join(inline(x) for x in r.from_), inline(r.reason), _approval_for(r),
             approval_status(r, a)],
            P_APPROVALS,
        )
        for r in a.required
    ]  # fmt: skip
    table(b, ["required from", "why", "for", "status"], rows, "approval", None, P_APPROVALS)
    reviews = [(f"✋ {inline(who)} requested changes", P_APPROVALS) for who in a.changes_requested]
    reviews += [(f"not counted: {inline(n.reviewer)}: {inline(n.why)}", P_APPROVALS)
                for n in a.not_counted]  # fmt: skip
    bullets(b, reviews, "review", None, b.new_group())


def deploy(b: Builder, report: PlanReport) -> None:
    b.section("deploy", P_DEPLOY, heading("deploy"))
    if not report.deploy:
        b.add("Nothing to deploy.", P_DEPLOY, "note")
    group = b.new_group()
    for n, step in enumerate(report.deploy, 1):
        agents = names(step.agents) if step.agents else "no agent"
        gates = f" · gates: {'; '.join(inline(g) for g in step.gates)}" if step.gates else ""
        text = f"{n}. **{inline(step.environment)}**: {agents}{gates}{stays(step, inline)}"
        b.add(text, P_DEPLOY, "environment", None, group)


def provenance(b: Builder, report: PlanReport) -> None:
    p = report.provenance
    b.section("provenance", P_PROVENANCE, heading("provenance"))
    sides = [(f"{name}: {inline(side(info.ref, info.commit))}", P_PROVENANCE)
             for name, info in (("base", p.base), ("head", p.head))]  # fmt: skip
    sides.append((f"alm {inline(p.alm_version)}", P_PROVENANCE))
    bullets(b, sides, "provenance", None, b.new_group())
    rows = [
        ([inline(h.agent), inline(h.spec), inline(h.prompt or "—"), inline(h.dataset or "—")],
         P_PROVENANCE)
        for h in p.agents
    ]  # fmt: skip
    table(b, ["agent", "spec", "prompt", "dataset"], rows, "provenance", None, P_PROVENANCE)
