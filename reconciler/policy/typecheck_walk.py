"""The walk of a type check: what it has found so far and how it moves through the tree.

A `Checker` visits nodes through the typing rules it is given (policy.typecheck holds
them, one per node kind), and records the errors, which parts of each variable are read
(`needs`) and the paths of `object` read. A `Typed` is a type, and the part of a variable
it is, so that reading it can be recorded where it is finally used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.policy.celparse import Node
from reconciler.policy.needs import Need
from reconciler.policy.types import DYN, Type

BOOLEAN_OK = {"bool", "dyn"}


@dataclass(frozen=True)
class Typed:
    type: Type
    path: tuple[str, ...] | None = None  # (variable, key, ...) when it is part of a variable


def show(path: tuple[str, ...] | None) -> str:
    if not path:
        return "the value"
    return path[0] + "".join("[]" if part == "*" else f".{part}" for part in path[1:])


Scope = dict[str, Typed]
Rule = Callable[["Checker", Node, Scope], Typed]


class Checker:
    def __init__(self, variables: dict[str, Type], rules: dict[str, Rule]) -> None:
        self.variables = variables
        self.rules = rules
        self.errors: list[tuple[int, str]] = []
        self.needs: dict[str, Need] = {}
        self.paths: list[tuple[str, ...]] = []

    def error(self, pos: int, message: str) -> None:
        self.errors.append((pos, message))

    def visit(self, node: Node, scope: Scope) -> Typed:
        return self.rules[node.kind](self, node, scope)

    def use(self, typed: Typed, whole: bool = True) -> None:
        if typed.path is None:
            return
        root, rest = typed.path[0], typed.path[1:]
        self.needs.setdefault(root, Need()).mark(rest, whole)
        if root == "object" and rest:
            self.paths.append(rest[: rest.index("*")] if "*" in rest else rest)

    def value(self, node: Node, scope: Scope) -> Type:
        typed = self.visit(node, scope)
        self.use(typed)
        return typed.type

    def boolean(self, node: Node, scope: Scope) -> None:
        kind = self.value(node, scope).kind
        if kind not in BOOLEAN_OK:
            self.error(node.pos, f"operand is a {kind}; expected a boolean")

    def select(self, operand: Typed, name: str, pos: int) -> Typed:
        kind = operand.type.kind
        path = (*operand.path, name) if operand.path else None
        if kind == "object":
            if name in operand.type.fields:
                return Typed(operand.type.fields[name], path)
            known = ", ".join(sorted(operand.type.fields))
            self.error(pos, f"no field {name!r} in {show(operand.path)}; expected one of: {known}")
        elif kind in ("map", "dyn"):
            return Typed(operand.type.item or DYN, path)
        else:
            self.error(pos, f"{show(operand.path)} is a {kind}; it has no field {name!r}")
        return Typed(DYN)
