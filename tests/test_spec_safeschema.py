"""spec.safeschema / schemawalk / schemakeywords / saferegex: what alm refuses in a
schema or a pattern, and that validation stays bounded."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.spec import saferegex, safeschema

WORD = "a" * 40 + "!"  # (\w+\s?)+$ needs ~2**40 backtracking steps to reject it


def paths(schema: Any) -> list[tuple[str | int, ...]]:
    return [p.path for p in safeschema.problems(schema)]


@pytest.mark.parametrize(
    "ref", ["http://127.0.0.1:9/s.json", "file:///etc/passwd", "other.json#/x", "urn:x:y"]
)
def test_a_ref_outside_the_document_is_a_problem_at_the_ref(ref: str) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": ref}}}
    (problem,) = safeschema.problems(schema)
    assert problem.path == ("properties", "a", "$ref")
    assert "alm never retrieves a reference" in problem.message
    with pytest.raises(safeschema.SchemaFailure, match="points outside"):
        safeschema.compile(schema)


def test_id_based_and_dynamic_refs_are_refused_too() -> None:
    schema = {"$id": "http://127.0.0.1:9/root.json", "properties": {"a": {"$ref": "b.json"}}}
    assert paths(schema) == [("properties", "a", "$ref")]
    assert paths({"$dynamicRef": "http://127.0.0.1:9/x"}) == [("$dynamicRef",)]


def test_an_unknown_schema_dialect_is_refused_without_fetching() -> None:
    (problem,) = safeschema.problems({"$schema": "http://127.0.0.1:9/meta", "type": "object"})
    assert problem.path == ("$schema",) and "not a dialect alm knows" in problem.message
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "integer"}
    assert safeschema.problems(draft7) == []


def test_loops_in_place_are_problems_and_loops_through_properties_are_not() -> None:
    assert paths({"$ref": "#"}) == [("$ref",)]
    mutual = {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}}}
    assert len(paths({**mutual, "$ref": "#/$defs/a"})) == 1
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}}}
    assert safeschema.problems(tree) == []
    assert safeschema.compile(tree).is_valid({"child": {"child": {}}})


def test_dangling_and_anchor_refs() -> None:
    assert paths({"$ref": "#/$defs/missing"}) == [("$ref",)]
    anchored = {"$defs": {"x": {"$anchor": "name", "type": "string"}}, "$ref": "#name"}
    assert safeschema.problems(anchored) == []
    assert not safeschema.compile(anchored).is_valid(1)


def test_a_ref_inside_data_is_not_a_reference() -> None:
    assert safeschema.problems({"const": {"$ref": "http://127.0.0.1:9/"}}) == []


def test_patterns_run_on_re2_in_every_keyword_that_matches() -> None:
    schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "pattern": r"^(\w+\s?)+$"}},
        "patternProperties": {r"^(\w+\s?)+$": {"type": "integer"}},
        "additionalProperties": False,
        "unevaluatedProperties": False,
    }
    messages = list(safeschema.compile(schema).messages({"s": WORD, WORD: 1, "ab": "x"}))
    pattern = repr(r"^(\w+\s?)+$")
    assert messages == [
        "ab: 'x' is not of type 'integer'",  # "ab" and "s" match the pattern property
        f"s: {WORD!r} is not of type 'integer'",
        f"s: {WORD!r} does not match {pattern}",
        f"(root): {WORD!r} does not match any of the regexes: {pattern}",
        f"(root): Unevaluated properties are not allowed ({WORD!r} was unexpected)",
    ]


def test_a_pattern_re2_cannot_run_is_a_problem_at_its_place() -> None:
    schema = {"patternProperties": {r"(a)\1": {}}, "properties": {"x": {"pattern": "(?=y)"}}}
    assert [
        (p.path, p.message.split(": ")[-1].split(";")[0]) for p in safeschema.problems(schema)
    ] == [
        (("patternProperties", r"(a)\1"), "backreference"),
        (("properties", "x", "pattern"), "lookahead"),
    ]


def test_an_exponential_schema_stops_at_the_step_budget() -> None:
    defs: dict[str, Any] = {
        f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
        for i in range(40)
    }
    defs["d40"] = {"type": "string"}
    validator = safeschema.compile({"$defs": defs, "$ref": "#/$defs/d0"})
    with pytest.raises(safeschema.SchemaFailure, match="validation stopped after"):
        validator.is_valid("x")


def test_a_long_reference_chain_is_walked_without_recursion() -> None:
    defs = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(5000)}
    defs["d5000"] = {"type": "string"}
    assert safeschema.problems({"$defs": defs, "$ref": "#/$defs/d0"}) == []


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        (r"(a)\1", "backreference"),
        (r"(?P<n>a)(?P=n)", "named backreference"),
        ("(?=a)", "lookahead"),
        ("(?<!a)b", "negative lookbehind"),
        ("a++", "possessive quantifier"),
        ("a{1001}", "a repetition count above 1000"),
    ],
)
def test_saferegex_names_the_feature_it_cannot_run(pattern: str, feature: str) -> None:
    with pytest.raises(saferegex.UnsafePattern, match=f"does not support: {feature};"):
        saferegex.compile(pattern)


def test_saferegex_searches_in_linear_time_and_refuses_non_strings() -> None:
    assert not saferegex.search(r"(\w+\s?)+$", WORD * 1000)
    assert saferegex.search(r"(?i)renew", "Your RENEWAL")
    assert saferegex.problem(5) == "expected a regular expression as a string; got int"


def test_problems_are_remembered_per_exact_schema_and_handed_out_as_copies() -> None:
    """A catalog schema is checked once for validate and its compile; a schema whose JSON
    text is the same but whose keys are not strings is not taken for it."""
    text_key = {"properties": {"1": {"pattern": "(?=x)"}}}
    int_key = {"properties": {1: {"pattern": "(?=x)"}}}
    first = safeschema.problems(text_key)
    first.clear()
    assert [p.path for p in safeschema.problems(text_key)] == [("properties", "1", "pattern")]
    assert [p.path for p in safeschema.problems(int_key)] == [("properties", 1, "pattern")]
    for _ in range(2):
        with pytest.raises(safeschema.SchemaFailure, match="lookahead"):
            safeschema.compile(text_key)
