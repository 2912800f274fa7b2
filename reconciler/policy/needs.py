"""What an expression reads of a variable, and the value cut down to just that.

Converting a Python value into CEL costs far more than evaluating an expression
over it (every string and map key goes through the binding's type probes), so
each variable is handed to CEL holding only the parts some rule reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Need:
    """What an expression reads of a value: all of it, or some of its children.

    A node with neither only needs the value to be there (`x != null`, a list's length).
    Children are keys of maps and objects; `*` stands for every element or entry.
    """

    whole: bool = False
    children: dict[str, Need] = field(default_factory=dict)

    def mark(self, parts: tuple[str, ...], whole: bool) -> None:
        node = self
        for part in parts:
            if node.whole:
                return
            node = node.children.setdefault(part, Need())
        node.whole = node.whole or whole

    def merge(self, other: Need) -> None:
        self.whole = self.whole or other.whole
        for key, child in other.children.items():
            self.children.setdefault(key, Need()).merge(child)


def project(value: Any, need: Need | None) -> Any:
    """Only what `need` says an expression reads; None means nothing at all."""
    if need is None or need.whole or value is None:
        return value
    if isinstance(value, dict):
        every = need.children.get("*")
        if every is not None:
            return {key: project(item, every) for key, item in value.items()}
        return {k: project(value[k], n) for k, n in need.children.items() if k in value}
    if isinstance(value, list):
        every = need.children.get("*")
        return [project(item, every) for item in value] if every is not None else []
    return value


def settle(need: Need) -> Need:
    """Fold named children into `*` where both exist, so projection reads one node."""
    every = need.children.get("*")
    if every is not None:
        for key in [k for k in need.children if k != "*"]:
            every.merge(need.children.pop(key))
    for child in need.children.values():
        settle(child)
    return need
