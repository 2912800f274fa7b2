"""A static walk of a JSON Schema before alm uses it (see reconciler.spec.safeschema):
every reference stays inside the document and resolves, every pattern runs on RE2, and no
reference loop applies to the same value forever.

The walk follows the schema keywords (and the targets of references), so a ``$ref`` inside
``const`` or ``default`` data is left alone, as jsonschema leaves it. It is iterative: a
chain of thousands of references cannot exhaust Python's stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from referencing import Registry, Specification
from referencing._core import Resolver  # the type only; not exported by the package
from referencing.exceptions import Unresolvable

from reconciler.spec import saferegex

Path = tuple[str | int, ...]

# Keywords whose value is one subschema, a list of them, or a mapping of names to them.
_ONE = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "contentSchema",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_MAP = (
    "$defs",
    "definitions",
    "dependencies",
    "dependentSchemas",
    "patternProperties",
    "properties",
)
# Applied to the same value, not to a part of it: a loop through these never ends.
_IN_PLACE = frozenset(
    {"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependencies"}
)
REF_KEYWORDS = ("$ref", "$dynamicRef")


@dataclass(frozen=True)
class Problem:
    """Why a schema will not be used, at a path inside it."""

    path: Path
    message: str


def _subschemas(schema: dict[str, Any]) -> Iterator[tuple[Path, Any, bool]]:
    """(relative path, subschema, applies in place) for each subschema of a schema."""
    for key in _ONE:
        if isinstance(schema.get(key), dict):
            yield (key,), schema[key], key in _IN_PLACE
    for key in _MANY:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield (key, i), sub, key in _IN_PLACE
    for key in _MAP:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield (key, name), sub, key in _IN_PLACE


def _paths(document: Any) -> dict[int, Path]:
    """Where each mapping of the document is (the first place, for a shared one)."""
    found: dict[int, Path] = {}
    stack: list[tuple[Any, Path]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict | list) and id(node) not in found:
            found[id(node)] = path
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((value, (*path, key)) for key, value in items)
    return found


def _outside(keyword: str, ref: str) -> str:
    return (
        f"{keyword} {ref!r} points outside this schema, and alm never retrieves a reference "
        "(no URL, file or relative path); expected a reference inside the same document, "
        "such as #/$defs/name"
    )


@dataclass
class _Walk:
    spec: Specification[Any]
    paths: dict[int, Path]
    problems: list[Problem] = field(default_factory=list)
    visited: set[int] = field(default_factory=set)
    # id(schema) -> (id(target), path of the ref or None for a subschema) applied in place
    edges: dict[int, list[tuple[int, Path | None]]] = field(default_factory=dict)

    def run(self, root: Any, resolver: Resolver[Any]) -> None:
        stack: list[tuple[Any, Path, Resolver[Any]]] = [(root, (), resolver)]
        while stack:
            schema, path, resolver = stack.pop()
            if not isinstance(schema, dict) or id(schema) in self.visited:
                continue
            self.visited.add(id(schema))
            if self.spec.id_of(schema) is not None:
                resolver = resolver.in_subresource(self.spec.create_resource(schema))
            self._patterns(schema, path)
            edges = self.edges.setdefault(id(schema), [])
            for keyword in REF_KEYWORDS:
                target = self._resolve(schema, keyword, path, resolver)
                if target is not None:
                    contents, inner = target
                    edges.append((id(contents), (*path, keyword)))
                    stack.append((contents, self.paths.get(id(contents), path), inner))
            for rel, sub, in_place in _subschemas(schema):
                if in_place:
                    edges.append((id(sub), None))
                stack.append((sub, (*path, *rel), resolver))

    def _resolve(
        self, schema: dict[str, Any], keyword: str, path: Path, resolver: Resolver[Any]
    ) -> tuple[Any, Resolver[Any]] | None:
        if keyword not in schema:
            return None
        ref, where = schema[keyword], (*path, keyword)
        if not isinstance(ref, str) or not ref.startswith("#"):
            self.problems.append(Problem(where, _outside(keyword, str(ref))))
            return None
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable:
            self.problems.append(
                Problem(
                    where,
                    f"{keyword} {ref!r} does not resolve: nothing in this schema is at that "
                    "place; expected #, #/$defs/<name> or #<anchor> of an existing part",
                )
            )
            return None
        return resolved.contents, resolved.resolver

    def _patterns(self, schema: dict[str, Any], path: Path) -> None:
        if "pattern" in schema:
            self._pattern(schema["pattern"], (*path, "pattern"))
        if isinstance(schema.get("patternProperties"), dict):
            for key in schema["patternProperties"]:
                self._pattern(key, (*path, "patternProperties", key))

    def _pattern(self, pattern: Any, where: Path) -> None:
        problem = saferegex.problem(pattern)
        if problem is not None:
            self.problems.append(Problem(where, problem))

    def loops(self) -> Iterator[Problem]:
        """One problem per loop of in-place applications, at a reference that closes it."""
        state: dict[int, int] = {}  # 1: on the current path, 2: done
        for start in self.edges:
            if start not in state:
                yield from self._loops_from(start, state)

    def _loops_from(self, start: int, state: dict[int, int]) -> Iterator[Problem]:
        # frames: (node, its remaining edges, the ref that led to it or None)
        stack: list[tuple[int, Iterator[tuple[int, Path | None]], Path | None]] = [
            (start, iter(self.edges.get(start, ())), None)
        ]
        depth = {start: 0}
        state[start] = 1
        while stack:
            node, children, _ = stack[-1]
            step = next(children, None)
            if step is None:
                state[node] = 2
                stack.pop()
                continue
            target, where = step
            if state.get(target) == 1:  # back to a schema on the current path: a loop
                refs = [where, *(frame[2] for frame in reversed(stack[depth[target] + 1 :]))]
                ref = next((r for r in refs if r is not None), None)
                if ref is not None:
                    yield Problem(ref, _LOOP.format(ref=ref[-1]))
            elif target not in state:
                state[target] = 1
                depth[target] = len(stack)
                stack.append((target, iter(self.edges.get(target, ())), where))


_LOOP = (
    "{ref} closes a loop that applies to the same value forever (validation would never "
    "end); expected every reference cycle to pass through properties, items or another "
    "keyword that descends into a part of the value"
)


def walk(schema: Any, spec: Specification[Any], registry: Registry[Any]) -> list[Problem]:
    """Every problem of the schema's references and patterns, in path order."""
    if not isinstance(schema, dict):
        return []
    resource = spec.create_resource(schema)
    base = resource.id() or ""
    resolver = registry.with_resource(base, resource).crawl().resolver(base_uri=base)
    state = _Walk(spec, _paths(schema))
    state.run(schema, resolver)
    found = [*state.problems, *state.loops()]
    return sorted(set(found), key=lambda p: [str(part) for part in p.path])
