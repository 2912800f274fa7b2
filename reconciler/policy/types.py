"""The types policy expressions are checked against, built from JSON Schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_PRIMITIVES = {
    "boolean": "bool",
    "integer": "int",
    "number": "double",
    "string": "string",
    "null": "null",
}
_MAX_DEPTH = 32


@dataclass(frozen=True, eq=False)
class Type:
    """kind: object (closed, known fields), map, list, bool, int, uint, double, string,
    bytes, null, type, dyn. `item` is a list's element or a map's value."""

    kind: str
    fields: dict[str, Type] = field(default_factory=dict)
    item: Type | None = None
    nullable: bool = False

    def describe(self) -> str:
        name = {"object": "object", "map": "map", "list": "list"}.get(self.kind, self.kind)
        return f"{name} or null" if self.nullable and self.kind != "null" else name

    def element(self) -> Type:
        """What a comprehension over this value binds: list items, or map keys."""
        if self.kind == "list":
            return self.item or DYN
        if self.kind == "map":
            return STRING
        return DYN

    def as_nullable(self) -> Type:
        return Type(self.kind, self.fields, self.item, True)


DYN = Type("dyn")
BOOL = Type("bool")
INT = Type("int")
UINT = Type("uint")
DOUBLE = Type("double")
STRING = Type("string")
BYTES = Type("bytes")
NULL = Type("null")
TYPE = Type("type")


# CEL's literals, type names and the functions the `cel` package provides (what they return).
LITERALS = {"bool": BOOL, "int": INT, "uint": UINT, "double": DOUBLE, "string": STRING}
LITERALS |= {"bytes": BYTES, "null": NULL}
TYPE_NAMES = {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type"}
TYPE_NAMES |= {"type", "dyn", "timestamp", "duration"}
_TIME = ("FullYear", "Month", "Date", "DayOfMonth", "DayOfWeek", "DayOfYear", "Hours")
FUNCTIONS: dict[str, Type] = {
    "contains": BOOL,
    "startsWith": BOOL,
    "endsWith": BOOL,
    "matches": BOOL,
    "string": STRING,
    "bytes": BYTES,
    "double": DOUBLE,
    "int": INT,
    "uint": UINT,
    "type": TYPE,
    "dyn": DYN,
    "timestamp": DYN,
    "duration": DYN,
    **{f"get{unit}": INT for unit in (*_TIME, "Minutes", "Seconds", "Milliseconds")},
}


def list_of(item: Type) -> Type:
    return Type("list", item=item)


def map_of(value: Type) -> Type:
    return Type("map", item=value)


def closed(fields: dict[str, Type]) -> Type:
    return Type("object", fields=fields)


def from_schema(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> Type:
    """A JSON Schema (as pydantic writes it) as a Type; what it cannot tell is dyn."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return DYN
    defs = {**(defs or {}), **schema.get("$defs", {})}
    if "$ref" in schema:
        return from_schema(defs.get(schema["$ref"].rsplit("/", 1)[-1]), defs, depth + 1)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return _union([from_schema(o, defs, depth + 1) for o in options])
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([from_schema({**schema, "type": k}, defs, depth + 1) for k in kind])
    if kind == "array":
        return list_of(from_schema(schema.get("items"), defs, depth + 1))
    if kind == "object" or "properties" in schema:
        return _object(schema, defs, depth)
    if kind in _PRIMITIVES:
        return Type(_PRIMITIVES[kind])
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return STRING if all(isinstance(v, str) for v in values) else DYN
    return DYN


def _object(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> Type:
    properties = schema.get("properties")
    extra = schema.get("additionalProperties", True)
    if properties and extra is False:
        return closed({k: from_schema(v, defs, depth + 1) for k, v in properties.items()})
    if not properties:
        return map_of(from_schema(extra, defs, depth + 1) if isinstance(extra, dict) else DYN)
    return DYN  # open object with known fields: no reliable check


def _union(types: list[Type]) -> Type:
    nullable = any(t.kind == "null" or t.nullable for t in types)
    rest = [t for t in types if t.kind != "null"]
    if len(rest) == 1:
        return rest[0].as_nullable() if nullable else rest[0]
    if not rest:
        return NULL
    if all(t.kind == rest[0].kind for t in rest) and rest[0].kind not in ("object", "list", "map"):
        return rest[0].as_nullable() if nullable else rest[0]
    return DYN
