"""Markdown written to a budget: sections made of whole blocks, kept greedily by priority.

A block is a unit that is never cut: a paragraph, a list item, a table's header or one of
its rows, a whole `<details>`. Cutting only between blocks means no line is cut in half
and no table or `<details>` is left open. Each block but a section's heading names what
it shows (a failing case, a cost row, ...) so that what is left out is counted. A block
needs its parent (a row its table's header, a case its agent's heading): it is kept only
when the parent is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.plan.render_common import plural, utf16_len

SEPARATOR = 2  # at most "\n\n" between two blocks


@dataclass(frozen=True)
class Block:
    id: int
    text: str
    priority: int  # lower is more important
    kind: str | None  # what is counted when it is left out; None: structure (a heading,
    # a table's header) shown only with one of its children
    parent: int | None
    group: str | None  # consecutive blocks of one group join with one newline


@dataclass
class Section:
    key: str
    priority: int  # where the section goes in the budgeted report
    blocks: list[Block] = field(default_factory=list)


# the words for what was left out: kind -> (one, many); the order they are listed in
KINDS: dict[str, tuple[str, str]] = {
    "reason": ("verdict reason", "verdict reasons"),
    "approval": ("approval", "approvals"),
    "review": ("review note", "review notes"),
    "agent eval": ("agent's eval details", "agents' eval details"),
    "metric": ("metric row", "metric rows"),
    "case": ("failing case", "failing cases"),
    "not run": ("case that could not run", "cases that could not run"),
    "cost": ("cost row", "cost rows"),
    "agent": ("changed agent's details", "changed agents' details"),
    "change": ("change line", "change lines"),
    "finding": ("finding", "findings"),
    "environment": ("environment", "environments"),
    "provenance": ("provenance line", "provenance lines"),
    "note": ("note", "notes"),
}


class Builder:
    """Blocks of the report, numbered in document order, section by section."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._next = 0
        self._groups = 0
        self._heading: int | None = None

    def section(self, key: str, priority: int, heading: str) -> int:
        self.sections.append(Section(key, priority))
        self._heading = None
        self._heading = self.add(heading, priority, None)
        return self._heading

    def add(
        self,
        text: str,
        priority: int,
        kind: str | None,
        parent: int | None = None,
        group: str | None = None,
    ) -> int:
        """A block; its parent is the section's heading unless another is given."""
        parent = self._heading if parent is None else parent
        block = Block(self._next, text, priority, kind, parent, group)
        self.sections[-1].blocks.append(block)
        self._next += 1
        return block.id

    def new_group(self) -> str:
        self._groups += 1
        return f"g{self._groups}"


def join(blocks: Iterable[Block]) -> str:
    out: list[str] = []
    last: Block | None = None
    for block in blocks:
        if last is not None:
            same = block.group is not None and block.group == last.group
            out.append("\n" if same else "\n\n")
        out.append(block.text)
        last = block
    return "".join(out)


def whole(sections: Iterable[Section]) -> str:
    return join(b for s in sections for b in s.blocks) + "\n"


def fit(sections: list[Section], room: int) -> tuple[set[int], Counter[str]]:
    """The blocks kept within room (UTF-16 units, separators counted at their most), most
    important first, and the count of each kind left out."""
    blocks = sorted((b for s in sections for b in s.blocks), key=lambda b: (b.priority, b.id))
    kept: set[int] = set()
    left: Counter[str] = Counter()
    used = 1  # the final newline
    for block in blocks:
        cost = utf16_len(block.text) + SEPARATOR
        if (block.parent is None or block.parent in kept) and used + cost <= room:
            kept.add(block.id)
            used += cost
        elif block.kind is not None:
            left[block.kind] += 1
    return kept, left


def prune(sections: list[Section], kept: set[int]) -> set[int]:
    """kept without the structure (headings, table headers) none of whose children is
    kept: no empty section, no table without rows."""
    wanted: set[int] = set()
    for block in sorted((b for s in sections for b in s.blocks), key=lambda b: -b.id):
        # children come after their parent, so they are seen first here
        if block.id in kept and (block.kind is not None or block.id in wanted):
            wanted.add(block.id)
            if block.parent is not None:
                wanted.add(block.parent)
    return wanted


def kept_text(sections: list[Section], kept: set[int]) -> str:
    """The kept blocks in document order: the comment reads like the full report, with
    what did not fit (chosen by priority) left out."""
    return whole(
        Section(s.key, s.priority, [b for b in s.blocks if b.id in kept]) for s in sections
    )


def left_out_words(left: Counter[str]) -> str:
    """ "12 failing cases, 3 agents' eval details" in the order of KINDS."""
    words = [plural(left[k], *KINDS[k]) for k in KINDS if left[k]]
    words += [plural(n, k, k) for k, n in sorted(left.items()) if k not in KINDS and n]
    return ", ".join(words)


def everything_left_out(sections: list[Section]) -> Counter[str]:
    """The counts if every block were left out: the longest footer there can be."""
    return Counter(b.kind for s in sections for b in s.blocks if b.kind is not None)
