"""The string values of a YAML or JSON file as loading gives them, where the raw text hides
them: escape sequences (``"\\x73k-..."``, ``"\\u0073k-..."``, ``"\\t"``), lines joined by a
trailing backslash in a double-quoted YAML scalar, ``!!binary`` (base64) values.

Read with PyYAML's scanner (tokens only: no composing, no alias expansion, nothing that
recurses) and a regular expression for JSON string literals, so a file that does not load
(a syntax error further on, nesting too deep) still gives the values before the problem.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# a JSON string literal with at least one escape (outside strings JSON has no backslash,
# so a match never starts at a closing quote); the key it may be the value of, before it
_ESCAPED = re.compile(r'"[^"\\\n]*\\.(?:[^"\\\n]|\\.)*"')
_KEY_BEFORE = re.compile(r'"((?:[^"\\\n]|\\.){0,200})"\s*:\s*$')
_COLON = re.compile(r"\s*:")


@dataclass(frozen=True)
class Scalar:
    """A loaded string (with the key it is the value of, if any) and where it starts."""

    key: str | None
    value: str
    line: int  # 1-based
    column: int
    end_line: int  # the scalar may span lines; a raw finding in between is the same one


def loaded_scalars(path: str, text: str) -> Iterator[Scalar]:
    """The scalars of a .yaml/.yml/.json file whose loaded value (or key) differs from the
    raw text; nothing for other files, or when the text has no escapes at all."""
    if path.endswith((".yaml", ".yml")) and any(mark in text for mark in _YAML_MARKS):
        yield from _yaml_scalars(text)
    elif path.endswith(".json") and "\\" in text:
        yield from _json_scalars(text)


# What can make a YAML scalar load differently from its text: escapes and line joins,
# a !!binary tag, %-escapes in a tag and %TAG directives.
_YAML_MARKS = ("\\", "binary", "%")


def _binary(value: str) -> str | None:
    try:
        return base64.b64decode(value).decode("latin-1")
    except (binascii.Error, ValueError):
        return None


def _last_line(text: str) -> int:
    """The 0-based line of the last backslash or "binary": no scalar that starts after it
    is changed by loading (its escapes, line joins and !!binary tag would come later)."""
    if "%TAG" in text:  # a handle it declares may stand for !!binary on any later line
        return text.count("\n")
    last = max(text.rfind(mark) for mark in _YAML_MARKS)
    return text.count("\n", 0, last)


def _yaml_scalars(text: str) -> Iterator[Scalar]:
    """One pass over the tokens, dispatched on their type (the common ones first: this
    runs on every YAML file with a backslash, and most of its tokens change nothing).
    It stops after the first scalar past the last line that can change one: making
    tokens is most of the cost, and in a spec backslashes mostly sit in a few patterns."""
    key: Any = None  # the last key's ScalarToken
    state = _NONE
    binary = False
    last_line = _last_line(text)
    tokens: Iterator[Any] = yaml.scan(text, Loader=_LOADER)
    try:
        for token in tokens:
            kind = type(token)
            if kind is _SCALAR:
                if token.start_mark.line > last_line and not (binary or state is _VALUE):
                    return  # neither escaped, nor tagged, nor the value of an escaped key
                if state is _KEY:
                    key, state = token, _AFTER_KEY
                    continue
                paired = key if state is _VALUE else None
                changed = binary or token.style == '"'
                if changed or (paired is not None and paired.style == '"'):
                    value = _binary(token.value) if binary else token.value
                    if value is not None:
                        yield _scalar(paired, value, token)
                state, binary = _NONE, False
            elif kind is _KEY_TOKEN:
                state = _KEY
            elif kind is _VALUE_TOKEN:
                state = _VALUE if state is _AFTER_KEY else _NONE
            elif kind is _TAG:
                handle, suffix = token.value
                # !!binary, however spelled (!!%62inary), or a %TAG handle that may stand for it
                binary = str(suffix).endswith("binary") or handle not in (None, "!", "!!")
            elif kind is not _ANCHOR:
                state = _NONE
    except (yaml.YAMLError, ValueError):
        return  # what came before the problem was scanned; the loader reports the problem


def _scalar(key: Any, value: str, token: Any) -> Scalar:
    start, end = token.start_mark, token.end_mark
    name = None if key is None else str(key.value)
    return Scalar(name, value, start.line + 1, start.column + 1, end.line + 1)


_SCALAR, _KEY_TOKEN, _VALUE_TOKEN = yaml.ScalarToken, yaml.KeyToken, yaml.ValueToken
_TAG, _ANCHOR = yaml.TagToken, yaml.AnchorToken
_NONE, _KEY, _AFTER_KEY, _VALUE = "none", "key", "after-key", "value"


def _json_scalars(text: str) -> Iterator[Scalar]:
    line, counted = 1, 0
    for match in _ESCAPED.finditer(text):
        try:
            value = json.loads(match.group())
        except ValueError:
            continue
        start = match.start()
        colon = _COLON.match(text, match.end())
        if colon is not None:  # an escaped key: scan it with its value
            key, value = value, _value_after(text, colon.end())
        else:
            key = _key_before(text, start)
        line += text.count("\n", counted, start)
        counted = start
        yield Scalar(key, value, line, start - text.rfind("\n", 0, start), line)


def _key_before(text: str, start: int) -> str | None:
    found = _KEY_BEFORE.search(text, max(0, start - 300), start)
    if found is None:
        return None
    try:
        return str(json.loads(f'"{found.group(1)}"'))
    except ValueError:
        return None


def _value_after(text: str, colon_end: int) -> str:
    """The raw text of the value after an escaped key (enough for the scan to see it)."""
    end = text.find("\n", colon_end)
    return text[colon_end : end if end >= 0 else len(text)].strip().strip(",").strip('"')
