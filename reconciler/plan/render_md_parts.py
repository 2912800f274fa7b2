"""Small markdown pieces the plan report's sections are made of, and the priorities.

Every text from the report goes through `inline` (reconciler.plan.markdown.md_text) or
md_code; only alm's own words, numbers and icons are written as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.plan.markdown import md_text
from reconciler.plan.render_fit import Builder

# what the budgeted comment keeps first (lower first); sections go in that order too
P_VERDICT = 0
P_APPROVALS = 1
P_REGRESSIONS = 2
P_COST = 3
P_NEW_FAILING = 4
P_CHANGES = 5
P_FINDINGS = 5
P_PASSING = 6
P_OTHER_CASES = 7
P_OLD_FINDINGS = 8
P_DEPLOY = 8
P_PROVENANCE = 9

_ORDERED_MARKER = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")


def inline(text: str) -> str:
    """Repository text as inline markdown; never starts a list, code block or heading."""
    escaped = md_text(text.strip())
    return _ORDERED_MARKER.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def names(items: Sequence[str], most: int = 0) -> str:
    """Names joined with commas; with most > 0, the rest counted."""
    shown = items if most <= 0 or len(items) <= most else items[:most]
    text = ", ".join(inline(i) for i in shown)
    if len(shown) < len(items):
        text += f" and {len(items) - len(shown)} more"
    return text


def row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(
    b: Builder,
    header: Sequence[str],
    rows: Sequence[tuple[Sequence[str], int]],
    kind: str,
    parent: int | None,
    priority: int,
) -> None:
    """A table whose rows are blocks of their own: kept rows always make a whole table.
    rows: (cells, priority) each; cells are markdown already."""
    if not rows:
        return
    group = b.new_group()
    head = row(header) + "\n|" + "---|" * len(header)
    head_id = b.add(head, priority, None, parent, group)
    for cells, row_priority in rows:
        assert len(cells) == len(header), "a table row has as many cells as its header"
        b.add(row(cells), row_priority, kind, head_id, group)


def bullets(
    b: Builder, items: Sequence[tuple[str, int]], kind: str, parent: int | None, group: str
) -> None:
    """A tight list whose items are blocks of their own. items: (markdown, priority)."""
    for text, priority in items:
        b.add(f"- {text}", priority, kind, parent, group)
