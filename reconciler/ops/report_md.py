"""The cost report as markdown (report.md), linking its PNG charts by relative path.

Every text from traces or the repository goes through plan.markdown.md_text (inert: no
HTML, link, image, mention); only alm's own words and the chart links are markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.ops import report_common as common
from reconciler.ops.economics import Economics
from reconciler.plan.markdown import md_text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_text(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _items(lines: Sequence[str]) -> str:
    return "\n".join(f"- {md_text(line)}" for line in lines)


def render(economics: Economics, charts: Mapping[str, str]) -> str:
    """The report; `charts` maps a chart's name to its PNG's path relative to the
    report (a window without tasks has none)."""
    parts = [f"# {common.TITLE}"]
    if not economics.total.tasks:
        parts += [md_text(common.no_tasks(economics)), "## Window and data source",
                  _items(common.source_lines(economics))]  # fmt: skip
        return "\n\n".join(parts) + "\n"
    parts += [
        _items(common.headline(economics)),
        "## Agents: run-rate against budget",
        _table(common.AGENT_HEADER, common.agent_rows(economics)),
        "## Cost per task by revision",
        _table(common.REVISION_HEADER, common.revision_rows(economics)),
        "## Charts",
        *_images(charts),
        "## Cost drivers",
        _table(common.MODEL_HEADER, common.model_rows(economics)),
        _table(common.PATTERN_HEADER, common.pattern_rows(economics)),
        "## Notes",
        _items(common.notes(economics)),
        "## Window and data source",
        _items(common.source_lines(economics)),
    ]
    return "\n\n".join(parts) + "\n"


def _images(charts: Mapping[str, str]) -> list[str]:
    names = common.chart_names(list(charts))
    return [f"![{title}]({_path(charts[name])})" for name, title in names]


def _path(relative: str) -> str:
    """A chart's relative path as a link target (alm's own file names: spaces and
    parentheses encoded all the same)."""
    return relative.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
