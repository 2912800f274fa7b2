"""An upper bound on the work one evaluation of a policy expression can do.

The `cel` package has no cost budget, and `Program.execute` holds the GIL in
Rust: no signal handler, thread or timer can stop it. So alm never starts an
evaluation it cannot bound. The bound is computed on the parsed expression
(celparse, itself bounded in length and depth) and the sizes of the values it
runs over, measured before each evaluation (policy.sizes):

- a data value (object, oldObject, catalog, changes, environment, and the parts
  of them reached by a field, an index or a comprehension) at depth k is at most
  as long as the longest value at depth k or deeper, and holds at most as many
  values and characters as the largest one there (measured per depth, so that the
  entries of a long list count as small as they are);
- a literal is as long as it is written;
- reading a variable copies it (measured: the `cel` package clones the value,
  at about an eighth of a unit a value);
- a comprehension runs its body once per element of its range; `map` builds a
  list as long as its range, `filter` one no longer, and both copy the list built
  so far at each step (measured: quadratic in the length); `+` builds a value as
  long as its operands together; equality, `in` and string functions touch every
  value and character of their operands.

Every function an expression may call is on the type checker's list, and none
of them grows a value beyond these rules, so the bound holds for every
expression the compiler accepts. One unit is about one node evaluated or one
value copied or compared, at most about a microsecond in the `cel` package
(bench/bench_hostile.py measures expressions at the budget), so an evaluation
within BUDGET takes about a second at worst. Comprehensions nest at most
MAX_NESTED deep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.policy.celparse import Node
from reconciler.policy.sizes import CHARS, LEVELS, Sizes

BUDGET = 1_000_000  # units of one evaluation
MAX_NESTED = 3  # comprehensions inside comprehensions
_MACROS = {"all", "exists", "exists_one", "filter", "map"}
_COMPARES = {"==", "!=", "<", "<=", ">", ">=", "in"}
_CONSTANT = {"size", "has", "type"}  # constant time whatever their operand


@dataclass(frozen=True)
class Shape:
    """What a value can be at most: its length, everything in it, and its elements."""

    length: int
    total: int
    item: Shape | None = None
    sizes: Sizes | None = None  # part of a variable: its elements are data one level deeper
    depth: int = 0

    def element(self) -> Shape:
        if self.sizes is not None:
            return data_shape(self.sizes, self.depth + 1)
        return self.item or SCALAR


SCALAR = Shape(1, 1)


def data_shape(sizes: Sizes, depth: int) -> Shape:
    depth = min(depth, LEVELS - 1)  # the last level stands for every depth below
    longest, total = sizes.at(depth)
    return Shape(longest, total, sizes=sizes, depth=depth)


def join(a: Shape, b: Shape) -> Shape:
    """A shape that bounds both."""
    if a.sizes is not None and b.sizes is not None:
        if a.sizes is b.sizes and a.depth == b.depth:
            return a
        return data_shape(a.sizes.below(a.depth).merge(b.sizes.below(b.depth)), 0)
    items = [s.element() for s in (a, b) if s.sizes is not None or s.item is not None]
    item = join(*items) if len(items) == 2 else items[0] if items else None
    return Shape(max(a.length, b.length), max(a.total, b.total), item)


def nesting(tree: Node) -> tuple[int, int]:
    """The deepest comprehension nesting, and where it goes past MAX_NESTED (or -1)."""
    deepest, where = 0, -1
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        macro = node.kind == "call" and node.name in _MACROS and node.receiver
        inside = depth + 1 if macro else depth
        if inside > deepest:
            deepest = inside
            if inside > MAX_NESTED and where < 0:
                where = node.pos
        for i, arg in enumerate(node.args):
            stack.append((arg, inside if macro and i >= 2 else depth))
    return deepest, where


def bound(tree: Node, variables: dict[str, Sizes]) -> int:
    """The most units one evaluation of `tree` can cost over variables of these sizes."""
    cost, shape = _Walk(variables).visit(tree, {})
    return cost + shape.total  # and the result converted back into Python


Scope = dict[str, Shape]


class _Walk:
    def __init__(self, variables: dict[str, Sizes]) -> None:
        self.variables = variables

    def visit(self, node: Node, scope: Scope) -> tuple[int, Shape]:
        return _VISIT[node.kind](self, node, scope)

    def all(self, nodes: Iterable[Node], scope: Scope) -> tuple[int, list[Shape]]:
        results = [self.visit(n, scope) for n in nodes]
        return sum(c for c, _ in results) + 1, [s for _, s in results]


def _lit(w: _Walk, node: Node, scope: Scope) -> tuple[int, Shape]:
    if isinstance(node.value, str | bytes):
        return 1, Shape(len(node.value), len(node.value) // CHARS + 1)
    return 1, SCALAR


def _ident(w: _Walk, node: Node, scope: Scope) -> tuple[int, Shape]:
    if node.name in scope:
        return 1, scope[node.name]
    sizes = w.variables.get(node.name)
    if sizes is None:
        return 1, SCALAR
    shape = data_shape(sizes, 0)
    # the `cel` package copies a variable where it is read, a few values a unit (measured)
    return 1 + shape.total // CHARS, shape


def _member(w: _Walk, node: Node, scope: Scope) -> tuple[int, Shape]:
    cost, shapes = w.all(node.args, scope)
    return cost, shapes[0].element()


def _collection(w: _Walk, node: Node, scope: Scope) -> tuple[int, Shape]:
    cost, shapes = w.all(node.args, scope)
    item = _join_all(shapes)
    length = len(shapes) if node.kind == "list" else (len(shapes) + 1) // 2
    return cost + len(shapes), Shape(length, sum(s.total for s in shapes) + 1, item)


def _join_all(shapes: list[Shape]) -> Shape | None:
    if not shapes:
        return None
    joined = shapes[0]
    for shape in shapes[1:]:
        joined = join(joined, shape)
    return joined


def _call(w: _Walk, node: Node, scope: Scope) -> tuple[int, Shape]:
    macro = node.receiver and len(node.args) in (3, 4) and node.args[1].kind == "ident"
    if node.name in _MACROS and macro:
        return _macro(w, node, scope)
    cost, shapes = w.all(node.args, scope)
    touched = sum(s.total for s in shapes)
    if node.name in ("string", "bytes"):  # a value written out: a few characters a value
        return cost + touched, Shape(32 * touched, 32 * touched)
    if node.name == "dyn" and shapes:
        return cost, shapes[0]
    if node.name in _CONSTANT or node.name.startswith("get"):
        return cost, SCALAR
    return cost + touched, SCALAR  # scans and conversions read their operands once


def _macro(w: _Walk, node: Node, scope: Scope) -> tuple[int, Shape]:
    cost, target = w.visit(node.args[0], scope)
    inner = {**scope, node.args[1].name: target.element()}
    body_cost, bodies = w.all(node.args[2:], inner)
    cost += target.length * body_cost
    # map and filter copy the list built so far at every step: quadratic in the length
    copies = target.length * (target.length + 1) // 2
    if node.name == "filter":
        return cost + copies * (target.element().total + 1), target
    if node.name == "map":
        last = bodies[-1]
        made = Shape(target.length, target.length * (last.total + 1) + 1, last)
        return cost + copies * (last.total + 1), made
    return cost, SCALAR


def _op(w: _Walk, node: Node, scope: Scope) -> tuple[int, Shape]:
    cost, shapes = w.all(node.args, scope)
    if node.name == "?:":
        return cost, join(shapes[1], shapes[2])
    if node.name in _COMPARES:
        return cost + sum(s.total for s in shapes), SCALAR
    if node.name == "+":
        joined = _join_all([s.element() for s in shapes])
        made = Shape(sum(s.length for s in shapes), sum(s.total for s in shapes), joined)
        return cost + made.total, made
    return cost, SCALAR


_VISIT: dict[str, Callable[[_Walk, Node, Scope], tuple[int, Shape]]] = {
    "lit": _lit,
    "ident": _ident,
    "select": _member,
    "index": _member,
    "call": _call,
    "op": _op,
    "list": _collection,
    "map": _collection,
    "struct": _collection,
}
