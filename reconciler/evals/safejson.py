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
from typing import Any

MAX_DEPTH = 64  # arrays and objects inside one another


class JsonRefused(ValueError):
    """The text is not JSON that alm accepts; the message says what was expected."""


class NotJson(JsonRefused):
    """Not JSON at all (a syntax error), as opposed to JSON alm refuses."""


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
        raise JsonRefused(f"{line}:{column}: not UTF-8; expected UTF-8 text") from None


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The value of a JSON text, or JsonRefused (never RecursionError, never NaN or inf)."""
    if isinstance(text, bytes):
        text = decode_utf8(text)
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except JsonRefused:
        raise
    except json.JSONDecodeError as exc:
        raise NotJson(f"{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except RecursionError:
        raise JsonRefused(f"nested too deep; expected at most {max_depth} levels") from None
    except ValueError as exc:  # an integer literal past Python's digit limit
        first = next(iter(str(exc).splitlines()), "")
        raise JsonRefused(f"not a usable number: {first[:120]}") from None
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
            raise JsonRefused(f"nested too deep; expected at most {max_depth} levels")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
