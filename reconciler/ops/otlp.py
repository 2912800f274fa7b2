"""Reading OTLP JSON trace files (docs/traces.md) into `Span`s and `BadSpan`s.

Lines are streamed (plain, gzip or zstd by magic bytes; "-" is stdin) and each line is
parsed once, by msgspec (the same values as json.loads, twice as fast: parsing was half of
reading), or by json.loads when msgspec refuses the line (NaN, a lone surrogate, bad
UTF-8), which then says what is wrong; a resource's attributes are decoded once and
shared by its spans. Every kind of bad input becomes a `BadSpan` at "file:line", never an exception.

Types checked here (one span's fields in reconciler.ops.otlp_span): the OTLP structure
(ids, times, status, AnyValue) and the GenAI attributes whose type the conventions fix
(otlp_values.GENAI_TYPES: token counts are non-negative integers, names are strings); a
span failing them is dropped as a BadSpan, because its cost or identity cannot be trusted.
The alm.* labels are checked by assembly instead (reconciler.ops.assemble): a bad label is
ignored and its task kept.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import zstandard

from reconciler.errors import AlmError
from reconciler.ops.model import BadSpan, Span
from reconciler.ops.otlp_span import check_text, decode_span
from reconciler.ops.otlp_values import (
    DETAIL,
    MAX_ATTRIBUTE,
    BadValue,
    attributes,
    clip,
    quoted,
)
from reconciler.ops.zstd_stream import ZstdReader

MAX_LINE = 64 * 1024 * 1024  # bytes of one export line
# the limits are part of the reader's contract (ISSUE12), so they are named here too
__all__ = [
    "DETAIL",
    "MAX_ATTRIBUTE",
    "MAX_LINE",
    "LongLine",
    "TraceFileError",
    "open_trace_file",
    "read_files",
    "read_lines",
]
_GZIP, _ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"
_decode = msgspec.json.Decoder().decode  # untyped: dicts, lists, str, int, float, bool
# one pass over the line (a regex beats two substring searches over ~1 MB lines); json.loads
# decodes bytes with surrogatepass, so UTF-8-encoded surrogates (ED A0-BF) count too
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_UTF8 = re.compile(rb"\xed[\xa0-\xbf]")
_SURROGATE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")


class TraceFileError(AlmError):
    """A trace file that cannot be opened or decompressed."""


class LongLine(bytes):
    """What open_trace_file yields for a line over the limit: its start, not the line."""

    size: int


# --- files -----------------------------------------------------------------------------


def open_trace_file(path: Path | str, max_line: int = MAX_LINE) -> Iterator[bytes]:
    """The lines of a plain, gzip or zstd file ("-": stdin), streamed; a line over
    `max_line` bytes comes as a `LongLine` (its first bytes) and is skipped, not held."""
    name = "<stdin>" if str(path) == "-" else str(path)
    number = 0
    try:
        with _binary(path) as stream:
            while line := stream.readline(max_line + 1):
                number += 1
                yield _too_long(line, stream) if len(line) > max_line else line
    except (OSError, EOFError, zstandard.ZstdError) as error:
        raise TraceFileError(f"{name}: cannot read after line {number}: {error}") from None


@contextmanager
def _binary(path: Path | str) -> Iterator[io.BufferedIOBase]:
    if str(path) == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise TraceFileError("<stdin>: not readable as bytes")
        yield _decompressed(stdin if isinstance(stdin, io.BufferedReader) else _buffer(stdin))
        return
    with open(path, "rb") as raw:
        yield _decompressed(raw)


def _buffer(raw: Any) -> io.BufferedReader:
    return io.BufferedReader(raw, buffer_size=1 << 20)


def _decompressed(raw: io.BufferedReader) -> io.BufferedIOBase:
    head = raw.peek(4)[:4]
    if head.startswith(_GZIP):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head == _ZSTD:  # cut short: EOFError as gzip's; output bounded as gzip's
        return _buffer(ZstdReader(raw))
    return raw


def _too_long(start: bytes, stream: io.BufferedIOBase) -> LongLine:
    size = len(start)
    rest = start
    while not rest.endswith(b"\n"):  # skip to the line's end in bounded pieces
        rest = stream.readline(1 << 20)
        if not rest:
            break
        size += len(rest)
    marker = LongLine(start[:DETAIL])
    marker.size = size
    return marker


def read_files(paths: Iterable[Path | str]) -> Iterator[Span | BadSpan]:
    """The spans of each file in turn ("-": stdin), named as given."""
    for path in paths:
        where = "<stdin>" if str(path) == "-" else str(path)
        yield from read_lines(open_trace_file(path), where)


# --- lines -----------------------------------------------------------------------------


def read_lines(
    lines: Iterable[bytes | str], where: str, max_line: int = MAX_LINE
) -> Iterator[Span | BadSpan]:
    """The spans of OTLP JSON lines; bad input as BadSpan at "where:line"."""
    for number, line in enumerate(lines, 1):
        at = f"{where}:{number}"
        if type(line) is LongLine or len(line) > max_line:
            size = getattr(line, "size", len(line))
            yield BadSpan("too-large", at, f"a line of {size:,} bytes, over {max_line:,}")
        elif line and not line.isspace():
            yield from _read_line(line, at)


def _parse(line: bytes | str) -> Any:
    try:
        return _decode(line)
    except msgspec.DecodeError:
        return json.loads(line)


def _read_line(line: bytes | str, at: str) -> Iterator[Span | BadSpan]:
    try:
        export = _parse(line)
    except (ValueError, RecursionError) as error:
        yield BadSpan("bad-json", at, f"not JSON: {clip(str(error))}")
        return
    resources = export.get("resourceSpans") if type(export) is dict else None
    if type(resources) is not list:
        got = quoted(export if resources is None else resources)
        yield BadSpan("not-otlp", at, f"expected {{'resourceSpans': [...]}}, got {got}")
        return
    escaped = _may_hold_surrogates(line)
    for resource_spans in resources:
        yield from _resource_spans(resource_spans, at, escaped)


def _may_hold_surrogates(line: bytes | str) -> bool:
    """Whether the line escapes a UTF-16 surrogate (a lone one is not Unicode text)."""
    if isinstance(line, bytes):
        if b"\xed" in line and _SURROGATE_UTF8.search(line):  # a one-byte search first
            return True
        return _SURROGATE_BYTES.search(line) is not None
    return _SURROGATE_TEXT.search(line) is not None


def _resource_spans(raw: Any, at: str, escaped: bool) -> Iterator[Span | BadSpan]:
    try:
        resource, groups = _resource(raw, escaped)
    except BadValue as bad:
        yield BadSpan(bad.kind, at, f"resource: {bad.detail}")
        return
    for spans in groups:
        for raw_span in spans:
            try:
                yield decode_span(raw_span, resource, escaped)
            except BadValue as bad:
                yield BadSpan(bad.kind, at, bad.detail)


def _resource(raw: Any, escaped: bool) -> tuple[dict[str, Any], list[list[Any]]]:
    """The decoded resource attributes and the span lists of its scopes."""
    if type(raw) is not dict:
        raise BadValue("not-otlp", f"a resourceSpans item that is {quoted(raw)}")
    resource = raw.get("resource") or {}
    if type(resource) is not dict:
        raise BadValue("not-otlp", f"a resource that is {quoted(resource)}")
    if escaped:
        check_text(resource)
    scopes = raw.get("scopeSpans") or []
    if type(scopes) is not list:
        raise BadValue("not-otlp", f"scopeSpans {quoted(scopes)}: expected a list")
    groups = []
    for scope in scopes:
        spans = scope.get("spans") if type(scope) is dict else None
        if type(spans) is not list:
            raise BadValue("not-otlp", "a scopeSpans item without a list of spans")
        groups.append(spans)
    return attributes(resource.get("attributes")), groups
