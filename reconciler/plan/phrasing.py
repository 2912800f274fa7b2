"""The machinery of phrasing a change: types, value formatting, path patterns.

A registry (the tables are in reconciler.plan.phrases) maps path patterns of the
normalised desired state (dotted; `*` matches one segment, `**` any number) to a
phrase function. The first pattern that matches wins; a change no pattern covers
still reads `<path>: old → new`, so nothing is ever silently dropped.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from reconciler.spec.catalog import RISK_ORDER, Tool
from reconciler.spec.state import PromptFile
from reconciler.wording import plural

PathKey = str | int


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Stands for "not there" on the side of a change where a key does not exist."""


@dataclass(frozen=True)
class Change:
    """One change, as a sentence and as structured before/after values."""

    kind: str
    text: str
    path: tuple[PathKey, ...] = ()
    before: Any = None
    after: Any = None
    detail: str | None = None
    affects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # one line per change, in `alm diff` and the PR comment alike: a line break in a
        # value (a description) must not start a line that reads as another change
        object.__setattr__(self, "text", self.text.replace("\r", "\\r").replace("\n", "\\n"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "path": list(self.path),
            "before": None if self.before is MISSING else self.before,
            "after": None if self.after is MISSING else self.after,
            "detail": self.detail,
            "affects": list(self.affects),
        }


@dataclass(frozen=True)
class Edit:
    """A raw difference at one path; before or after is MISSING when absent."""

    path: tuple[PathKey, ...]
    before: Any
    after: Any

    def change(self, kind: str, text: str, detail: str | None = None) -> Change:
        return Change(kind, text, self.path, self.before, self.after, detail)


@dataclass(frozen=True)
class Context:
    """What phrases may consult besides the edit: catalogs and prompt files."""

    base_tools: Mapping[str, Tool]
    head_tools: Mapping[str, Tool]
    base_prompt: PromptFile | None = None
    head_prompt: PromptFile | None = None


Phrase = Callable[[Context, Edit], Change]
Registry = dict[str, Phrase]


def fmt(value: Any) -> str:
    """A value as a reviewer reads it: 0 not 0.0, [a, b] not ['a', 'b']."""
    if value is None or value is MISSING:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {fmt(v)}" for k, v in value.items() if v is not None) + "}"
    return str(value) if value != "" else '""'


def dotted(path: tuple[PathKey, ...]) -> str:
    return ".".join(str(p) for p in path) or "(root)"


@lru_cache(maxsize=256)
def _split(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("."))


def matches(pattern: tuple[str, ...], path: tuple[PathKey, ...]) -> bool:
    if not pattern:
        return not path
    first, rest = pattern[0], pattern[1:]
    if first == "**":
        return any(matches(rest, path[i:]) for i in range(len(path) + 1))
    if not path or first not in ("*", str(path[0])):
        return False
    return matches(rest, path[1:])


def generic(_ctx: Context, e: Edit) -> Change:
    kind = "other.added" if e.before is MISSING else "other.changed"
    kind = "other.removed" if e.after is MISSING else kind
    return e.change(kind, f"{dotted(e.path)}: {fmt(e.before)} → {fmt(e.after)}")


def describe(registry: Registry, ctx: Context, edit: Edit) -> Change:
    """The phrase of the first pattern that matches; the generic form otherwise."""
    for pattern, phrase in registry.items():
        if matches(_split(pattern), edit.path):
            return phrase(ctx, edit)
    return generic(ctx, edit)


# --- phrase factories ---------------------------------------------------------


def arrow(kind: str, label: str, rest_from: int | None = None) -> Phrase:
    """`<label> [<rest of the path>] old → new`; label may use {p[i]} path segments."""

    def phrase(_ctx: Context, e: Edit) -> Change:
        head = label.format(p=e.path)
        if rest_from is not None and e.path[rest_from:]:
            head += " " + dotted(e.path[rest_from:])
        return e.change(kind, f"{head} {fmt(e.before)} → {fmt(e.after)}")

    return phrase


def delta(kind: str, label: str, quote: bool = False) -> Phrase:
    """A list told as what was added and removed (or reordered)."""

    def show(items: list[Any]) -> str:
        return ", ".join(f'"{i}"' if quote else fmt(i) for i in items)

    def phrase(_ctx: Context, e: Edit) -> Change:
        old = e.before if isinstance(e.before, list) else []
        new = e.after if isinstance(e.after, list) else []
        added, removed = [x for x in new if x not in old], [x for x in old if x not in new]
        sides = (("added", added), ("removed", removed))
        parts = [f"{word} {show(xs)}" for word, xs in sides if xs]
        if not parts:
            parts = [f"reordered {fmt(old)} → {fmt(new)}"]
        return e.change(kind, f"{label.format(p=e.path)}: {'; '.join(parts)}")

    return phrase


def text_change(kind: str, label: str) -> Phrase:
    def phrase(_ctx: Context, e: Edit) -> Change:
        return e.change(kind, f'{label.format(p=e.path)}: "{fmt(e.before)}" → "{fmt(e.after)}"')

    return phrase


def presence(kind: str, label: str, describe_value: Callable[[Any], str] | None = None) -> Phrase:
    """`<label> added: <p[-1]> (...)` / `<label> removed: <p[-1]>`; else falls back to arrow."""

    def phrase(ctx: Context, e: Edit) -> Change:
        head, name = label.format(p=e.path), e.path[-1] if e.path else ""
        if _absent(e.before) and not _absent(e.after):
            about = describe_value(e.after) if describe_value else ""
            suffix = f" ({about})" if about else ""
            return e.change(f"{kind}.added", f"{head} added: {name}{suffix}")
        if _absent(e.after) and not _absent(e.before):
            return e.change(f"{kind}.removed", f"{head} removed: {name}")
        return arrow(f"{kind}.changed", f"{head} {name}")(ctx, e)

    return phrase


def _absent(value: Any) -> bool:
    return value is None or value is MISSING


def tool_info(name: str, *catalogs: Mapping[str, Tool]) -> str:
    """`write, high risk` from the first catalog that knows the tool (or the wildcard)."""
    if name.endswith(".*"):
        system = name[:-2]
        held = {t.name: t for c in reversed(catalogs) for t in c.values() if t.system == system}
        if not held:
            return "wildcard, no tools in the catalog"
        top = max((t.risk for t in held.values()), key=RISK_ORDER.__getitem__)
        return f"wildcard: {plural(len(held), 'tool')}, up to {top} risk"
    tool = next((c[name] for c in catalogs if name in c), None)
    return f"{tool.access}, {tool.risk} risk" if tool else "not in the catalog"


def short_version(version: Any) -> str:
    text = fmt(version)
    return text[: len("sha256:") + 8] if text.startswith("sha256:") else text


def prompt_diff(base: PromptFile | None, head: PromptFile | None) -> str:
    lines = difflib.unified_diff(
        base.text.splitlines() if base else [],
        head.text.splitlines() if head else [],
        fromfile=f"a/{base.path}" if base else "/dev/null",
        tofile=f"b/{head.path}" if head else "/dev/null",
        lineterm="",
    )
    return "\n".join(lines)


def constraint_text(constraint: Any) -> str:
    if not isinstance(constraint, dict):
        return fmt(constraint)
    return " ".join(f"{k} {fmt(v)}" for k, v in constraint.items() if v is not None)
