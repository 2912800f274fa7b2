"""Static checks of one CEL expression against the types of its variables.

Finds references to fields that do not exist, operands that cannot be booleans,
unknown functions and the type of the result. It also records which parts of
each variable the expression reads (`needs`), so the engine hands CEL only those:
converting Python values into CEL costs far more than evaluating them.

Here: the typing rule of each node kind, operator and special function; the walk
that applies them and records what they find is policy.typecheck_walk.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.policy.celparse import Node
from reconciler.policy.needs import Need
from reconciler.policy.typecheck_walk import BOOLEAN_OK, Checker, Rule, Scope, Typed, show
from reconciler.policy.types import (
    BOOL,
    DYN,
    FUNCTIONS,
    INT,
    LITERALS,
    TYPE,
    TYPE_NAMES,
    Type,
    list_of,
    map_of,
)

_MACROS = {"all": BOOL, "exists": BOOL, "exists_one": BOOL, "filter": DYN, "map": DYN}
_ARITHMETIC = {"int", "uint", "double"}


@dataclass
class Analysis:
    result: Type
    errors: list[tuple[int, str]]  # (offset in the expression, message)
    needs: dict[str, Need]
    paths: list[tuple[str, ...]]  # the parts of `object` read, in order


def analyse(node: Node, variables: dict[str, Type]) -> Analysis:
    checker = Checker(variables, _VISIT)
    result = checker.value(node, {})
    return Analysis(result, checker.errors, checker.needs, checker.paths)


def _lit(c: Checker, node: Node, scope: Scope) -> Typed:
    return Typed(LITERALS.get(node.name, DYN))


def _ident(c: Checker, node: Node, scope: Scope) -> Typed:
    if node.name in scope:
        return scope[node.name]
    if node.name in c.variables:
        c.needs.setdefault(node.name, Need())
        return Typed(c.variables[node.name], (node.name,))
    if node.name in TYPE_NAMES:
        return Typed(TYPE)
    known = ", ".join(c.variables)
    c.error(node.pos, f"unknown variable {node.name!r}; expected one of: {known}")
    return Typed(DYN)


def _select(c: Checker, node: Node, scope: Scope) -> Typed:
    return c.select(c.visit(node.args[0], scope), node.name, node.pos)


def _index(c: Checker, node: Node, scope: Scope) -> Typed:
    operand, key = c.visit(node.args[0], scope), node.args[1]
    c.value(key, scope)
    kind = operand.type.kind
    if key.kind == "lit" and isinstance(key.value, str) and kind in ("object", "map", "dyn"):
        return c.select(operand, key.value, key.pos)
    if kind in ("list", "map", "dyn") and operand.path:
        return Typed(operand.type.item or DYN, (*operand.path, "*"))
    c.use(operand)
    return Typed(operand.type.item or DYN if kind in ("list", "map") else DYN)


def _call(c: Checker, node: Node, scope: Scope) -> Typed:
    special = _CALLS.get(node.name)
    if special is not None and (node.name not in _MACROS or _is_macro(node)):
        return special(c, node, scope)
    result = FUNCTIONS.get(node.name)
    if result is None:
        c.error(
            node.pos,
            f"unknown function {node.name!r}; expected one of: size, has, "
            f"{', '.join(_MACROS)}, {', '.join(sorted(FUNCTIONS))}",
        )
    for arg in node.args:
        c.value(arg, scope)
    return Typed(result or DYN)


def _is_macro(node: Node) -> bool:
    return node.receiver and len(node.args) in (3, 4) and node.args[1].kind == "ident"


def _size(c: Checker, node: Node, scope: Scope) -> Typed:
    for arg in node.args:
        typed = c.visit(arg, scope)
        if typed.path is not None:
            c.use(Typed(typed.type, (*typed.path, "*")), whole=False)
    return Typed(INT)


def _has(c: Checker, node: Node, scope: Scope) -> Typed:
    arg = node.args[0] if len(node.args) == 1 else None
    if arg is None or arg.kind != "select":
        for each in node.args:
            c.value(each, scope)
        return Typed(BOOL)
    operand = c.visit(arg.args[0], scope)
    if operand.type.kind == "object":
        selected = show((*operand.path, arg.name)) if operand.path else arg.name
        if arg.name in operand.type.fields:
            c.error(
                arg.pos,
                f"has({selected}) is always true: every field is present, and "
                f"an unset one is null; expected {selected} != null",
            )
        else:
            c.select(operand, arg.name, arg.pos)
    elif operand.path is not None:
        c.use(Typed(DYN, (*operand.path, arg.name)), whole=False)
    return Typed(BOOL)


def _macro(c: Checker, node: Node, scope: Scope) -> Typed:
    target = c.visit(node.args[0], scope)
    kind = target.type.kind
    if kind not in ("list", "map", "dyn"):
        c.error(node.pos, f"{node.name}() over a {kind}; expected a list or a map")
    path = (*target.path, "*") if target.path else None
    if path is not None:
        c.use(Typed(DYN, path), whole=False)
    bound = Typed(target.type.element(), path if kind != "map" else None)
    inner = {**scope, node.args[1].name: bound}
    bodies = [c.visit(body, inner) for body in node.args[2:]]
    for typed in bodies:
        c.use(typed)
    if node.name == "filter":
        return Typed(target.type if kind == "list" else list_of(DYN), target.path)
    if node.name == "map":
        return Typed(list_of(bodies[-1].type))
    for arg, typed in zip(node.args[2:], bodies, strict=True):
        if typed.type.kind not in BOOLEAN_OK:
            c.error(arg.pos, f"{node.name}() predicate is a {typed.type.kind}; expected a boolean")
    return Typed(BOOL)


_CALLS: dict[str, Rule] = {
    "size": _size,
    "has": _has,
    **dict.fromkeys(_MACROS, _macro),
}


def _op(c: Checker, node: Node, scope: Scope) -> Typed:
    return _OPS[node.name](c, node, scope)


def _logical(c: Checker, node: Node, scope: Scope) -> Typed:
    for arg in node.args:
        c.boolean(arg, scope)
    return Typed(BOOL)


def _equality(c: Checker, node: Node, scope: Scope) -> Typed:
    left, right = (c.visit(arg, scope) for arg in node.args)
    with_null = any(arg.kind == "lit" and arg.name == "null" for arg in node.args)
    c.use(left, whole=not with_null)
    c.use(right, whole=not with_null)
    return Typed(BOOL)


def _relation(c: Checker, node: Node, scope: Scope) -> Typed:
    for arg in node.args:
        c.value(arg, scope)
    return Typed(BOOL)


def _in(c: Checker, node: Node, scope: Scope) -> Typed:
    c.value(node.args[0], scope)
    container = c.visit(node.args[1], scope)
    if container.type.kind == "map" and container.path is not None:
        c.use(Typed(DYN, (*container.path, "*")), whole=False)
    else:
        c.use(container)
    return Typed(BOOL)


def _arithmetic(c: Checker, node: Node, scope: Scope) -> Typed:
    types = [c.value(arg, scope) for arg in node.args]
    first = types[0]
    same = all(t.kind == first.kind for t in types)
    if same and (first.kind in _ARITHMETIC or node.name == "+"):
        return Typed(list_of(DYN) if first.kind == "list" else Type(first.kind))
    return Typed(DYN)


def _conditional(c: Checker, node: Node, scope: Scope) -> Typed:
    c.boolean(node.args[0], scope)
    yes, no = (c.value(arg, scope) for arg in node.args[1:])
    return Typed(yes if yes.kind == no.kind else DYN)


_OPS: dict[str, Rule] = {
    "&&": _logical,
    "||": _logical,
    "!": _logical,
    "==": _equality,
    "!=": _equality,
    **dict.fromkeys(("<", "<=", ">", ">="), _relation),
    "in": _in,
    **dict.fromkeys(("+", "-", "*", "/", "%", "-_"), _arithmetic),
    "?:": _conditional,
}


def _collection(c: Checker, node: Node, scope: Scope) -> Typed:
    types = [c.value(arg, scope) for arg in node.args]
    if node.kind == "struct":
        return Typed(DYN)
    items = types if node.kind == "list" else types[1::2]
    item = items[0] if items and all(t.kind == items[0].kind for t in items) else DYN
    return Typed(list_of(item) if node.kind == "list" else map_of(item))


_VISIT: dict[str, Rule] = {
    "lit": _lit,
    "ident": _ident,
    "select": _select,
    "index": _index,
    "call": _call,
    "op": _op,
    "list": _collection,
    "map": _collection,
    "struct": _collection,
}
