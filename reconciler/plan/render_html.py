"""The plan report as one self-contained HTML page."""

from __future__ import annotations

from reconciler.plan.model import PlanReport


def render(report: PlanReport) -> str:
    """A page with no external assets and a strict Content-Security-Policy."""
    raise NotImplementedError("render_html.render: being written (issue 10, part B)")
