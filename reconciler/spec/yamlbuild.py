"""The bounded composer and builder: a YAML text's node graphs into plain values and positions.

PyYAML composes each document's node graph (the C parser when available); the builder walks
it into Python values itself, so that duplicate keys are errors instead of last-wins, alias
expansion has a hard budget ("billion laughs"), nesting has a bound, only plain tags are
accepted, and each value and key keeps its 1-based line and column. Every error is a
SpecError naming file:line:column.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import yaml

from reconciler.errors import Finding, Location, SpecError
from reconciler.spec.yamlevents import resolve_scalar

MAX_NODES_PER_DOCUMENT = 100_000
MAX_DEPTH = 50

_SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """The safe loader, remembering the implicit tag of short plain scalars.

    Resolving a scalar's tag tries the resolvers' regular expressions in Python, once
    per scalar; a spec repeats the same keys and values thousands of times. The answer
    depends only on the value and the implicit flags while no path resolvers are
    registered (the safe loader registers none), so it is kept in a bounded table
    (shared with the event reader, yamlevents).
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        return resolve_scalar(value, implicit)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "binary", "timestamp")
)

_MAPPING, _SEQUENCE = yaml.MappingNode, yaml.SequenceNode
Path = tuple[str | int, ...]
Mark = tuple[int, int]


def spec_error(file: str, line: int, column: int, message: str, code: str = "yaml") -> SpecError:
    """The one finding a YAML file is refused with, at file:line:column."""
    return SpecError(Finding(code, message, Location(file, line, column)))


