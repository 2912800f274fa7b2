"""The plan report as one self-contained HTML page: escaped, nothing external, a strict CSP."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from reconciler.plan import render_html
from reconciler.plan.model import PlanReport
from tests import planfixtures

SECTIONS = ["Changed agents", "Findings", "Approvals", "Evals: base vs head", "Cost", "On merge",
            "Provenance"]  # fmt: skip
VOID = {"meta", "br", "hr"}
ALLOWED = {"html", "head", "meta", "title", "style", "body", "main", "section", "h1", "h2",
           "h3", "p", "ul", "ol", "li", "strong", "code", "pre", "table", "thead", "tbody",
           "tr", "th", "td", "details", "summary", "dl", "dt", "dd", "span", "a"}  # fmt: skip


class Page(HTMLParser):
    """Tags, checked to nest and close; attributes; the text of the body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text = ""
        self.headings: list[str] = []
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag not in VOID:
            self.stack.append(tag)
        if tag in ("h1", "h2"):
            self._heading = ""

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("h1", "h2") and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None

    def handle_data(self, data: str) -> None:
        if "style" not in self.stack and "title" not in self.stack:
            self.text += data
        if self._heading is not None:
            self._heading += data


def page_of(report: PlanReport) -> tuple[str, Page]:
    html = render_html.render(report)
    page = Page()
    page.feed(html)
    page.close()
    assert page.stack == [], f"left open: {page.stack}"
    return html, page


@pytest.mark.parametrize("build", [planfixtures.tiny, planfixtures.typical, planfixtures.huge,
                                   planfixtures.hostile])  # fmt: skip
def test_a_well_formed_page_with_the_sections_in_order(build: object) -> None:
    report: PlanReport = build()  # type: ignore[operator]
    html, page = page_of(report)
    assert html.startswith("<!DOCTYPE html>")
    assert page.headings[1:] == SECTIONS
    assert set(page.tags) <= ALLOWED, set(page.tags) - ALLOWED


def test_a_strict_content_security_policy() -> None:
    _, page = page_of(planfixtures.typical())
    csp = [v for tag, k, v in page.attrs if tag == "meta" and k == "content"
           and v and "default-src" in v]  # fmt: skip
    assert len(csp) == 1
    rules = {r.strip().split(" ")[0]: r.strip() for r in (csp[0] or "").split(";")}
    assert rules["default-src"] == "default-src 'none'"
    assert rules["style-src"] == "style-src 'unsafe-inline'"
    assert ("meta", "http-equiv", "Content-Security-Policy") in page.attrs


def test_nothing_external_only_the_reports_own_links() -> None:
    report = planfixtures.typical()
    html, page = page_of(report)
    targets = [v for _, k, v in page.attrs if k in ("href", "src", "srcset", "action")]
    assert sorted(t or "" for t in targets) == sorted(
        [report.links.html_report or "", report.links.job_summary or "", report.links.run or ""]
    )
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert "@import" not in html


def test_hostile_text_is_escaped_and_shown_as_text() -> None:
    report = planfixtures.hostile()
    html, page = page_of(report)
    assert "<script>" not in html and "</details></td>" not in html
    assert "\u202e" not in html
    assert "<script>alert(1)</script>" in page.text  # shown, as text
    assert "![img](http://x/p.png)" in page.text
    targets = [v for _, k, v in page.attrs if k in ("href", "src")]
    assert targets == [report.links.run]  # javascript: and the rest are not links
    assert "javascript:alert(1)" in page.text


def test_the_full_report_in_the_page() -> None:
    report = planfixtures.typical(reviews_read=True)
    _, page = page_of(report)
    failing = [c for c in report.evals.agents[0].cases if c.state != "not_run"]
    assert page.tags.count("details") == len(failing)
    assert "approved by carol" in page.text and "⏳ missing" in page.text
    assert "$0.0042 → $0.0018" in page.text and "Δ -$288.00, -16.9%" in page.text
    assert "forbidden by must-never rule no-refunds" in page.text
    assert "1 case could not run." in page.text and "3 agents unchanged." in page.text
    assert planfixtures.HEAD in page.text  # provenance in full
