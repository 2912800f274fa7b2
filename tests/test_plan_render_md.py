"""The plan report as markdown: rendered with a CommonMark + tables renderer with raw HTML
on (as GitHub's), and its structure and the HTML it gives checked."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from reconciler.plan import render_md
from reconciler.plan.model import ChangeLine, Links, PlanReport, RefInfo
from reconciler.plan.render_common import title, utf16_len
from tests import planfixtures

MARKER = "<!-- alm:report -->\n"
GITHUB_BUDGET = 65536 - len(MARKER)
FULL_HEADINGS = ["Changed agents", "Findings", "Approvals", "Evals: base vs head", "Cost",
                 "On merge", "Provenance"]  # fmt: skip
SAFE_TAGS = {"h2", "h3", "h4", "p", "ul", "ol", "li", "strong", "table", "thead", "tbody",
             "tr", "th", "td", "details", "summary", "pre", "code", "a"}  # fmt: skip


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


class Html(HTMLParser):
    """Tags (checking that every <details> closes, in order), links, the text, and the
    text outside code (where GitHub finds mentions and references)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str | None] = []
        self.open_details = 0
        self.in_code = 0
        self.text = ""
        self.prose = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "details":
            assert self.open_details == 0, "a <details> inside another"
            self.open_details += 1
        self.hrefs += [v for k, v in attrs if k in ("href", "src")]
        self.in_code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self.in_code -= tag == "code"
        if tag == "details":
            assert self.open_details == 1, "a </details> without its <details>"
            self.open_details -= 1

    def handle_data(self, data: str) -> None:
        self.text += data
        self.prose += "" if self.in_code else data


def html_of(markdown: str, tokens: list[Token] | None = None) -> Html:
    md = parser()
    page = Html()
    page.feed(md.renderer.render(tokens or md.parse(markdown), md.options, {}))
    page.close()
    assert page.open_details == 0, "a <details> left open"
    return page


def _cells(line: str) -> int:
    """Cells of a table line: pipes not escaped with a backslash, less the outer two."""
    return len(re.findall(r"(?<!\\)\|", line)) - 1


def check_tables(markdown: str, tokens: list[Token]) -> int:
    lines = markdown.split("\n")
    tables = [t for t in tokens if t.type == "table_open"]
    for table in tables:
        assert table.map is not None
        rows = lines[table.map[0] : table.map[1]]
        widths = {_cells(r) for r in rows if not set(r) <= set("|-")}
        assert len(widths) == 1, f"a table's rows differ in width: {rows}"
    return len(tables)


def check_structure(markdown: str) -> Html:
    """Every <details> closed and not nested, every table with one width; the HTML."""
    tokens = parser().parse(markdown)
    check_tables(markdown, tokens)
    return html_of(markdown, tokens)


def headings(markdown: str) -> list[str]:
    tokens = parser().parse(markdown)
    return [
        tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"
        and t.tag in ("h2", "h3")
    ]  # fmt: skip


def test_full_has_every_section_in_order_with_the_verdict_on_top() -> None:
    text = render_md.full(planfixtures.typical())
    assert headings(text) == ["⛔ alm plan: Blocked", *FULL_HEADINGS]
    check_structure(text)


@pytest.mark.parametrize("build", [planfixtures.tiny, planfixtures.typical, planfixtures.huge,
                                   planfixtures.hostile])  # fmt: skip
def test_full_is_structurally_valid(build: object) -> None:
    report = build()  # type: ignore[operator]
    check_structure(render_md.full(report))


def test_full_shows_each_reason_grant_and_failing_case() -> None:
    report = planfixtures.typical()
    page = html_of(render_md.full(report))
    for reason in report.verdict.reasons:
        assert reason.text.replace("@", "@\u200b") in page.text
    assert "new grant billing.issue_refund: access write, risk high" in page.text
    cases = report.evals.agents[0].cases
    failing = [c for c in cases if c.state != "not_run"]
    assert page.tags.count("details") == len(failing) + 1  # and the prompt diff
    assert "1 case could not run" in page.text and "timeouts/case-000" in page.text
    assert "forbidden by must-never rule no-refunds" in page.text  # the last tool calls
    assert "3 agents unchanged." in page.text and page.tags.count("table") == 4


