"""The sizes of the data a policy expression runs over, measured per depth.

policy.cost bounds an evaluation from these figures: a data value at depth k is at
most as long as the longest value at depth k or deeper, and holds at most as many
values and characters as the largest one there. Measuring per depth keeps the
entries of a long list counting as small as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LEVELS = 8  # depths measured apart; deeper ones count with the last
CHARS = 8  # characters of a string that count as one unit (copied and compared in bulk)


@dataclass(frozen=True)
class Sizes:
    """Of one variable, per depth k (0: the variable itself; the last level stands for
    every depth from there on): the longest list or map, and the most values and string
    characters one value there holds. A field, an index or a comprehension goes exactly
    one level down, so the figures of a level bound every value reached there."""

    levels: tuple[tuple[int, int], ...] = ((0, 0),) * LEVELS

    def merge(self, other: Sizes) -> Sizes:
        return Sizes(tuple(_max(a, b) for a, b in zip(self.levels, other.levels, strict=True)))

    def rounded(self) -> Sizes:
        """Each figure rounded up to a power of two: a bound that serves similar data."""
        return Sizes(tuple((_up(a), _up(b)) for a, b in self.levels))

    def at(self, depth: int) -> tuple[int, int]:
        return self.levels[min(depth, LEVELS - 1)]

    def below(self, depth: int) -> Sizes:
        """The levels from `depth` on, as the sizes of a variable of their own."""
        return Sizes(tuple(self.at(k) for k in range(depth, depth + LEVELS)))


def _max(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return (max(a[0], b[0]), max(a[1], b[1]))


def _up(n: int) -> int:
    return 1 << n.bit_length()


def measure(values: Iterable[Any]) -> Sizes:
    """The sizes of plain values (dicts, lists, strings, scalars) as variables, per depth.

    Recursive while the data is shallow, as policy data is (YAML stops at 50 levels):
    that is several times faster, and this runs for every agent. Deeper data is
    walked again without recursion."""
    values = list(values)
    longest, totals = [0] * LEVELS, [0] * LEVELS
    try:
        for value in values:
            _walk(value, 0, longest, totals)
    except _Deep:
        return _measure_iteratively(values)
    return Sizes(tuple(zip(longest, totals, strict=True)))


class _Deep(Exception):
    pass


_RECURSION = 100


def _walk(value: Any, depth: int, longest: list[int], totals: list[int]) -> int:
    """The total of a value, noting the largest figures per level; strings and scalars
    inside a container are counted in place. It runs for every agent before its policies,
    so the common cases are tested first and comparisons replace calls to max()."""
    if depth > _RECURSION:
        raise _Deep
    level = depth if depth < LEVELS else LEVELS - 1
    if isinstance(value, dict):
        items: Iterable[Any] = (*value, *value.values())
    elif isinstance(value, list | tuple):
        items = value
    else:
        total = 1 + len(value) // CHARS if isinstance(value, str | bytes) else 1
        if total > totals[level]:
            totals[level] = total
        return total
    below = depth + 1 if depth + 1 < LEVELS else LEVELS - 1
    total, largest = 1, 0
    for item in items:
        if isinstance(item, str):
            size = 1 + len(item) // CHARS
        elif isinstance(item, dict | list | tuple | bytes):
            size = _walk(item, depth + 1, longest, totals)
        else:
            size = 1
        total += size
        if size > largest:
            largest = size
    if largest > totals[below]:
        totals[below] = largest
    if len(value) > longest[level]:
        longest[level] = len(value)
    if total > totals[level]:
        totals[level] = total
    return total


def _measure_iteratively(values: list[Any]) -> Sizes:
    """As measure, children before parents: a value's total is the sum of its
    children's when it is reached the second time."""
    rows = [[0, 0] for _ in range(LEVELS)]
    stack: list[tuple[Any, int, bool]] = [(v, 0, False) for v in values]
    totals: list[int] = []
    while stack:
        value, depth, done = stack.pop()
        level = rows[min(depth, LEVELS - 1)]
        children = _children(value)
        if done or not children:
            kids = [totals.pop() for _ in children] if done else []
            chars = len(value) // CHARS if isinstance(value, str | bytes) else 0
            total = 1 + sum(kids) + chars
            level[0] = max(level[0], len(value) if isinstance(value, dict | list | tuple) else 0)
            level[1] = max(level[1], total)
            totals.append(total)
            continue
        stack.append((value, depth, True))
        stack.extend((child, depth + 1, False) for child in children)
    return Sizes(tuple((a, b) for a, b in rows))


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value, *value.values()]
    if isinstance(value, list | tuple):
        return list(value)
    return []
