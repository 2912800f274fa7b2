"""Regular expressions from the repository, run on RE2: matching takes time linear in
the input, so a catastrophic pattern such as ``(a+)+$`` cannot hang validate or eval.

Every pattern a repository supplies (eval ``regex`` checks and ``{regex: ...}`` argument
matchers, ``forbid_output_patterns``, grant constraints, JSON Schema ``pattern`` and
``patternProperties``) goes through :func:`compile`. RE2 has no backtracking, so it refuses
features that need it (backreferences, lookaround, possessive quantifiers...); such a
pattern is rejected when its file loads, naming the feature. alm's own constant patterns
stay on Python's ``re``.

Differences from Python ``re`` worth knowing: ``\\d``, ``\\w`` and ``\\b`` are ASCII-only,
``$`` matches only at the very end (use ``(?m)`` for line ends), ``\\Z`` is spelled ``\\z``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import re2  # type: ignore[import-untyped]
from pydantic import AfterValidator, Field

MAX_PATTERN_LENGTH = 4096
MAX_PROGRAM_BYTES = 8 << 20  # RE2's memory bound for one compiled pattern
SYNTAX = "expected RE2 syntax (https://github.com/google/re2/wiki/Syntax)"

# What RE2's error detail means, first match wins: (start of the detail, the feature).
_FEATURES: tuple[tuple[str, str], ...] = (
    *((f"invalid escape sequence: \\{d}", "backreference") for d in "123456789"),
    ("invalid escape sequence: \\k", "named backreference"),
    ("invalid perl operator: (?P", "named backreference"),
    ("invalid perl operator: (?=", "lookahead"),
    ("invalid perl operator: (?!", "negative lookahead"),
    ("invalid perl operator: (?<=", "lookbehind"),
    ("invalid perl operator: (?<!", "negative lookbehind"),
    ("invalid perl operator: (?>", "atomic group"),
    ("invalid perl operator: (?(", "conditional group"),
    ("invalid perl operator: (?#", "comment group"),
    ("bad repetition operator: *+", "possessive quantifier"),
    ("bad repetition operator: ++", "possessive quantifier"),
    ("bad repetition operator: ?+", "possessive quantifier"),
    ("invalid repetition size", "a repetition count above 1000"),
    ("invalid escape sequence: \\Z", "\\Z (write \\z)"),
    ("pattern too large", "a pattern larger than its memory bound"),
)


class UnsafePattern(ValueError):
    """A pattern the linear-time engine cannot run; the message says why."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refusal to stderr
    options.max_mem = MAX_PROGRAM_BYTES
    return options


_OPTIONS = _options()


@dataclass(frozen=True)
class SafePattern:
    """A compiled pattern; search() is linear in the length of the text."""

    pattern: str
    _compiled: Any

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) in characters of every non-empty match, left to right."""
        return [m.span() for m in self._compiled.finditer(text) if m.end() > m.start()]


def explain(detail: str) -> str:
    """RE2's error detail as a message for the author of the pattern."""
    for start, feature in _FEATURES:
        if detail.startswith(start):
            return (
                f"this pattern uses a feature the linear-time engine (RE2) does not "
                f"support: {feature}; {SYNTAX}"
            )
    return f"not a valid regular expression ({detail}); {SYNTAX}"


def compile(pattern: str) -> SafePattern:
    """The pattern compiled by RE2; raises UnsafePattern when RE2 cannot run it."""
    if not isinstance(pattern, str):  # a matcher's operand is whatever the YAML held
        raise UnsafePattern(
            f"expected a regular expression as a string; got {type(pattern).__name__}"
        )
    return _compile(pattern)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> SafePattern:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsafePattern(
            f"the pattern is {len(pattern)} characters long; expected at most {MAX_PATTERN_LENGTH}"
        )
    try:
        return SafePattern(pattern, re2.compile(pattern, options=_OPTIONS))
    except re2.error as err:
        detail = err.args[0] if err.args else "?"
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise UnsafePattern(explain(text)) from None


def search(pattern: str, text: str) -> bool:
    """Whether the pattern occurs in the text (Python's re.search, on RE2)."""
    return compile(pattern).search(text)


def problem(pattern: Any) -> str | None:
    """Why the pattern cannot run, or None when it can."""
    try:
        compile(pattern)
    except UnsafePattern as err:
        return str(err)
    return None


def _checked(pattern: str) -> str:
    compile(pattern)  # UnsafePattern is a ValueError: pydantic reports it at the field
    return pattern


Regex = Annotated[str, Field(min_length=1), AfterValidator(_checked)]
