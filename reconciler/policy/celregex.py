"""The regular expressions written into a policy expression, checked when it compiles.

A pattern literal the CEL engine cannot run (lookaround, a backreference, an unclosed
class) would fail every evaluation, reported once per agent with the engine's own text.
It is found here instead, by the engine itself, and reported once at the policy.
"""

from __future__ import annotations

from collections.abc import Iterator

import cel

from reconciler.policy.celparse import Node

_PROBE = '"".matches(pattern)'


def _pattern_literals(tree: Node) -> Iterator[Node]:
    """The string literal each `matches` call is given as its pattern."""
    stack = [tree]
    while stack:
        node = stack.pop()
        stack.extend(node.args)
        if node.kind == "call" and node.name == "matches" and node.args:
            pattern = node.args[-1]
            if pattern.kind == "lit" and pattern.name == "string":
                yield pattern


def _why(error: Exception) -> str:
    """The regex engine's reason ("error: look-around ... is not supported")."""
    for line in str(error).splitlines():
        if line.startswith("error: "):
            return line.removeprefix("error: ").split(". Check function arguments")[0]
    return "not a valid regular expression"


def bad_patterns(tree: Node) -> list[tuple[int, str]]:
    """(position in the expression, message) for each pattern literal that cannot run."""
    found: list[tuple[int, str]] = []
    for literal in _pattern_literals(tree):
        try:
            cel.evaluate(_PROBE, {"pattern": literal.value})
        except (ValueError, RuntimeError) as err:
            message = (
                f"pattern {literal.value!r} cannot run: {_why(err)}; expected RE2 syntax "
                "(no lookaround or backreferences)"
            )
            found.append((literal.pos, message))
    return sorted(found)
