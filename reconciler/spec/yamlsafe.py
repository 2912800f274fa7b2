"""Strict, bounded YAML reading that remembers where every value came from.

The file is decoded under a size limit; plain documents are read from parser events
(yamlevents), anything else by the bounded builder (yamlbuild), which refuses duplicate
keys, alias bombs, deep nesting and unsupported tags. Each document keeps the line and
column of every value and key for findings, found lazily when the events gave the values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.errors import Location
from reconciler.gcpause import gc_paused
from reconciler.spec.yamlbuild import (
    MAX_DEPTH,
    MAX_NODES_PER_DOCUMENT,
    Mark,
    Path,
    build_all,
    spec_error,
)
from reconciler.spec.yamlevents import plain_values
from reconciler.spec.yamlpos import plain_positions

MAX_FILE_BYTES = 512 * 1024


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


def decode(file: str, raw: bytes, max_bytes: int = MAX_FILE_BYTES) -> str:
    if len(raw) > max_bytes:
        raise spec_error(
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
        raise spec_error(
            file,
            line,
            column,
            f"byte 0x{raw[err.start]:02x} is not UTF-8; expected UTF-8 text",
            "encoding",
        ) from None
    return text.removeprefix("\ufeff")


def load_documents(file: str, raw: bytes, max_bytes: int = MAX_FILE_BYTES) -> list[Document]:
    """Every document of a YAML file; raises SpecError with file:line:col."""
    return read_documents(file, raw, max_bytes)[0]


def read_documents(
    file: str, raw: bytes, max_bytes: int = MAX_FILE_BYTES
) -> tuple[list[Document], bool]:
    """The documents, and True when their values are known to come back from JSON exactly
    (plain strings, numbers, booleans, nulls, lists and string-keyed mappings).

    A plain file is read from parser events, its positions found (from events again) only
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
    """Documents of values read before; their positions are found once for the whole file,
    only when a finding asks for one."""
    found: list[list[tuple[dict[Path, Mark], dict[Path, Mark]]]] = []

    def positions(index: int) -> Callable[[], tuple[dict[Path, Mark], dict[Path, Mark]]]:
        def unpack() -> tuple[dict[Path, Mark], dict[Path, Mark]]:
            if not found:
                found.append(file_positions(file, decode(file, raw, max_bytes)))
            return found[0][index]

        return unpack

    return [Document(file, data, Positions(unpack=positions(i))) for i, data in enumerate(values)]


def file_positions(file: str, text: str) -> list[tuple[dict[Path, Mark], dict[Path, Mark]]]:
    """Each document's positions of values and keys: from the parser's events in one pass
    when the file is plain (yamlpos), else from the full builder, which gives the same.

    Findings ask for them after loading, over the large heap of a loaded fleet, where the
    young collections the tables' many small tuples set off cost about a third as much
    again (see reconciler.gcpause); the tables hold no cycles."""
    with gc_paused():
        plain = plain_positions(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT)
    if plain is not None:
        return plain
    return [(d.positions.values, d.positions.keys) for d in _built_documents(file, text)]


def _built_documents(file: str, text: str) -> list[Document]:
    documents = [
        Document(file, data, Positions(values, keys))
        for data, values, keys in build_all(file, text)
    ]
    if not documents:
        raise spec_error(
            file, 1, 1, "file is empty; expected a YAML mapping with apiVersion and kind", "empty"
        )
    return documents
