"""Repository text inside the PR comment's markdown, made inert.

Everything a pull request holds may be written by an attacker, and GitHub renders the
comment as markdown with HTML: text must not ping people or teams (@mentions), link
issues (#123), load remote images, run into raw HTML, or break out of the table cell,
code block or `<details>` it is put in. GitHub finds mentions and references in the
rendered text, so an entity such as `&#64;` would still ping: `&` is escaped first.
"""

from __future__ import annotations

import re

_ZWSP = "&#8203;"  # a zero-width space: "@&#8203;team" reads as @team and pings no one
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")
# controls and the bidirectional overrides that reorder what a reader sees
INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_SPECIAL = re.compile(r"[&<>\"'\\`*_~\[\](){}!|:#@+=-]")
_HTML_SPECIAL = re.compile(r"[&<>\"'@#]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_BACKTICKS = re.compile(r"`+")
# GitHub links a bare www.host as it renders (its autolink extension); a zero-width
# space after "www" keeps it text ("://" is broken already: ":" is escaped)
_WWW = re.compile(r"(?i)(?<![a-z0-9])(www)(?=\.)")
_LANGUAGE = re.compile(r"[A-Za-z0-9_+.-]{0,32}")


def _one(char: str) -> str:
    if char in _ENTITIES:
        return _ENTITIES[char]
    if char in "@#":  # also where no name or number follows: harmless, and simpler
        return char + _ZWSP
    return "\\" + char  # CommonMark: a backslash makes any ASCII punctuation literal


def _flat(text: str) -> str:
    return INVISIBLE.sub("", _LINE_BREAKS.sub(" ", text))


def md_text(text: str) -> str:
    """Inline text, safe in a paragraph, a list item or a table cell: one line, no
    markup, no HTML, no mention, no reference, no image, no link syntax."""
    return _WWW.sub(r"\1" + _ZWSP, _SPECIAL.sub(lambda m: _one(m.group()), _flat(text)))


def html_text(text: str) -> str:
    """Text inside an HTML block (such as `<summary>`), where markdown is not read and a
    backslash would show: entities only, mentions and references still broken."""
    return _WWW.sub(r"\1" + _ZWSP, _HTML_SPECIAL.sub(lambda m: _one(m.group()), _flat(text)))


def md_code(text: str, language: str = "") -> str:
    """A fenced code block showing text verbatim: its fence is longer than any run of
    backticks in the text, so no line of it can close the block."""
    runs = [len(run) for run in _BACKTICKS.findall(text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    info = language if _LANGUAGE.fullmatch(language) else ""
    body = INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))
    return f"{fence}{info}\n{body}\n{fence}"


def md_details(summary: str, body: str) -> str:
    """A collapsed section. summary is plain text (escaped here: it sits in an HTML block
    of one line, which a blank line would end); body is markdown made
    with md_text / md_code (or alm's own), whose text cannot hold a raw `</details>`:
    md_text escapes `<`, and a code block shows it as text. Blank lines around the body
    let GitHub render it as markdown."""
    return f"<details><summary>{html_text(summary)}</summary>\n\n{body}\n\n</details>"
