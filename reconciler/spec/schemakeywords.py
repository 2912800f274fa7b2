"""JSON Schema keywords that jsonschema runs on Python ``re``, rewritten on RE2, and a step
budget for every keyword, so a hostile schema can neither backtrack nor blow up.

jsonschema applies ``pattern``, ``patternProperties`` and (through them)
``additionalProperties`` and ``unevaluatedProperties`` with ``re.search``; these versions
keep its behaviour and messages but match with :mod:`reconciler.spec.saferegex`.
Used only by :mod:`reconciler.spec.safeschema`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jsonschema.exceptions import ValidationError

from reconciler.spec import saferegex

Keyword = Callable[[Any, Any, Any, Any], Iterable[ValidationError] | None]

# Keyword applications left for the validation running in this context (None: unbounded).
STEPS_LEFT: ContextVar[list[int] | None] = ContextVar("alm_schema_steps", default=None)


class BudgetExceeded(Exception):
    """The validation applied more keywords than its budget allows."""


def counted(keyword: Keyword) -> Keyword:
    """The keyword, charged one step each time it applies."""

    def run(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        left = STEPS_LEFT.get()
        if left is not None:
            left[0] -= 1
            if left[0] < 0:
                raise BudgetExceeded
        return keyword(validator, value, instance, schema)

    return run


def _valid(errors: Iterable[ValidationError]) -> bool:
    return next(iter(errors), None) is None


def pattern(validator: Any, patrn: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not saferegex.search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def pattern_properties(
    validator: Any, patterns: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for key, value in instance.items():
            if saferegex.search(patrn, key):
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


def _matches_a_pattern(schema: Any, key: str) -> bool:
    return any(saferegex.search(p, key) for p in schema.get("patternProperties", {}))


def additional_properties(
    validator: Any, extra_schema: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    extras = [k for k in instance if k not in properties and not _matches_a_pattern(schema, k)]
    if validator.is_type(extra_schema, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], extra_schema, path=extra)
    elif not extra_schema and extras:
        names = ", ".join(repr(e) for e in sorted(extras, key=str))
        if "patternProperties" in schema:
            patterns = ", ".join(repr(p) for p in sorted(schema["patternProperties"]))
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{names} {verb} not match any of the regexes: {patterns}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({names} {verb} unexpected)"
            )


def _through_ref(validator: Any, instance: Any, ref: Any) -> list[str]:
    resolved = validator._resolver.lookup(ref)
    inner = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
    return evaluated_keys(inner, instance, resolved.contents)


def evaluated_keys(validator: Any, instance: Any, schema: Any) -> list[str]:
    """The keys of `instance` that `schema` evaluates (jsonschema's rule for 2020-12)."""
    if validator.is_type(schema, "boolean"):
        return []
    keys: list[str] = []
    for ref_keyword in ("$ref", "$dynamicRef"):
        if schema.get(ref_keyword) is not None:
            keys += _through_ref(validator, instance, schema[ref_keyword])
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys += properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (subschema := schema.get(keyword)) is not None:
            keys += [k for k, v in instance.items() if _valid(validator.descend(v, subschema))]
    if "patternProperties" in schema:
        keys += [k for k in instance if _matches_a_pattern(schema, k)]
    for key, subschema in schema.get("dependentSchemas", {}).items():
        if key in instance:
            keys += evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _valid(validator.descend(instance, subschema)):
                keys += evaluated_keys(validator, instance, subschema)
    return keys + _conditional_keys(validator, instance, schema)


def _conditional_keys(validator: Any, instance: Any, schema: Any) -> list[str]:
    if "if" not in schema:
        return []
    if validator.evolve(schema=schema["if"]).is_valid(instance):
        branch = [schema["if"], *([schema["then"]] if "then" in schema else [])]
    else:
        branch = [schema["else"]] if "else" in schema else []
    return [k for sub in branch for k in evaluated_keys(validator, instance, sub)]


def unevaluated_properties(
    validator: Any, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = set(evaluated_keys(validator, instance, schema))
    failing = [
        key
        for key in instance
        if key not in evaluated
        and not _valid(validator.descend(instance[key], unevaluated, path=key, schema_path=key))
    ]
    if not failing:
        return
    names = ", ".join(repr(k) for k in sorted(failing, key=str))
    verb = "was" if len(failing) == 1 else "were"
    if unevaluated is False:
        yield ValidationError(f"Unevaluated properties are not allowed ({names} {verb} unexpected)")
    else:
        yield ValidationError(
            "Unevaluated properties are not valid under the given schema "
            f"({names} {verb} unevaluated and invalid)"
        )


SAFE: dict[str, Keyword] = {
    "pattern": pattern,
    "patternProperties": pattern_properties,
    "additionalProperties": additional_properties,
    "unevaluatedProperties": unevaluated_properties,
}
