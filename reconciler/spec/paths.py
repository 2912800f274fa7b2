"""File names that other tools would misread are refused.

A path in the desired state ends up in CODEOWNERS patterns, workflow annotations and PR
comments. Git stores any byte but NUL and `/` in a name, so a committed file can be
called "a\\nb.yaml": in CODEOWNERS that newline starts a new ownership line. Refused:
control, format and separator characters (Unicode categories C* and Z*, which covers
every whitespace), backslashes, and names that are not UTF-8. A policy file name becomes
a CODEOWNERS pattern of its own, so it is held to letters, digits, `.`, `_` and `-`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from reconciler.errors import Finding, Location

_POLICY_FILE = re.compile(r"policies/[^/]*")
_POLICY_NAME = re.compile(r"[A-Za-z0-9._-]+")


def shown(path: str) -> str:
    """The path with every unsafe character written as an escape, for messages."""
    return "".join(f"\\u{ord(c):04x}" if _unsafe(c) else c for c in path)


def _unsafe(char: str) -> bool:
    return char == "\\" or char.isspace() or unicodedata.category(char)[0] in "CZ"


def _first_unsafe(path: str) -> str | None:
    if path.isascii() and path.isprintable() and " " not in path and "\\" not in path:
        return None  # the common case, without a look at each character's category
    return next((c for c in path if _unsafe(c)), None)


def path_problem(path: str) -> str | None:
    bad = _first_unsafe(path)
    if bad is not None:
        name = unicodedata.name(bad, "a control or unassigned character")
        return (
            f"file name holds U+{ord(bad):04X} ({name}); expected printable characters "
            "with no whitespace or backslash (paths are written into CODEOWNERS and reports)"
        )
    if _POLICY_FILE.fullmatch(path) and not _POLICY_NAME.fullmatch(path.split("/")[1]):
        return (
            "policy file name has characters a CODEOWNERS pattern would read as syntax; "
            "expected letters, digits, '.', '_' and '-'"
        )
    return None


def refused_paths(paths: Iterable[str]) -> dict[str, Finding]:
    """The paths to refuse, each with its finding (at the path, shown escaped)."""
    refused: dict[str, Finding] = {}
    for path in paths:
        problem = path_problem(path)
        if problem is not None:
            refused[path] = Finding("bad-path", problem, Location(shown(path)))
    return refused
