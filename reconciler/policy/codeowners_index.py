"""Which CODEOWNERS rules can match a path: each pattern's exact regex, and an index of
rules by the literal leading path segments a path must start with.

The two live together because the index is only correct while `literal_prefix` reads a
pattern (its anchoring, wildcards and escapes) as `pattern_regex` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_LITERAL_SEGMENT = re.compile(r"[^*?\\]*")  # matches only a path segment equal to itself


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The paths a CODEOWNERS pattern matches (repository-relative, no leading slash)."""
    body = pattern.strip("/")
    anchored = "/" in pattern.rstrip("/")
    regex = r"\A" if anchored else r"(?:\A|/)"
    i = 0
    while i < len(body):
        if body.startswith("**", i) and _globstar(body, i):
            regex += ".*" if i + 2 == len(body) else "(?:.*/)?"
            i += 3
            continue
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            regex += re.escape(body[i + 1])
            i += 2
            continue
        regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        i += 1
    if pattern.endswith("/"):
        regex += "/"
    elif pattern.endswith("/*"):
        regex += r"\Z"
    else:
        regex += r"(?:\Z|/)"
    return re.compile(regex)


def _globstar(body: str, i: int) -> bool:
    left = i == 0 or body[i - 1] == "/"
    right = i + 2 == len(body) or body[i + 2] == "/"
    return left and right


def literal_prefix(pattern: str) -> tuple[str, ...] | None:
    """The leading path segments every path an anchored pattern matches starts with (up to
    its first segment with a wildcard or an escape); None for an unanchored pattern."""
    if "/" not in pattern.rstrip("/"):
        return None
    prefix: list[str] = []
    for segment in pattern.strip("/").split("/"):
        if not _LITERAL_SEGMENT.fullmatch(segment):
            break
        prefix.append(segment)
    return tuple(prefix)


@dataclass(frozen=True)
class RuleIndex:
    """Rule positions by the literal leading segments a path must start with, and the
    positions of rules with none (unanchored: they match at any depth)."""

    by_prefix: dict[tuple[str, ...], list[int]]
    anywhere: list[int]

    @classmethod
    def of(cls, patterns: Iterable[str]) -> RuleIndex:
        by_prefix: dict[tuple[str, ...], list[int]] = {}
        anywhere: list[int] = []
        for i, pattern in enumerate(patterns):
            prefix = literal_prefix(pattern)
            if prefix is None:
                anywhere.append(i)
            else:
                by_prefix.setdefault(prefix, []).append(i)
        return cls(by_prefix, anywhere)

    def candidates(self, path: str) -> list[int]:
        """Positions of the rules that may match `path`, last first."""
        segments = tuple(path.split("/"))
        found = list(self.anywhere)
        for depth in range(len(segments) + 1):
            found += self.by_prefix.get(segments[:depth], ())
        return sorted(found, reverse=True)
