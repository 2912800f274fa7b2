"""How deep a JSON value from an untrusted place may nest.

json.loads, json.dumps, pydantic, jsonschema and our own recursive helpers all recurse
once per level, so a value nested thousands deep (an agent's tool arguments, a model's
answer, a cassette, a results file) raises RecursionError somewhere far from where it
came in, or crashes a later step that serialises it. Values are checked where they come
in, without recursion, and refused with one reason: "nested deeper than N levels".
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.errors import AlmError

MAX_DEPTH = 64  # spec YAML stops at 50; an agent's JSON gets a little more room


class TooDeep(AlmError, ValueError):
    """A value nests deeper than the limit. A ValueError too, so callers that already
    turn malformed JSON into a clear error handle this the same way."""

    def __init__(self, what: str, limit: int = MAX_DEPTH) -> None:
        super().__init__(f"{what}: nested deeper than {limit} levels")
        self.limit = limit


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether value nests more than limit containers (dicts, lists, tuples) deep.

    Iterative, so it works on values that would break a recursive walk; a cycle is
    reported as too deep rather than looping, since each lap goes one level deeper."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list | tuple):
            children = current
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_depth(value: Any, what: str, limit: int = MAX_DEPTH) -> Any:
    """value itself; TooDeep when it nests deeper than limit."""
    if too_deep(value, limit):
        raise TooDeep(what, limit)
    return value


def loads(raw: str | bytes, what: str, limit: int = MAX_DEPTH) -> Any:
    """json.loads for untrusted text: TooDeep (never RecursionError) for deep nesting;
    other malformed JSON raises ValueError as json.loads does."""
    try:
        value = json.loads(raw)
    except RecursionError:  # the decoder recurses per level: thousands deep never parse
        raise TooDeep(what, limit) from None
    return check_depth(value, what, limit)
