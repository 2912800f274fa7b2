"""A small parser for CEL, only for static checks of policy expressions.

The `cel` package compiles and runs the expressions but exposes no syntax tree,
so field references and result types are checked on the tree built here. It
runs only on expressions `cel.compile` accepted, and may be lenient: anything
it cannot follow becomes dynamic, never a false error.

Expressions come from pull requests, so the parser is bounded: text longer than
MAX_LENGTH, nesting deeper than MAX_NESTING (brackets, `!`, `?:`) and a tree
deeper than MAX_DEPTH raise `TooComplex` before anything recurses that far.
Runs of one associative operator (`a || b || ...`) become one node with many
operands, so a long flat chain is neither deep nor refused.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
    |(?P<num>0[xX][0-9a-fA-F]+[uU]?|\d+\.\d+(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?
        |\d+[eE][+-]?\d+|\d+[uU]?)
    |(?P<str>(?:[rR][bB]?|[bB][rR]?)?(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"
        |'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"true": ("bool", True), "false": ("bool", False), "null": ("null", None)}
_RELATIONS = {"<", "<=", ">", ">=", "==", "!=", "in"}
_CHAINS = {"||", "&&", "+", "*"}  # operators whose runs become one node
MAX_LENGTH = 4096  # characters of one expression
MAX_NESTING = 32  # brackets, unary operators and conditionals inside each other
MAX_DEPTH = 64  # levels of the tree (select and call chains count too)


class ParseError(ValueError):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos


class TooComplex(ParseError):
    """Over one of the bounds: refused whatever the `cel` package would make of it."""


@dataclass(frozen=True)
class Node:
    """kind: lit ident select index call list map struct op.

    select: args=(operand,), name=field; index: args=(operand, key);
    call: name=function, args=(receiver, *arguments) when receiver else arguments;
    op: name=operator symbol (`?:` for the conditional, `-_` for negation);
    lit: name=type (bool int uint double string bytes null), value=the value.
    """

    kind: str
    pos: int
    name: str = ""
    args: tuple[Node, ...] = ()
    receiver: bool = False
    value: object = None


def tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ParseError(pos, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind == "ident" and match.group() == "in":
            kind = "op"
        if kind != "ws":
            tokens.append((kind, match.group(), pos))
        pos = match.end()
    tokens.append(("end", "", len(text)))
    return tokens


def parse(text: str) -> Node:
    if len(text) > MAX_LENGTH:
        raise TooComplex(0, f"is {len(text)} characters long; expected at most {MAX_LENGTH}")
    tree = _Parser(tokenize(text)).parse()
    _check_depth(tree)
    return tree


def _check_depth(tree: Node) -> None:
    """Refuse a tree deeper than MAX_DEPTH, walking it without recursion."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TooComplex(
                node.pos, f"nests {MAX_DEPTH}+ levels deep; expected at most {MAX_DEPTH}"
            )
        stack.extend((arg, depth + 1) for arg in node.args)


def _literal(kind: str, text: str, pos: int) -> Node:
    if kind == "str":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        return Node("lit", pos, "bytes" if "b" in text[:2].lower() else "string", value=value)
    if text[-1] in "uU":
        return Node("lit", pos, "uint")
    is_int = text.isdigit() or text.lower().startswith("0x")
    return Node("lit", pos, "int" if is_int else "double")


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]]) -> None:
        self.tokens = tokens
        self.i = 0
        self.nesting = 0

    def enter(self) -> None:
        """Count one level of recursion; refuse past MAX_NESTING, before the stack runs out."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            pos = self.peek()[2]
            raise TooComplex(pos, f"nests more than {MAX_NESTING} levels; expected at most that")

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self, text: str | None = None) -> tuple[str, str, int]:
        token = self.tokens[self.i]
        if token[0] == "end" or (text is not None and token[1] != text):
            raise ParseError(token[2], f"expected {text or 'more'!r}")
        self.i += 1
        return token

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text and self.peek()[0] == "op":
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.expr()
        kind, text, pos = self.peek()
        if kind != "end":
            raise ParseError(pos, f"unexpected {text!r}")
        return node

    def expr(self) -> Node:
        self.enter()
        cond = self.binary(0)
        if self.accept("?"):
            yes = self.binary(0)
            self.take(":")
            cond = Node("op", cond.pos, "?:", (cond, yes, self.expr()))
        self.nesting -= 1
        return cond

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}),
        frozenset({"&&"}),
        frozenset(_RELATIONS),
        frozenset({"+", "-"}),
        frozenset({"*", "/", "%"}),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in self._LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            if op in _CHAINS and node.kind == "op" and node.name == op:
                node = Node("op", node.pos, op, (*node.args, right))
            else:
                node = Node("op", node.pos, op, (node, right))
        return node

    def unary(self) -> Node:
        kind, text, pos = self.peek()
        if kind == "op" and text in ("!", "-"):
            self.take()
            self.enter()
            operand = self.unary()
            self.nesting -= 1
            return Node("op", pos, "!" if text == "!" else "-_", (operand,))
        return self.member(self.primary())

    def member(self, node: Node) -> Node:
        while True:
            if self.accept("."):
                _, name, pos = self.take()
                if self.accept("("):
                    node = Node("call", pos, name, (node, *self.items(")")), receiver=True)
                else:
                    node = Node("select", pos, name, (node,))
            elif self.accept("["):
                key = self.expr()
                self.take("]")
                node = Node("index", key.pos, args=(node, key))
            elif self.peek()[1] == "{" and node.kind in ("ident", "select"):
                self.take("{")
                node = Node("struct", node.pos, args=self.entries("}"))
            else:
                return node

    def primary(self) -> Node:
        kind, text, pos = self.take()
        if kind in ("num", "str"):
            return _literal(kind, text, pos)
        if kind == "ident" and text in _KEYWORDS:
            lit_type, value = _KEYWORDS[text]
            return Node("lit", pos, lit_type, value=value)
        if kind == "op" and text == "." and self.peek()[0] == "ident":
            kind, text, pos = self.take()
        if kind == "ident":
            if self.accept("("):
                return Node("call", pos, text, self.items(")"))
            return Node("ident", pos, text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            return Node("list", pos, args=self.items("]"))
        if text == "{":
            return Node("map", pos, args=self.entries("}"))
        raise ParseError(pos, f"unexpected {text!r}")

    def items(self, close: str) -> tuple[Node, ...]:
        items: list[Node] = []
        while not self.accept(close):
            items.append(self.expr())
            if not self.accept(","):
                self.take(close)
                break
        return tuple(items)

    def entries(self, close: str) -> tuple[Node, ...]:
        entries: list[Node] = []
        while not self.accept(close):
            entries.append(self.expr())
            self.take(":")
            entries.append(self.expr())
            if not self.accept(","):
                self.take(close)
                break
        return tuple(entries)
