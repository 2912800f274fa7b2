"""Plausible values for simulated traffic: strings that match a (simple) regular expression,
and tool arguments that satisfy a tool's JSON Schema and the grant's constraints.

`alm ops simulate` records tool arguments so that promotion has fixtures to copy and the
online check judges them as the eval sandbox does; arguments it makes are kept only when
that same sandbox check accepts them (the caller checks), so an exotic schema costs the
arguments, never the fleet's health. Generation is bounded: repetitions are capped and
only a small regex subset is understood (literals, classes, groups, alternation,
quantifiers, \\d \\w \\s \\b); anything else raises `Unsupported`.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_REPEAT = 6  # extra repetitions above a quantifier's minimum
_ESCAPES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_", "s": " "}
_ANCHORS = set("bBAz")
_WORDS = ("renewal", "invoice", "login", "outage", "contract", "onboarding", "billing", "report")


class Unsupported(ValueError):
    """A pattern outside the subset this generator understands."""


@dataclass
class _Parser:
    text: str
    at: int = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.at += 1
        return char


# a node: ("lit", chars) one of the chars; ("seq", [nodes]); ("alt", [nodes]);
# ("rep", node, low, high)
Node = tuple[Any, ...]


def _alt(p: _Parser) -> Node:
    options = [_seq(p)]
    while p.peek() == "|":
        p.take()
        options.append(_seq(p))
    return ("alt", options)


def _seq(p: _Parser) -> Node:
    items: list[Node] = []
    while p.peek() not in ("", "|", ")"):
        atom = _atom(p)
        if atom is not None:
            items.append(_quantified(p, atom))
    return ("seq", items)


def _atom(p: _Parser) -> Node | None:
    char = p.take()
    if char == "(":
        if p.text.startswith("?i)", p.at):  # a case flag: generated text is what it is
            p.at += 3
            return None
        if p.text.startswith("?:", p.at):
            p.at += 2
        inner = _alt(p)
        if p.take() != ")":
            raise Unsupported("unbalanced group")
        return inner
    if char == "[":
        return ("lit", _class(p))
    if char == "\\":
        escaped = p.take()
        if escaped in _ANCHORS:
            return None
        return ("lit", _ESCAPES.get(escaped, escaped))
    if char in "^$":
        return None
    if char == ".":
        return ("lit", string.ascii_lowercase)
    if char in "*+?{":
        raise Unsupported(f"a quantifier with nothing before it at {p.at}")
    return ("lit", char)


def _class(p: _Parser) -> str:
    if p.peek() == "^":
        raise Unsupported("negated classes")
    chars: list[str] = []
    while (char := p.take()) != "]":
        if char == "":
            raise Unsupported("unterminated class")
        if char == "\\":
            escaped = p.take()
            chars.extend(_ESCAPES.get(escaped, escaped))
        elif p.peek() == "-" and p.text[p.at + 1 : p.at + 2] not in ("]", ""):
            p.take()
            chars.extend(chr(c) for c in range(ord(char), ord(p.take()) + 1))
        else:
            chars.append(char)
    return "".join(dict.fromkeys(chars))


def _quantified(p: _Parser, atom: Node) -> Node:
    char = p.peek()
    bounds = {"?": (0, 1), "*": (0, MAX_REPEAT), "+": (1, MAX_REPEAT)}
    if char in bounds:
        p.take()
        return ("rep", atom, *bounds[char])
    if char != "{":
        return atom
    end = p.text.find("}", p.at)
    low, comma, high = p.text[p.at + 1 : end].partition(",")
    if end < 0 or not low.isdigit() or (high and not high.isdigit()):
        return atom  # a literal brace
    p.at = end + 1
    minimum = int(low)
    maximum = int(high) if high else minimum + MAX_REPEAT if comma else minimum
    return ("rep", atom, minimum, min(maximum, minimum + MAX_REPEAT))


def _emit(node: Node, rng: random.Random, out: list[str]) -> None:
    kind = node[0]
    if kind == "lit":
        out.append(rng.choice(node[1]))
    elif kind == "seq":
        for item in node[1]:
            _emit(item, rng, out)
    elif kind == "alt":
        _emit(rng.choice(node[1]), rng, out)
    else:
        for _ in range(rng.randint(node[2], node[3])):
            _emit(node[1], rng, out)


def from_pattern(pattern: str, rng: random.Random) -> str:
    """A string the pattern (in the supported subset) matches."""
    parser = _Parser(pattern)
    tree = _alt(parser)
    if parser.at < len(pattern):
        raise Unsupported(f"unexpected {pattern[parser.at]!r} at {parser.at}")
    out: list[str] = []
    _emit(tree, rng, out)
    return "".join(out)


# --- JSON Schema -----------------------------------------------------------------------


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    if "pattern" in schema:
        return from_pattern(str(schema["pattern"]), rng)
    fmt = schema.get("format")
    if fmt == "email":
        return f"{rng.choice(('jane.park', 'omar.haddad', 'li.wei'))}@globex.example"
    if fmt == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    text = " ".join(rng.sample(_WORDS, 3))
    low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 200))
    return (text * (1 + low // len(text)))[: max(low, min(len(text), high))]


def _number(schema: Mapping[str, Any], rng: random.Random, integer: bool) -> float | int:
    low = float(schema.get("minimum", schema.get("exclusiveMinimum", 0)))
    high = float(schema.get("maximum", schema.get("exclusiveMaximum", low + 100)))
    if integer:
        return rng.randint(int(low) + ("exclusiveMinimum" in schema), int(high))
    return round(rng.uniform(low + 0.01, max(high - 0.01, low + 0.01)), 2)


def _array(schema: Mapping[str, Any], rng: random.Random, depth: int) -> list[Any]:
    count = rng.randint(int(schema.get("minItems", 1)), min(int(schema.get("maxItems", 3)), 3))
    items = [example(schema.get("items", {}), rng, depth + 1) for _ in range(count)]
    if schema.get("uniqueItems"):
        unique = {repr(i): i for i in items}
        items = list(unique.values())
    return items


def _object(schema: Mapping[str, Any], rng: random.Random, depth: int) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = list(schema.get("required", []))
    optional = [k for k in properties if k not in required and rng.random() < 0.4]
    keys = required + optional
    for key in properties:  # minProperties: add optional ones until there are enough
        if len(keys) >= int(schema.get("minProperties", 0)):
            break
        if key not in keys:
            keys.append(key)
    value = {k: example(properties.get(k, {}), rng, depth + 1) for k in keys}
    if not properties and int(schema.get("minProperties", 0)) > 0:
        value["note"] = "updated"
    return value


def example(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value of the schema (best effort; the caller checks it)."""
    if not isinstance(schema, Mapping) or depth > 6:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(list(schema["enum"]))
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    makers = {
        "string": lambda: _string(schema, rng),
        "integer": lambda: _number(schema, rng, True),
        "number": lambda: _number(schema, rng, False),
        "boolean": lambda: rng.random() < 0.5,
        "array": lambda: _array(schema, rng, depth),
        "object": lambda: _object(schema, rng, depth),
    }
    return makers.get(kind, lambda: None)()


def constrained(
    arguments: dict[str, Any], constraints: Mapping[str, Mapping[str, Any]], rng: random.Random
) -> dict[str, Any]:
    """The arguments with each constrained one chosen within the grant's constraint."""
    out = dict(arguments)
    for name, rule in constraints.items():
        if rule.get("enum"):
            out[name] = rng.choice(list(rule["enum"]))
        elif "const" in rule and rule["const"] is not None:
            out[name] = rule["const"]
        elif rule.get("pattern"):
            out[name] = from_pattern(str(rule["pattern"]), rng)
        elif isinstance(out.get(name), int | float) and not isinstance(out.get(name), bool):
            value = out[name]
            if rule.get("maximum") is not None:
                value = min(value, rule["maximum"])
            if rule.get("minimum") is not None:
                value = max(value, rule["minimum"])
            out[name] = value
    return out
