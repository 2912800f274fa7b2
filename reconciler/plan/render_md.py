"""The plan report as markdown: in full (report.md) and written to a budget (the PR comment)."""

from __future__ import annotations

from reconciler.plan.model import PlanReport


def full(report: PlanReport) -> str:
    """The whole report, every section."""
    raise NotImplementedError("render_md.full: being written (issue 10, part B)")


def budgeted(report: PlanReport, budget: int) -> str:
    """The report in at most budget UTF-16 code units, most important first."""
    raise NotImplementedError("render_md.budgeted: being written (issue 10, part B)")
