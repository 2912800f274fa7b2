"""The plan report as one self-contained HTML page (report.html, the run's artifact).

The same sections as the full markdown report. No external asset and no script: inline
CSS, cases folded in native `<details>`, and a Content-Security-Policy that lets the page
load nothing at all, so even a text that escaped escaping could not fetch or run anything.
Every text from the report is escaped with html.escape; only the report's own http(s)
links (report.links) are links.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.plan.html_page import page
from reconciler.plan.model import Approval, Approvals, PlanReport, Reason
from reconciler.plan.render_common import (
    CHANGE_STATUS,
    FULL_ORDER,
    REVIEWS_NOT_READ,
    approval_for,
    esc,
    finding_place,
    findings_in_order,
    links,
    newness,
    plural,
    short_sha,
    side,
    stays,
    title,
)
from reconciler.plan.render_html_evals import cost, evals, items, section, table
from reconciler.plan.render_md_sections import REASON_ICONS, overview


def _reason(reason: Reason) -> str:
    text = esc(reason.text)
    if reason.agent and not reason.text.startswith(reason.agent):
        text = f"<strong>{esc(reason.agent)}</strong>: {text}"
    return f"{REASON_ICONS.get(reason.kind, '❌')} {text}"


def verdict(report: PlanReport) -> str:
    reasons = report.verdict.reasons
    body = (
        items([_reason(r) for r in reasons])
        or "<p>Every gate passed and no approval is missing.</p>"
    )
    return (
        f'<section id="verdict">\n<h1>{esc(title(report))}</h1>\n'
        f'<p class="overview">{esc(overview(report))}</p>\n{body}\n</section>'
    )


def changes(report: PlanReport) -> str:
    parts = []
    for agent in report.changes.agents:
        lines = [esc(x.text) + (f"<pre>{esc(x.detail)}</pre>" if x.detail else "")
                 for x in agent.changes]  # fmt: skip
        lines += [f"🔑 new grant <strong>{esc(g.tool)}</strong>: "
                  f"access {esc(g.access or 'unknown')}"
                  f", risk {esc(g.risk or 'unknown')}"
                  + (f"; approved by {esc(', '.join(g.approvers))}" if g.approvers else "")
                  for g in agent.new_grants]  # fmt: skip
        parts.append(f"<h3>{esc(agent.agent)} ({CHANGE_STATUS[agent.status]})</h3>\n{items(lines)}")
    for name, others in report.changes.sections.items():
        parts.append(f"<h3>{esc(name)}</h3>\n{items([esc(x.text) for x in others])}")
    if not parts:
        parts.append("<p>No change to the desired state.</p>")
    unchanged = report.changes.unchanged_agents
    if unchanged:
        parts.append(f"<p>{plural(unchanged, 'agent', 'agents')} unchanged.</p>")
    return section("changes", "\n".join(parts))


def findings(report: PlanReport) -> str:
    lines = [
        f"{'❌' if f.severity == 'error' else '⚠️'} <code>{esc(finding_place(f))}</code>: "
        f"{esc(f.message)} ({esc(f.code)}, {f.source}"
        + (f", <strong>{newness(f)}</strong>" if newness(f) else "") + ")"
        for f in findings_in_order(report.findings)
    ]  # fmt: skip
    return section("findings", items(lines) or "<p>No findings.</p>")


def _status(approval: Approval, approvals: Approvals) -> str:
    if not approvals.reviews_read:
        return "waiting for review"
    if approval.approved_by:
        return f"✅ approved by {esc(', '.join(approval.approved_by))}"
    return "⏳ missing"


def approvals(report: PlanReport) -> str:
    a = report.approvals
    note = (REVIEWS_NOT_READ if not a.reviews_read
            else f"Reviews counted on the head commit {esc(short_sha(a.head_sha))}.")  # fmt: skip
    rows = [[esc(" or ".join(r.from_)), esc(r.reason),
             esc(approval_for(r)), _status(r, a)]
            for r in a.required]  # fmt: skip
    reviews = [f"✋ {esc(w)} requested changes" for w in a.changes_requested]
    reviews += [f"not counted: {esc(n.reviewer)}: {esc(n.why)}" for n in a.not_counted]
    body = [f"<p>{note}</p>", table(["required from", "why", "for", "status"], rows),
            items(reviews)]  # fmt: skip
    if not a.required:
        body.insert(0, "<p>No approval required beyond the repository's own rules.</p>")
    return section("approvals", "\n".join(p for p in body if p))


def deploy(report: PlanReport) -> str:
    steps = [
        f"<strong>{esc(s.environment)}</strong>: {esc(', '.join(s.agents)) or 'no agent'}"
        + (f" · gates: {esc('; '.join(s.gates))}" if s.gates else "")
        + stays(s, esc)
        for s in report.deploy
    ]
    return section("deploy", items(steps, "ol") or "<p>Nothing to deploy.</p>")


def provenance(report: PlanReport) -> str:
    p = report.provenance
    sides = [f"{name}: <code>{esc(side(i.ref, i.commit, full=True))}</code>"
             for name, i in (("base", p.base), ("head", p.head))]  # fmt: skip
    sides.append(f"alm {esc(p.alm_version)}")
    rows = [[esc(h.agent), f"<code>{esc(h.spec)}</code>", f"<code>{esc(h.prompt or '—')}</code>",
             f"<code>{esc(h.dataset or '—')}</code>"] for h in p.agents]  # fmt: skip
    body = items(sides) + "\n" + table(["agent", "spec", "prompt", "dataset"], rows)
    return section("provenance", body)


def links_html(report: PlanReport) -> str:
    shown = [f'<a href="{esc(url)}" rel="noopener noreferrer">{label}</a>' if url
             else f"{label}: {esc(raw)}" for label, url, raw in links(report.links)]  # fmt: skip
    return f"<p>{' · '.join(shown)}</p>" if shown else ""


SECTIONS: dict[str, Callable[[PlanReport], str]] = {
    "verdict": verdict,
    "changes": changes,
    "findings": findings,
    "approvals": approvals,
    "evals": evals,
    "cost": cost,
    "deploy": deploy,
    "provenance": provenance,
}


def render(report: PlanReport) -> str:
    """A page with no external assets and a strict Content-Security-Policy."""
    body = "\n".join(SECTIONS[key](report) for key in FULL_ORDER)
    return page(title(report), f"{body}\n{links_html(report)}")
