"""Matchers for expected tool-call arguments and checks on an agent's final output.

Pure functions; the rules are documented in reconciler.evals.grading.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from reconciler.spec import saferegex, safeschema
from reconciler.spec.evalsuite import OutputCheck

MatchMode = Literal["exact", "subset"]
_FENCED = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(?P<body>.*?)\n?```$", re.DOTALL)


# --- argument matching -----------------------------------------------------------------


def _regex(operand: Any, actual: Any) -> bool:
    if not isinstance(operand, str):
        return False
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        actual = str(actual)
    return isinstance(actual, str) and saferegex.search(operand, actual)


def _one_of(operand: Any, actual: Any) -> bool:
    if not isinstance(operand, list):
        return False
    return any(value_matches(option, actual, "exact") for option in operand)


MATCHERS: dict[str, Callable[[Any, Any], bool]] = {"regex": _regex, "one_of": _one_of}


def _matcher(expected: Any) -> tuple[Callable[[Any, Any], bool], Any] | None:
    """A one-key mapping naming a matcher ({regex: ...}, {one_of: [...]}), else None."""
    if isinstance(expected, dict) and len(expected) == 1:
        (name, operand), *_ = expected.items()
        if name in MATCHERS:
            return MATCHERS[name], operand
    return None


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def value_matches(expected: Any, actual: Any, mode: MatchMode) -> bool:
    """Whether an actual argument value satisfies an expected one (matcher or literal)."""
    matcher = _matcher(expected)
    if matcher is not None:
        run, operand = matcher
        return run(operand, actual)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and args_match(expected, actual, mode)
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(value_matches(e, a, mode) for e, a in zip(expected, actual, strict=True))
        )
    return _same(expected, actual)


def args_match(expected: Mapping[str, Any], actual: Mapping[str, Any], mode: MatchMode) -> bool:
    """subset: every expected key present and matching; exact: and no other key."""
    if mode == "exact" and set(expected) != set(actual):
        return False
    return all(key in actual and value_matches(v, actual[key], mode) for key, v in expected.items())


def describe_args(args: Mapping[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, ensure_ascii=False, default=str)


# --- output checks ---------------------------------------------------------------------


def parse_json_output(text: str) -> Any:
    """The final output as JSON: the whole text, or the body of one fenced code block.

    Raises ValueError when it is neither.
    """
    stripped = text.strip()
    fenced = _FENCED.match(stripped)
    return json.loads(fenced.group("body") if fenced else stripped)


def _contains(check: OutputCheck, output: str) -> Iterator[str]:
    for text in check.contains:
        if text not in output:
            yield f"output does not contain {text!r}"


def _not_contains(check: OutputCheck, output: str) -> Iterator[str]:
    for text in check.not_contains:
        if text in output:
            yield f"output contains {text!r}, which the case forbids"


def _regex_check(check: OutputCheck, output: str) -> Iterator[str]:
    for pattern in check.regex:  # checked when the suite loads (spec.base.Regex)
        if not saferegex.search(pattern, output):
            yield f"output does not match regex {pattern!r}"


def _json_schema(check: OutputCheck, output: str) -> Iterator[str]:
    schema = check.json_schema
    if schema is None:
        return
    try:
        document = parse_json_output(output)
    except ValueError as exc:
        yield f"output is not JSON: {exc}"
        return
    try:  # checked when the suite loads; this never retrieves a $ref either way
        error = safeschema.compile(schema).best_error(document)
    except safeschema.SchemaFailure as exc:
        yield f"invalid json_schema in case: {exc}"
        return
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        yield f"output JSON fails the schema at {where}: {shorten(error.message)}"


def shorten(message: str, limit: int = 300) -> str:
    """A validation message quotes the value it checked; keep results readable."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


OUTPUT_CHECKS: dict[str, Callable[[OutputCheck, str], Iterator[str]]] = {
    "contains": _contains,
    "not_contains": _not_contains,
    "regex": _regex_check,
    "json_schema": _json_schema,
}
