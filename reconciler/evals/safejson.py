"""JSON from files alm does not trust (cassettes, results files): parsed, or refused clearly.

Python's json module accepts what JSON does not (NaN, Infinity, 1e400 read as inf),
raises RecursionError rather than ValueError on deep nesting, and refuses integers past
4,300 digits with a bare ValueError. Here every such input is a ``JsonRefused`` with
what was expected, and nothing deeper than a limit gets past, so the code that walks
the value later (hashing, validation, dumping) cannot recurse out of the stack.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

MAX_DEPTH = 64  # arrays and objects inside one another (as reconciler.jsonlimits)


class JsonRefused(ValueError):
    """The text is not JSON that alm accepts; the message says what was expected, and
    ``position`` ("line:column", or "" when none applies) where."""

    def __init__(self, message: str, position: str = "") -> None:
        super().__init__(message)
        self.position = position

    def at(self, source: str) -> str:
        """``source:line:column: message`` (the position only when known)."""
        where = f"{source}:{self.position}" if self.position else source
        return f"{where}: {self}"


class NotJson(JsonRefused):
    """Not JSON at all (a syntax error), as opposed to JSON alm refuses."""


class TooDeep(JsonRefused):
    """Nested deeper than the limit: what no later step could walk (runners end the trial)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested too deep; expected at most {max_depth} levels")


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not JSON; expected a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"number {text[:20]} is out of range; expected a finite number")
    return value


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise JsonRefused("not UTF-8; expected UTF-8 text", f"{line}:{column}") from None


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The value of a JSON text, or JsonRefused (never RecursionError, never NaN or inf)."""
    if isinstance(text, bytes):
        text = decode_utf8(text)
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except JsonRefused:
        raise
    except json.JSONDecodeError as exc:
        raise NotJson(f"not JSON: {exc.msg}", f"{exc.lineno}:{exc.colno}") from None
    except RecursionError:
        raise TooDeep(max_depth) from None
    except ValueError:  # an integer literal past Python's digit limit
        raise JsonRefused(
            f"an integer too long to read; expected at most {sys.get_int_max_str_digits()} digits"
        ) from None
    if text.count("[") + text.count("{") > max_depth:  # else no value in it can be deeper
        check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Refuse values nested deeper than max_depth; iterative, so it never recurses."""
    if not isinstance(value, (dict, list)):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise TooDeep(max_depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


# what a pydantic error type expected, said as the rest of alm says it
_EXPECTED: dict[str, str] = {
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "dataclass_type": "expected an object",
    "list_type": "expected an array",
    "tuple_type": "expected an array",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "finite_number": "expected a finite number",
    "extra_forbidden": "unknown field",
    "missing": "missing; it is required",
}
_BOUNDED: dict[str, str] = {
    "greater_than_equal": "expected a number >= {ge}",
    "less_than_equal": "expected a number <= {le}",
    "greater_than": "expected a number > {gt}",
    "less_than": "expected a number < {lt}",
    "literal_error": "expected {expected}",
    "string_pattern_mismatch": "expected a string matching {pattern}",
}


def describe(error: Mapping[str, Any], skip: int = 0) -> str:
    """One pydantic error as ``where: what was expected``; ``skip`` drops leading loc parts
    (a wrapper's). Never echoes the input value: it may be a secret or huge."""
    where = ".".join(str(p) for p in tuple(error["loc"])[skip:]) or "(root)"
    kind = str(error["type"])
    what = _EXPECTED.get(kind) or str(error["msg"]).removeprefix("Value error, ")
    context = error.get("ctx") or {}
    if kind in _BOUNDED:
        with suppress(KeyError):  # a context without the bound: pydantic's own words then
            what = _BOUNDED[kind].format_map(context)
    return f"{where}: {what}"