def test_newly_failing_cases_and_new_findings_come_first() -> None:
    text = render_md.full(planfixtures.typical())
    order = re.findall(r"refunds/case-(\d+) \((newly failing|failed)\)", text)
    kinds = [kind for _, kind in order]
    assert kinds == sorted(kinds, key=lambda k: k != "newly failing") and "failed" in kinds
    assert text.index("granted without constraints") < text.index("prompt over 4k tokens")


def test_approvals_say_waiting_until_reviews_are_read() -> None:
    waiting = html_of(render_md.full(planfixtures.typical(reviews_read=False))).text
    assert waiting.count("waiting for review") == 3  # the note, and each of the two rows
    read = html_of(render_md.full(planfixtures.typical(reviews_read=True))).text
    assert "waiting for review" not in read
    assert "approved by carol" in read and "⏳ missing" in read
    assert "Reviews counted on the head commit bbbbbbbbbbbb" in read
    assert "not counted: dave: approved an older commit" in read


def test_cost_table_like_infracost() -> None:
    page = html_of(render_md.full(planfixtures.typical()))
    assert "$0.0042 → $0.0018" in page.text and "$504.00 → $216.00" in page.text
    assert "Δ -$288.00, -16.9%" in page.text and "eval run cost $0.37" in page.text
    assert "genai-prices 0.2.3" in page.text


def test_the_huge_report_is_over_70000_characters() -> None:
    assert utf16_len(render_md.full(planfixtures.huge())) > 70_000


def test_huge_report_fits_a_github_comment_keeping_what_matters_most() -> None:
    report = planfixtures.huge()
    text = render_md.budgeted(report, GITHUB_BUDGET)
    assert utf16_len(text) <= GITHUB_BUDGET
    page = check_structure(text)
    order = headings(text)  # what fits, in the full report's order
    full_order = headings(render_md.full(report))
    assert order == [h for h in full_order if h in order]
    assert order[0] == "⛔ alm plan: Blocked"
    assert {"Approvals", "Evals: base vs head", "Cost"} <= set(order)
    for reason in report.verdict.reasons:
        assert reason.text.replace("@", "@\u200b") in page.text
    assert "waiting for review" in page.text
    regressed = [a.agent for a in report.evals.agents if a.status == "regressed"]
    assert all(f"{a}: 📉 regressed" in page.text for a in regressed)
    assert page.text.count("→ gpt-4.1-mini") >= len(report.cost.rows)  # every cost row
    assert "Not shown here" in page.text
    assert report.links.html_report in page.hrefs and report.links.job_summary in page.hrefs


def test_what_is_left_out_is_counted() -> None:
    report = planfixtures.huge()
    text = render_md.budgeted(report, 20_000)
    failing = sum(1 for a in report.evals.agents for c in a.cases if c.state == "failed")
    shown = text.count("<details>")
    assert f"{failing - shown} failing cases" in text


def _lines_of(text: str) -> set[str]:
    return set(text.split("\n"))


@pytest.mark.parametrize(
    ("build", "step"),
    [(planfixtures.huge, 3_331), (planfixtures.typical, 1_499), (planfixtures.hostile, 1_499)],
)
def test_every_budget_fits_and_stays_valid(build: object, step: int) -> None:
    report: PlanReport = build()  # type: ignore[operator]
    whole = _lines_of(render_md.full(report)) | {title(report)}
    for budget in [*range(0, 400, 7), *range(400, 70_000, step)]:
        text = render_md.budgeted(report, budget)
        assert utf16_len(text) <= budget, budget
        check_structure(text)
        cut = [
            line
            for line in text.split("\n")
            if line not in whole
            and not line.startswith("**Not shown here**")
            and not line.startswith("Details:")
        ]
        assert cut == [], f"lines not in the full report at budget {budget}: {cut[:3]}"  # fmt: skip


