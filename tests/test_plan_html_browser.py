"""The HTML report in a real browser: headless Chromium (Debian's package, `make browser`)
driven by Playwright through its executable path (Playwright's own browser download
cannot work here). Where the browser or Playwright is missing the test is skipped, and
says which, never passed silently."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from reconciler.plan import render_html
from reconciler.plan.render_common import title
from tests import planfixtures

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian's chromium package: `make browser` as root)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is missing (pip install -e '.[dev]')"
    return None


def test_the_html_report_renders_and_a_case_expands_on_click(tmp_path: Path) -> None:
    missing = _missing()
    if missing:
        pytest.skip(f"browser test not run: {missing}")
    from playwright.sync_api import sync_playwright

    report = planfixtures.typical()
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html.render(report), encoding="utf-8")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            assert page.title() == title(report)
            verdict = page.locator("#verdict h1")
            assert verdict.is_visible() and "Blocked" in verdict.inner_text()
            case = page.locator("details.case").first
            body = case.locator("dl")
            assert not body.is_visible()
            case.locator("summary").click()
            body.wait_for(state="visible")
            assert case.get_attribute("open") is not None
            assert "no-refunds" in body.inner_text()
        finally:
            browser.close()
    assert requests == [page_file.as_uri()]  # the page loads nothing else
