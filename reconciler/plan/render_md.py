"""The plan report as markdown: in full (report.md) and written to a budget (the PR comment).

Both are made of the same sections, rendered to blocks (reconciler.plan.render_fit). The
full report is every block in document order. The budgeted one keeps blocks greedily by
priority (verdict, approvals, regressions, cost, then the rest), shows them in document
order, and counts what it left out, with links to the full report. A last check picks the
first of ever smaller texts that fits, down to the verdict and counts, so it always fits.
Repository text is escaped by reconciler.plan.markdown; only the report's own http(s)
links (report.links) are ever links.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from reconciler.plan.markdown import md_text
from reconciler.plan.model import PlanReport
from reconciler.plan.render_common import FULL_ORDER, links, title, utf16_len
from reconciler.plan.render_fit import (
    SEPARATOR,
    Builder,
    Section,
    everything_left_out,
    fit,
    kept_text,
    left_out_words,
    prune,
    whole,
)
from reconciler.plan.render_md_evals import cost, evals
from reconciler.plan.render_md_sections import (
    approvals,
    changes,
    deploy,
    findings,
    overview,
    provenance,
    verdict,
)

SECTIONS: dict[str, Callable[[Builder, PlanReport], None]] = {
    "verdict": verdict,
    "changes": changes,
    "findings": findings,
    "approvals": approvals,
    "evals": evals,
    "cost": cost,
    "deploy": deploy,
    "provenance": provenance,
}


def sections(report: PlanReport) -> list[Section]:
    b = Builder()
    for key in FULL_ORDER:
        SECTIONS[key](b, report)
    return b.sections


def full(report: PlanReport) -> str:
    """The whole report, every section in document order, with links at the end."""
    text = whole(sections(report))
    tail = links_line(report)
    return text + (f"\n{tail}\n" if tail else "")


def links_line(report: PlanReport) -> str:
    shown = []
    for label, url, raw in links(report.links):
        shown.append(f"[{label}]({url})" if url else f"{label}: {md_text(raw)}")
    return " · ".join(shown)


def footer(report: PlanReport, left: Counter[str]) -> str:
    """What was left out, counted, and where to read it; empty when nothing was."""
    if not left:
        return links_line(report)
    where = links_line(report) or "the full report (report.md, report.html in the run's artifact)"
    return f"**Not shown here** (comment size limit): {left_out_words(left)}: see {where}."


def budgeted(report: PlanReport, budget: int) -> str:
    """The report in at most budget UTF-16 code units, most important first."""
    if budget < 0:
        raise ValueError(f"a budget is a number of characters, not {budget}")
    parts = sections(report)
    room = budget - utf16_len(footer(report, everything_left_out(parts))) - SEPARATOR
    kept, left = fit(parts, room)
    candidates = []
    if {parts[0].blocks[0].id, parts[0].blocks[1].id} <= kept:  # the verdict and its counts
        body = kept_text(parts, prune(parts, kept))
        tail = footer(report, left)
        candidates.append(body + (f"\n{tail}\n" if tail else ""))
    candidates += smallest(report, everything_left_out(parts))
    return next(c for c in candidates if utf16_len(c) <= budget)


def smallest(report: PlanReport, counts: Counter[str]) -> list[str]:
    """The verdict and counts, ever shorter, down to nothing: one of them always fits."""
    head = f"## {title(report)}"
    where = links_line(report)
    pointer = f"Details: {where}." if where else "Details: see the full report."
    tries = [
        [head, overview(report), footer(report, counts)],
        [head, overview(report), pointer],
        [head, overview(report)],
        [head, pointer],
        [head],
    ]
    return ["\n\n".join(t) + "\n" for t in tries] + [title(report) + "\n", ""]
