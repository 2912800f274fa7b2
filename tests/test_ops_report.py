"""The cost report's markdown and HTML: the sections in order, charts linked or embedded,
trace text inert, and a window without tasks said plainly."""

from __future__ import annotations

import re

from reconciler.ops import report_common, report_html, report_md
from reconciler.ops.economics import AgentPlan, Economics, economics
from reconciler.ops.model import NS_PER_S, Window
from reconciler.ops.rates import RatedPriceBook
from tests.ops_report_tasks import DAY0_NS, make_task

EVIL_MODEL = "[click](https://evil.example) @acme/finance <script>x</script>"
EVIL_TOOL = "</td><img src=https://evil.example/p.png>"
PLANS = {"support-triage": AgentPlan("support-triage", 1000, 0.0001, 0.05, 8)}
PNG = b"\x89PNG\r\n\x1a\nnot really"


def window() -> Window:
    return Window(DAY0_NS, DAY0_NS + 86400 * NS_PER_S)


def sample() -> Economics:
    tasks = [make_task(i, "support-triage", start_s=i * 900, tools=[EVIL_TOOL] * 3)
             for i in range(20)]  # fmt: skip
    tasks.append(make_task(99, "support-triage", start_s=80_000, model=EVIL_MODEL,
                           provider="acme"))  # fmt: skip
    return economics(iter(tasks), PLANS, RatedPriceBook(), window(), "traces.db")


def test_markdown_sections_and_links() -> None:
    text = report_md.render(sample(), {"cost-trend": "cost-trend.png", "run-rate": "run-rate.png"})
    headings = re.findall(r"^##? (.+)$", text, re.M)
    assert headings == [report_common.TITLE, "Agents: run-rate against budget",
                        "Cost per task by revision", "Charts", "Cost drivers", "Notes",
                        "Window and data source"]  # fmt: skip
    assert "![Cost over time by agent](cost-trend.png)" in text
    assert "![Monthly run-rate against budget](run-rate.png)" in text
    assert "over budget" in text  # 1000 tasks a month x $0.0001 is far below the run-rate


def test_markdown_makes_trace_text_inert() -> None:
    text = report_md.render(sample(), {})
    assert "](https://evil" not in text and "<script>" not in text and "<img" not in text
    assert "@acme/finance" not in text and "@&#8203;acme/finance" in text
    assert "&lt;/td&gt;" in text  # the tool name, as text in its cell


def test_html_embeds_charts_and_escapes() -> None:
    page = report_html.render(sample(), {"cost-trend": PNG})
    assert 'src="data:image/png;base64,iVBORw0KGgpub3QgcmVhbGx5"' in page
    assert "img-src data:" in page
    assert "<script>" not in page and "<img src=https" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert [m for m in re.findall(r'<section id="(\w+)"', page)] == [
        "headline", "agents", "revisions", "charts", "drivers", "notes", "source"]  # fmt: skip


def test_headline_names_spend_run_rate_and_mover() -> None:
    lines = report_common.headline(sample())
    assert lines[0].startswith("Spent $") and "(1 unpriced, not included)" in lines[0]
    assert "1 of 1 agent over budget (support-triage)" in lines[1]
    assert lines[2].startswith("Biggest mover: support-triage, ")


def test_an_empty_window_is_a_short_report_in_both_formats() -> None:
    empty = economics(iter(()), PLANS, RatedPriceBook(), window(), "traces.db")
    text = report_md.render(empty, {})
    assert "No tasks in this window" in text and "traces.db" in text and "![" not in text
    page = report_html.render(empty, {})
    assert "No tasks in this window" in page and "img-src" not in page