def test_a_tiny_budget_keeps_the_verdict_and_counts() -> None:
    report = planfixtures.huge()
    text = render_md.budgeted(report, 300)
    changed, unchanged = len(report.changes.agents), report.changes.unchanged_agents
    assert text.startswith(f"## ⛔ alm plan: Blocked\n\n{changed} agents changed, {unchanged} ")
    assert render_md.budgeted(planfixtures.huge(), 5) == ""
    with pytest.raises(ValueError):
        render_md.budgeted(planfixtures.tiny(), -1)


def test_a_report_that_fits_is_whole() -> None:
    report = planfixtures.typical()
    text = render_md.budgeted(report, GITHUB_BUDGET)
    assert "Not shown here" not in text
    assert sorted(text.split("\n")) == sorted(render_md.full(report).split("\n"))


def test_characters_outside_the_bmp_count_twice() -> None:
    rocket = "🚀" * 400  # 400 characters, 800 UTF-16 code units
    report = planfixtures.tiny()
    agent = report.changes.agents[0].model_copy(
        update={"changes": [ChangeLine(text=rocket) for _ in range(30)]}
    )
    report = report.model_copy(update={"changes": report.changes.model_copy(
        update={"agents": [agent]})})  # fmt: skip
    for budget in range(2_000, 30_000, 1_000):
        text = render_md.budgeted(report, budget)
        assert utf16_len(text) <= budget
    assert len(text) < utf16_len(text)


MENTION = re.compile(r"(?<![\w])[@#][\w/-]+")


@pytest.mark.parametrize("budget", [None, 65_000, 3_000, 900])
def test_hostile_text_stays_inert(budget: int | None) -> None:
    report = planfixtures.hostile()
    text = render_md.full(report) if budget is None else render_md.budgeted(report, budget)
    page = check_structure(text)
    assert set(page.tags) <= SAFE_TAGS, set(page.tags) - SAFE_TAGS
    assert MENTION.findall(page.prose) == []
    assert set(page.hrefs) <= {report.links.run}  # only the report's own https link
    assert "\u202e" not in text  # a bidirectional override, even in code
    if budget is None:
        assert page.hrefs == [report.links.run]
        assert "javascript:alert(1)" in page.text  # shown as text, not as a link


def test_links_to_one_address_are_one_link() -> None:
    run = "https://github.com/acme/agents/actions/runs/42"
    report = planfixtures.huge().model_copy(
        update={"links": Links(html_report=run, job_summary=run, run=run)}
    )
    page = html_of(render_md.budgeted(report, 20_000))
    assert page.hrefs == [run]
    assert "see full HTML report, job summary, workflow run." in page.text


def test_a_text_that_starts_like_a_numbered_list_stays_one_item() -> None:
    report = planfixtures.tiny()
    lines = [ChangeLine(text="1. first step"), ChangeLine(text="100.0% of cases")]
    agent = report.changes.agents[0].model_copy(update={"changes": lines})
    report = report.model_copy(update={"changes": report.changes.model_copy(
        update={"agents": [agent]})})  # fmt: skip
    text = render_md.full(report)
    page = html_of(text)
    assert "1. first step" in page.text and "100.0% of cases" in text  # no needless escape
    assert page.tags.count("ol") == 1  # the deploy steps, not the change line


def test_a_working_tree_head_and_an_unmeasured_check() -> None:
    report = planfixtures.typical()
    provenance = report.provenance.model_copy(update={"head": RefInfo(ref=None, commit=None)})
    agent = report.evals.agents[0]
    check = agent.checks[0].model_copy(update={"head": None, "regressed": False})
    evals = report.evals.model_copy(
        update={"agents": [agent.model_copy(update={"checks": [check]})]}
    )
    text = html_of(render_md.full(
        report.model_copy(update={"provenance": provenance, "evals": evals}))).text  # fmt: skip
    assert "head: working tree\n" in text and "working tree @" not in text
    assert "⚪ pass rate (paired): " in text
