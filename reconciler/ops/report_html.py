"""The cost report as one self-contained HTML page (report.html): the charts embedded as
data: URIs, the plan report's page shell and Content-Security-Policy (images from data:
only), every text from traces or the repository escaped (plan.render_common.esc)."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from reconciler.ops import report_common as common
from reconciler.ops.economics import Economics
from reconciler.plan.html_page import page
from reconciler.plan.render_common import esc
from reconciler.plan.render_html_evals import items, table


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{title}</h2>\n{body}\n</section>'


def _table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    return table(header, [[esc(cell) for cell in row] for row in rows])


def _figure(name: str, title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="chart-{name}"><img alt="{esc(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(title)}</figcaption></figure>"
    )


def render(economics: Economics, charts: Mapping[str, bytes]) -> str:
    """The page; `charts` maps a chart's name to its PNG bytes."""
    heading = f"<h1>{esc(common.TITLE)}</h1>"
    source = _section("source", "Window and data source",
                      items([esc(x) for x in common.source_lines(economics)]))  # fmt: skip
    if not economics.total.tasks:
        body = f"{heading}\n<p>{esc(common.no_tasks(economics))}</p>\n{source}"
        return page(common.TITLE, body, images=False)
    figures = [_figure(n, t, charts[n]) for n, t in common.chart_names(list(charts))]
    parts = [
        heading,
        _section("headline", "Headline", items([esc(x) for x in common.headline(economics)])),
        _section("agents", "Agents: run-rate against budget",
                 _table(common.AGENT_HEADER, common.agent_rows(economics))),
        _section("revisions", "Cost per task by revision",
                 _table(common.REVISION_HEADER, common.revision_rows(economics))),
        _section("charts", "Charts", "\n".join(figures)),
        _section("drivers", "Cost drivers",
                 _table(common.MODEL_HEADER, common.model_rows(economics)) + "\n"
                 + _table(common.PATTERN_HEADER, common.pattern_rows(economics))),
        _section("notes", "Notes", items([esc(x) for x in common.notes(economics)])),
        source,
    ]  # fmt: skip
    return page(common.TITLE, "\n".join(parts), images=bool(figures))
