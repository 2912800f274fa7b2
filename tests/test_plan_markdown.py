"""Repository text in the PR comment: rendered with a CommonMark + tables renderer with
raw HTML on (as GitHub's), and the HTML it gives is checked for what must not be there."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from reconciler.plan.markdown import html_text, md_code, md_details, md_text

HOSTILE = [
    "@acme/security please look",
    "ping @alice and @acme/team",
    "&#64;alice via an entity",
    "fixes #123 and acme/other#4",
    "![x](https://evil.example/pixel.png)",
    '<img src="https://evil.example/p.png">',
    "<details><summary>x</summary>",
    "</details></td></tr></table>",
    "a | b | c",
    "`code` ``more`` *bold* _it_ ~~strike~~ [link](https://x) <https://y>",
    "line one\nline two\r\n| --- |\r| x |",
    "\x1b[31mred\x1b[0m \u202eevil\u202c",
    "# heading\n- list\n> quote",
    "back\\slash \\| escaped pipe",
]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def render(markdown: str) -> Tags:
    html = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    tags = Tags()
    tags.feed(html.render(markdown))
    tags.close()
    return tags


def _mentions(text: str) -> list[str]:
    """What GitHub would ping or link: @name and #number in the rendered text."""
    return re.findall(r"(?<![\w])[@#][\w/-]+", text)


@pytest.mark.parametrize("text", HOSTILE)
def test_md_text_in_a_table_cell_stays_one_inert_cell(text: str) -> None:
    table = f"| name | value |\n|---|---|\n| a | {md_text(text)} |\n"
    tags = render(table)
    assert tags.tags.count("td") == 2 and tags.tags.count("tr") == 2
    assert not {"img", "a", "details", "code", "em", "strong", "del", "h1", "ul"} & set(tags.tags)
    assert _mentions(tags.text) == []


@pytest.mark.parametrize("text", HOSTILE)
def test_md_text_shows_the_text_itself(text: str) -> None:
    shown = render(md_text(text)).text.replace("\u200b", "")
    visible = " ".join(text.replace("\x1b", "").replace("\u202e", "").replace("\u202c", "").split())
    assert " ".join(shown.split()) == visible


@pytest.mark.parametrize("text", [*HOSTILE, "```\n</details>\n```", "a ```` b ````` c"])
def test_md_code_shows_text_verbatim_and_cannot_be_closed_early(text: str) -> None:
    tags = render(md_code(text) + "\n\nafter")
    assert tags.tags == ["pre", "code", "/code", "/pre", "p", "/p"]
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    for invisible in "\x1b\u202e\u202c":
        lines = lines.replace(invisible, "")
    assert tags.text == f"{lines}\n\nafter\n"


@pytest.mark.parametrize("text", HOSTILE)
def test_md_details_is_not_closed_by_the_text(text: str) -> None:
    body = f"{md_text(text)}\n\n{md_code(text)}"
    tags = render(md_details(text, body) + "\n\noutside")
    opened = tags.tags.index("details")
    closed = tags.tags.index("/details")
    assert tags.tags.count("details") == 1 and tags.tags.count("/details") == 1
    assert "pre" in tags.tags[opened:closed] and "img" not in tags.tags
    assert tags.text.rstrip().endswith("outside")


def test_the_fence_is_longer_than_any_backtick_run() -> None:
    assert md_code("a ````` b").startswith("``````\n")
    assert md_code("plain", "python").startswith("```python\n")
    assert md_code("x", "py\n<script>").startswith("```\n")  # a hostile info string is dropped


def test_mentions_and_references_are_broken_by_a_zero_width_space() -> None:
    assert md_text("@acme/team #12") == "@&#8203;acme/team #&#8203;12"


@pytest.mark.parametrize("text", HOSTILE)
def test_the_details_summary_shows_the_text_without_backslashes(text: str) -> None:
    tags = render(md_details(text, "body"))
    summary = tags.text.split("body")[0]
    assert _mentions(summary) == []
    visible = " ".join(text.replace("\x1b", "").replace("\u202e", "").replace("\u202c", "").split())
    assert " ".join(summary.replace("\u200b", "").split()) == visible


@pytest.mark.parametrize("text", ["www.evil.example", "_WWW.evil.example_", "(www.x.io)"])
def test_a_bare_www_host_is_not_linked(text: str) -> None:
    """GitHub links a bare www.host (its autolink extension): rendered with linkify on,
    as GitHub does, it stays text, and still reads the same."""
    rendered = MarkdownIt("gfm-like").render(md_text(text))
    assert "<a " not in rendered
    assert render(md_text(text)).text.replace("\u200b", "").strip() == text
    assert "www&#8203;." in html_text(text).lower()
