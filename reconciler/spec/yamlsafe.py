"""Strict, bounded YAML reading that remembers where every value came from.

PyYAML composes the node graph (the C parser when available); we build the
Python values ourselves so that duplicate keys are errors instead of last-wins,
alias expansion has a hard budget ("billion laughs"), and each value keeps its
line and column for findings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.errors import Finding, Location, SpecError
from reconciler.spec.yamlevents import plain_values, resolve_scalar

MAX_FILE_BYTES = 512 * 1024
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


class Positions:
    """1-based (line, column) of each value and each mapping key, by path.

    `unpack` gives both tables on first use instead (a parse cache keeps them packed:
    most documents never report a finding, so never need them)."""

    __slots__ = ("_keys", "_unpack", "_values")

    def __init__(
        self,
        values: dict[Path, Mark] | None = None,
        keys: dict[Path, Mark] | None = None,
        unpack: Callable[[], tuple[dict[Path, Mark], dict[Path, Mark]]] | None = None,
    ) -> None:
        self._values = {} if values is None else values
        self._keys = {} if keys is None else keys
        self._unpack = unpack

    def _unpacked(self) -> None:
        if self._unpack is not None:
            self._values, self._keys = self._unpack()
            self._unpack = None

    @property
    def values(self) -> dict[Path, Mark]:
        self._unpacked()
        return self._values

    @property
    def keys(self) -> dict[Path, Mark]:
        self._unpacked()
        return self._keys

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Positions):
            return NotImplemented
        return (self.values, self.keys) == (other.values, other.keys)

    __hash__ = None  # type: ignore[assignment]

    def locate(self, loc: tuple[Any, ...], prefer_key: bool = False) -> Mark:
        """The closest known position for a path that may hold extra parts.

        Validation errors carry parts that are not in the data (union member
        names, for instance); those are skipped.
        """
        values = self.values
        path: Path = ()
        for part in loc:
            candidate = (*path, part)
            if candidate in values:
                path = candidate
        if prefer_key and path in self.keys:
            return self.keys[path]
        return values.get(path, (1, 1))


@dataclass
class Document:
    file: str
    data: Any
    positions: Positions

    def location(self, loc: tuple[Any, ...] = (), prefer_key: bool = False) -> Location:
        line, column = self.positions.locate(loc, prefer_key)
        return Location(self.file, line, column)


def _fail(file: str, line: int, column: int, message: str, code: str = "yaml") -> SpecError:
    return SpecError(Finding(code, message, Location(file, line, column)))


def decode(file: str, raw: bytes, max_bytes: int = MAX_FILE_BYTES) -> str:
    if len(raw) > max_bytes:
        raise _fail(
            file,
            0,
            0,
            f"file is {len(raw)} bytes; expected at most {max_bytes} bytes",
            "file-too-large",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = raw[: err.start]
        line = before.count(b"\n") + 1
        column = err.start - (before.rfind(b"\n") + 1) + 1
        raise _fail(
            file,
            line,
            column,
            f"byte 0x{raw[err.start]:02x} is not UTF-8; expected UTF-8 text",
            "encoding",
        ) from None
    return text.removeprefix("\ufeff")


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
            raise _fail(
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
            raise _fail(
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
            raise _fail(self.file, line, column, f"unsupported YAML tag {node.tag}")

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        make = _CONSTRUCTOR.yaml_constructors.get(node.tag)
        if make is None or node.tag not in _SCALAR_TAGS:
            line, column = _mark(node)
            raise _fail(self.file, line, column, f"unsupported YAML tag {node.tag}")
        try:
            return make(_CONSTRUCTOR, node)
        except (yaml.YAMLError, ValueError, KeyError, TypeError, OverflowError) as err:
            # e.g. a date such as 2024-13-45, `!!int abc`, an integer of 5000 digits
            line, column = _mark(node)
            detail = next(iter(str(err).splitlines()), "")  # without PyYAML's "in <string>"
            raise _fail(self.file, line, column, f"bad {node.tag} value: {detail}") from None

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
                raise _fail(self.file, line, column, "expected a plain scalar key")
            key = key_node.value if key_node.tag == _STR_TAG else self._scalar(key_node)
            mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                raise _fail(
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
            raise _fail(
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
                    raise _fail(self.file, line, column, "expected a mapping to merge with <<")
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
                raise _fail(
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
            raise _fail(file, line, column, message, "too-deep") from None
        tab = _tab_near(text, line, column, err.problem or "")
        if tab is not None:
            message = "found a tab character; YAML indents with spaces (expected spaces here)"
            raise _fail(file, line, tab, message, "yaml-syntax") from None
        what = " ".join(p for p in (err.context, err.problem) if p)
        raise _fail(file, line, column, f"YAML syntax error: {what}", "yaml-syntax") from None
    except yaml.YAMLError as err:
        raise _fail(file, 0, 0, f"YAML error: {err}", "yaml-syntax") from None


def load_documents(file: str, raw: bytes, max_bytes: int = MAX_FILE_BYTES) -> list[Document]:
    """Every document of a YAML file; raises SpecError with file:line:col."""
    return read_documents(file, raw, max_bytes)[0]


def read_documents(
    file: str, raw: bytes, max_bytes: int = MAX_FILE_BYTES
) -> tuple[list[Document], bool]:
    """The documents, and True when their values are known to come back from JSON exactly
    (plain strings, numbers, booleans, nulls, lists and string-keyed mappings).

    A plain file is read from parser events, its positions found by the full builder only
    when a finding asks for them; anything else goes through the full builder, which gives
    the same values (tests/test_spec_yamlevents.py) and words every error."""
    text = decode(file, raw, max_bytes)
    plain = plain_values(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT)
    if plain is None:
        return _built_documents(file, text), False
    values, exact = plain
    return lazy_documents(file, raw, values, max_bytes), exact


def lazy_documents(
    file: str, raw: bytes, values: list[Any], max_bytes: int = MAX_FILE_BYTES
) -> list[Document]:
    """Documents of values read before; their positions are found by the full builder,
    once for the whole file, only when a finding asks for one."""
    built: list[list[Document]] = []

    def positions(index: int) -> Callable[[], tuple[dict[Path, Mark], dict[Path, Mark]]]:
        def unpack() -> tuple[dict[Path, Mark], dict[Path, Mark]]:
            if not built:
                built.append(_built_documents(file, decode(file, raw, max_bytes)))
            found = built[0][index].positions
            return found.values, found.keys

        return unpack

    return [Document(file, data, Positions(unpack=positions(i))) for i, data in enumerate(values)]


def _built_documents(file: str, text: str) -> list[Document]:
    documents: list[Document] = []
    for node in _compose(file, text):
        builder = _Builder(file, MAX_NODES_PER_DOCUMENT)
        data = builder.build(node, ())
        documents.append(Document(file, data, Positions(builder.values, builder.keys)))
    if not documents:
        raise _fail(
            file, 1, 1, "file is empty; expected a YAML mapping with apiVersion and kind", "empty"
        )
    return documents