class _Builder:
    """Turns one composed node graph into plain values and positions."""

    def __init__(self, file: str, max_nodes: int) -> None:
        self.file = file
        self.budget = max_nodes
        self.values: dict[Path, Mark] = {}  # the positions, filled as the graph is walked
        self.keys: dict[Path, Mark] = {}
        self.merge_depth = 0

    def charge(self, node: yaml.Node) -> None:
        self.budget -= 1
        if self.budget < 0:
            line, column = _mark(node)
            raise spec_error(
                self.file,
                line,
                column,
                "document expands to too many values (aliases nested too deep?); "
                f"expected at most {MAX_NODES_PER_DOCUMENT} values",
                "alias-bomb",
            )

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.charge(node)
        if len(path) >= MAX_DEPTH and isinstance(node, yaml.CollectionNode):
            line, column = _mark(node)
            raise spec_error(
                self.file,
                line,
                column,
                f"values nested too deep (or an alias refers to itself); expected at most "
                f"{MAX_DEPTH} levels",
                "too-deep",
            )
        mark = node.start_mark
        self.values[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, _MAPPING):
            self._plain_collection(node, _MAP_TAG)
            return self._mapping(node, path)
        if isinstance(node, _SEQUENCE):
            self._plain_collection(node, _SEQ_TAG)
            build = self.build
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        return node.value if node.tag == _STR_TAG else self._scalar(node)

    def _plain_collection(self, node: yaml.Node, tag: str) -> None:
        """A tag such as !!python/object or !!set on a collection is refused, not ignored."""
        if node.tag != tag:
            line, column = _mark(node)
            raise spec_error(self.file, line, column, f"unsupported YAML tag {node.tag}")

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        make = _CONSTRUCTOR.yaml_constructors.get(node.tag)
        if make is None or node.tag not in _SCALAR_TAGS:
            line, column = _mark(node)
            raise spec_error(self.file, line, column, f"unsupported YAML tag {node.tag}")
        try:
            return make(_CONSTRUCTOR, node)
        except (yaml.YAMLError, ValueError, KeyError, TypeError, OverflowError) as err:
            # e.g. a date such as 2024-13-45, `!!int abc`, an integer of 5000 digits
            line, column = _mark(node)
            detail = next(iter(str(err).splitlines()), "")  # without PyYAML's "in <string>"
            raise spec_error(self.file, line, column, f"bad {node.tag} value: {detail}") from None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        seen: dict[Any, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge_source(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, column = _mark(key_node)
                raise spec_error(self.file, line, column, "expected a plain scalar key")
            key = key_node.value if key_node.tag == _STR_TAG else self._scalar(key_node)
            mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                raise spec_error(
                    self.file,
                    mark[0],
                    mark[1],
                    f"duplicate key {key!r} (first at line {seen[key][0]}); expected each key once",
                    "duplicate-key",
                )
            seen[key] = mark
            self.keys[(*path, key)] = mark
            result[key] = self.build(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_source(self, node: yaml.Node, path: Path) -> dict[Any, Any]:
        if self.merge_depth >= MAX_DEPTH:
            line, column = _mark(node)
            raise spec_error(
                self.file,
                line,
                column,
                "merge keys (<<) refer to each other in a loop; expected a finite merge",
                "too-deep",
            )
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        self.merge_depth += 1
        try:
            for source in reversed(sources):
                self.charge(source)  # merging empty mappings expands too ("<<: [*a, *a, ...]")
                if not isinstance(source, yaml.MappingNode):
                    line, column = _mark(source)
                    raise spec_error(self.file, line, column, "expected a mapping to merge with <<")
                merged.update(self._mapping(source, path))
        finally:
            self.merge_depth -= 1
        return merged


def _mark(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


_SAFE_NESTING_BOUND = 2000  # the composer's recursion is safe far beyond this


def _nesting_bound(text: str) -> int:
    """An upper bound on nesting depth: each level needs a new line or an indicator."""
    return sum(text.count(c) for c in "\n[{-?") + 1


def _check_nesting(file: str, text: str, loader: Any = _Loader) -> None:
    """Refuse deep nesting before composing: the composer recurses once per level, and
    tens of thousands of `[` crash the interpreter (the C composer) or overflow its stack.
    Files too small to nest that deep skip the extra parse; the builder still refuses
    anything past MAX_DEPTH."""
    if loader is _Loader and _nesting_bound(text) <= _SAFE_NESTING_BOUND:
        return
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
                raise spec_error(
                    file,
                    line,
                    column,
                    f"values nested too deep; expected at most {MAX_DEPTH} levels",
                    "too-deep",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _tab_near(text: str, line: int, column: int, problem: str) -> int | None:
    """The column of the tab a syntax error is about, if it is about one.

    The scanners word it differently ("cannot start any token", "violates indentation"),
    so look at the text: the character at the error, else a tab in that line's indentation
    when the error mentions one.
    """
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    row = lines[line - 1]
    if 1 <= column <= len(row) and row[column - 1] == "\t":
        return column
    indent = row[: len(row) - len(row.lstrip(" \t"))]
    if "tab" in problem and "\t" in indent:
        return indent.index("\t") + 1
    return None


def _compose(file: str, text: str) -> Iterator[yaml.Node]:
    try:
        _check_nesting(file, text)
        yield from yaml.compose_all(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        if "maximum nesting depth" in (err.problem or ""):
            # newer libyaml scans a flow collection ahead and stops at 1000 levels: find
            # where it passed MAX_DEPTH with the pure-Python parser, which looks ahead less
            with contextlib.suppress(yaml.YAMLError):
                _check_nesting(file, text, yaml.SafeLoader)
            message = f"values nested too deep; expected at most {MAX_DEPTH} levels"
            raise spec_error(file, line, column, message, "too-deep") from None
        tab = _tab_near(text, line, column, err.problem or "")
        if tab is not None:
            message = "found a tab character; YAML indents with spaces (expected spaces here)"
            raise spec_error(file, line, tab, message, "yaml-syntax") from None
        what = " ".join(p for p in (err.context, err.problem) if p)
        raise spec_error(file, line, column, f"YAML syntax error: {what}", "yaml-syntax") from None
    except yaml.reader.ReaderError as err:
        raise _unprintable(file, text, err) from None
    except yaml.YAMLError as err:
        raise spec_error(file, 0, 0, f"YAML error: {err}", "yaml-syntax") from None


def _unprintable(file: str, text: str, err: yaml.reader.ReaderError) -> SpecError:
    """The reader's error names only an offset into the text: give its line and column."""
    before = text[: err.position]
    line = before.count("\n") + 1
    column = err.position - (before.rfind("\n") + 1) + 1
    code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1])
    escape = f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    message = (
        f"character U+{code:04X} is not allowed in YAML; expected printable text "
        f"(write it as {escape} inside a double-quoted string)"
    )
    return spec_error(file, line, column, message, "yaml-syntax")


def build_all(file: str, text: str) -> Iterator[tuple[Any, dict[Path, Mark], dict[Path, Mark]]]:
    """Each document's value, with the positions of its values and of its mapping keys."""
    for node in _compose(file, text):
        builder = _Builder(file, MAX_NODES_PER_DOCUMENT)
        data = builder.build(node, ())
        yield data, builder.values, builder.keys
